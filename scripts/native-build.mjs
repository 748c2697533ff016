// Compiling the native addon (binding.gyp) with node-gyp, shared by scripts/install.mjs (a compile
// from source at install) and scripts/prebuild.mjs (the prebuilt addons shipped in the package).
// Plain Node.js, no dependencies: it runs at install time, before anything else of the package.
import { spawn } from 'node:child_process';
import { accessSync, closeSync, constants, existsSync, openSync, readFileSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** A file of that name on PATH that can be executed, or null. */
export function onPath(name, path = process.env.PATH ?? '') {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const file = join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not in this directory
    }
  }
  return null;
}

/** node-gyp as npm runs it: npm sets npm_config_node_gyp for scripts; otherwise npm's bundled copy next to node. */
export function findNodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    join(dirname(process.execPath), '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'),
  ];
  return candidates.find((file) => !!file && existsSync(file)) ?? null;
}

/** Node's headers where they already are (npm's nodedir, node's prefix, node-gyp's cache), or null: node-gyp then downloads them. */
export function findNodeDir() {
  const gypCache = process.env.npm_config_devdir ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'node-gyp');
  const candidates = [process.env.npm_config_nodedir, resolve(dirname(process.execPath), '..'), join(gypCache, process.versions.node)];
  return candidates.find((dir) => !!dir && existsSync(join(dir, 'include/node/node_api.h'))) ?? null;
}

/** kAbiVersion and NAPI_VERSION of the sources in native/ (what an addon built from them reports). */
export function readSourceVersions(root = PACKAGE_ROOT) {
  const abi = /constexpr\s+int32_t\s+kAbiVersion\s*=\s*(\d+)\s*;/.exec(readFileSync(join(root, 'native/peregrine-addon.cc'), 'utf8'));
  const napi = /#define\s+NAPI_VERSION\s+(\d+)/.exec(readFileSync(join(root, 'native/napi-args.h'), 'utf8'));
  if (!abi || !napi) throw new Error('kAbiVersion (native/peregrine-addon.cc) or NAPI_VERSION (native/napi-args.h) not found');
  return { abiVersion: Number(abi[1]), napiVersion: Number(napi[1]) };
}

let tty;
/**
 * One progress line on stderr, and on the terminal as well when stderr is not one: npm hides the
 * output of a dependency's install script unless it fails, so a long compile would look hung.
 */
export function say(line) {
  process.stderr.write(`${line}\n`);
  // (npm install --foreground-scripts sets npm_config_foreground_scripts: stderr is then shown as it is)
  if (process.stderr.isTTY || process.platform === 'win32' || process.env.npm_config_foreground_scripts === 'true') return;
  if (tty === undefined) {
    try {
      const fd = openSync('/dev/tty', 'w');
      tty = fd;
      process.once('exit', () => closeSync(fd));
    } catch {
      tty = null; // no terminal (CI, a pipe): stderr only
    }
  }
  if (tty !== null) {
    try {
      writeSync(tty, `${line}\n`);
    } catch {
      tty = null;
    }
  }
}

/**
 * Runs node-gyp (or make, for a cross build) in `cwd`, saying a line per compiled unit and the
 * time taken; resolves with { ok, output } (never rejects: a compile that cannot start is !ok).
 */
export function runCompile(command, args, { cwd, env = process.env, label = 'peregrine' }) {
  const start = Date.now();
  const seconds = () => `${Math.round((Date.now() - start) / 1000)} s`;
  let output = '';
  return new Promise((resolvePromise) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let pending = '';
    const onData = (chunk) => {
      const text = chunk.toString('utf8');
      output += text;
      pending += text;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        // gyp's make rules print `  CXX(target) Release/obj.target/<target>/native/<file>.o` as each unit starts
        const unit = /^\s*CXX\(target\)\s+\S*?\/(native\/[^/\s]+)\.o\s*$/.exec(line);
        if (unit) say(`${label}:   compiling ${unit[1]}.cc (${seconds()})`);
        else if (/^\s*SOLINK_MODULE\(target\)/.test(line)) say(`${label}:   linking peregrine.node (${seconds()})`);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', (error) => resolvePromise({ ok: false, output: `${output}\n${command}: ${error.message}`, seconds: seconds() }));
    child.on('close', (code, signal) => resolvePromise({ ok: code === 0, output: code === 0 ? output : `${output}\n${command} exited with ${signal ?? code}`, seconds: seconds() }));
  });
}

/** The last lines of a build log, for a failure message. */
export function tail(text, numLines = 30) {
  return text.trimEnd().split('\n').slice(-numLines).join('\n');
}
