// The package's install script (`npm install`, `npm rebuild peregrine`): uses the prebuilt addon in
// prebuilds/<platform>-<arch>/ when it loads here, else compiles native/ with node-gyp, saying a line
// per compiled unit. Never fails the install: without an addon Peregrine runs on its TypeScript
// backend, and the warning says what to install.
//
//   PEREGRINE_BUILD_FROM_SOURCE=1 (or npm's --build-from-source, or --build-from-source here) compiles
//   even where a prebuilt loads. A folder with build/Release/peregrine.node (a checkout, or a package
//   compiled before) is compiled again, so a change to native/ is what runs.
//   --strict (npm run build:native): a failed compile exits 1 instead of 0.
import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PACKAGE_ROOT, findNodeDir, findNodeGyp, runCompile, say, tail } from './native-build.mjs';

const LOCAL_BUILD = join(PACKAGE_ROOT, 'build/Release/peregrine.node');
/** the run-time loader, compiled from src/kernels/native/native-addon.ts (absent in a checkout before `npm run build`) */
const LOADER = join(PACKAGE_ROOT, 'dist/kernels/native/native-addon.js');

const args = process.argv.slice(2);
const isStrict = args.includes('--strict');

function isForced() {
  const env = process.env.PEREGRINE_BUILD_FROM_SOURCE;
  return args.includes('--build-from-source') || (env !== undefined && env !== '' && env !== '0' && env !== 'false') || process.env.npm_config_build_from_source === 'true';
}

async function main() {
  const loader = existsSync(LOADER) ? await import(pathToFileURL(LOADER).href) : null;
  let why;
  if (isForced()) why = 'PEREGRINE_BUILD_FROM_SOURCE is set';
  else if (existsSync(LOCAL_BUILD)) why = `${relative(PACKAGE_ROOT, LOCAL_BUILD)} exists, so it is rebuilt from native/`;
  else if (!loader) why = 'dist/ is not built yet (a checkout), so no prebuilt can be checked';
  else {
    const loaded = loader.loadNativeAddon();
    if (loaded.ok) {
      const commit = loaded.manifest?.gitCommit ? `, commit ${loaded.manifest.gitCommit.slice(0, 12)}` : '';
      say(`peregrine: using the prebuilt native kernels ${relative(PACKAGE_ROOT, loaded.path)} (ABI ${loaded.addon.abiVersion}${commit}); PEREGRINE_BUILD_FROM_SOURCE=1 compiles them instead`);
      return 0;
    }
    why = loaded.reason.split('\n')[0];
  }
  return compile(why, loader);
}

async function compile(why, loader) {
  say(`peregrine: compiling the native kernels from source (${why}); this takes 1-2 minutes...`);
  const nodeGyp = findNodeGyp();
  if (!nodeGyp) return failed('node-gyp not found (npm runs install scripts with npm_config_node_gyp set)', '', loader);
  const nodeDir = findNodeDir();
  const gypArgs = [nodeGyp, 'rebuild', '--jobs', 'max', ...(nodeDir ? [`--nodedir=${nodeDir}`] : [])];
  const result = await runCompile(process.execPath, gypArgs, { cwd: PACKAGE_ROOT });
  if (!result.ok) return failed(`the compile failed after ${result.seconds}`, result.output, loader);
  if (loader) {
    const loaded = loader.loadNativeAddon(LOCAL_BUILD);
    if (!loaded.ok) return failed(`the compiled addon does not load (${loaded.reason})`, '', loader);
  }
  say(`peregrine: native kernels compiled in ${result.seconds} (${relative(PACKAGE_ROOT, LOCAL_BUILD)})`);
  return 0;
}

function failed(what, output, loader) {
  if (output) process.stderr.write(`${tail(output)}\n`);
  const hint = loader?.NATIVE_BUILD_HINT ?? 'See README.md, "Install and requirements", for what the compile needs.';
  say(`peregrine: warning: no native kernels: ${what}. Peregrine will run on its TypeScript backend, several times slower.\n${hint}`);
  return isStrict ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    say(`peregrine: warning: the install script failed (${error instanceof Error ? error.message : String(error)}); Peregrine will run on its TypeScript backend`);
    process.exit(isStrict ? 1 : 0);
  },
);
