// The prebuilt addons shipped in the npm package: prebuilds/<platform>-<arch>/peregrine.node and its
// manifest.json (ABI and Node-API versions, compiler and flags, git commit, source hash), which the
// run-time loader (src/kernels/native/native-addon.ts) and scripts/install.mjs check. Not in git.
//
//   npm run prebuilds  reuses what is current: build/Release/peregrine.node when it is newer than every
//                      file of native/ and binding.gyp and reports the same ABI; a prebuilt whose
//                      manifest has the sources' hash. Anything else is compiled in a temp folder.
//   prepack            --rebuild: every target compiled afresh in a temp folder (build/ is not touched).
//
// Options: --rebuild; --targets linux-x64,linux-arm64 (the default). linux-arm64 is cross-compiled on
// an x86-64 Linux host with Debian's g++-aarch64-linux-gnu; without that compiler it is left out (and
// a stale one removed), with a warning.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { PACKAGE_ROOT, findNodeDir, findNodeGyp, onPath, readSourceVersions, runCompile, say, tail } from './native-build.mjs';

const PREBUILDS_DIR = join(PACKAGE_ROOT, 'prebuilds');
const LOCAL_BUILD_DIR = join(PACKAGE_ROOT, 'build');
const CROSS_PREFIX = { arm64: 'aarch64-linux-gnu-' };
const GYP_ARCH = { x64: 'x64', arm64: 'arm64' };
/** ELF e_machine of each architecture: a cross build is checked to be what it claims */
const ELF_MACHINE = { x64: 62, arm64: 183 };
const SUPPORTED_TARGETS = ['linux-x64', 'linux-arm64'];

function parseArgs(argv) {
  const options = { isRebuild: false, targets: SUPPORTED_TARGETS };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--rebuild') options.isRebuild = true;
    else if (argv[i] === '--targets' && i + 1 < argv.length) options.targets = argv[++i].split(',').filter(Boolean);
    else throw new Error(`unknown argument '${argv[i]}' (usage: node scripts/prebuild.mjs [--rebuild] [--targets ${SUPPORTED_TARGETS.join(',')}])`);
  }
  const unknown = options.targets.filter((target) => !SUPPORTED_TARGETS.includes(target));
  if (unknown.length > 0) throw new Error(`unsupported target ${unknown.join(', ')}; supported: ${SUPPORTED_TARGETS.join(', ')}`);
  return options;
}

/** binding.gyp and every file under native/, relative paths sorted */
function sourceFiles() {
  const files = ['binding.gyp'];
  const walk = (dir) => {
    for (const entry of readdirSync(join(PACKAGE_ROOT, dir), { withFileTypes: true })) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile()) files.push(path);
    }
  };
  walk('native');
  return files.sort();
}

function hashSources(files) {
  const hash = createHash('sha256');
  for (const file of files) hash.update(`${file}\0`).update(readFileSync(join(PACKAGE_ROOT, file))).update('\0');
  return hash.digest('hex');
}

function run(command, args, cwd = PACKAGE_ROOT) {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', maxBuffer: 64 << 20 });
  return result.status === 0 ? result.stdout : null;
}

function gitCommit() {
  const head = run('git', ['rev-parse', 'HEAD'])?.trim();
  if (!head) return null;
  const changes = run('git', ['status', '--porcelain', '--', 'binding.gyp', 'native']);
  return changes === null || changes.trim() !== '' ? `${head}-dirty` : head;
}

/** the compile and link flags gyp generated, per target, from its build/<target>.target.mk files */
function readGypFlags(buildDir) {
  const flags = {};
  for (const name of readdirSync(buildDir).filter((file) => file.endsWith('.target.mk')).sort()) {
    const text = readFileSync(join(buildDir, name), 'utf8');
    // `VAR := \` then one `\t-flag \` per line, the last without the backslash
    const list = (variable) => {
      const lines = text.split('\n');
      const start = lines.indexOf(`${variable} := \\`);
      const values = [];
      for (let i = start + 1; start >= 0 && i < lines.length && lines[i].startsWith('\t'); i++) {
        values.push(lines[i].trim().replace(/\s*\\$/, ''));
        if (!lines[i].endsWith('\\')) break;
      }
      return values;
    };
    flags[name.replace(/\.target\.mk$/, '')] = {
      cflags: list('CFLAGS_Release'),
      cflagsCc: list('CFLAGS_CC_Release'),
      ldflags: list('LDFLAGS_Release'),
    };
  }
  return flags;
}

/** the newest glibc symbol version the addon needs, from objdump -T; null without objdump */
function requiredGlibc(addon, toolPrefix) {
  const objdump = onPath(`${toolPrefix}objdump`);
  const symbols = objdump ? run(objdump, ['-T', addon]) : null;
  if (symbols === null) return null;
  const versions = [...symbols.matchAll(/GLIBC_(\d+(?:\.\d+)*)/g)].map((match) => match[1].split('.').map(Number));
  versions.sort((a, b) => a[0] - b[0] || (a[1] ?? 0) - (b[1] ?? 0) || (a[2] ?? 0) - (b[2] ?? 0));
  return versions.length > 0 ? versions[versions.length - 1].join('.') : null;
}

function checkElf(addon, arch) {
  const elf = readFileSync(addon);
  if (elf.subarray(0, 4).toString('latin1') !== '\x7fELF' || elf.readUInt16LE(18) !== ELF_MACHINE[arch]) {
    throw new Error(`${addon} is not an ELF shared object for ${arch}`);
  }
}

function isLocalBuildCurrent(files, abiVersion) {
  const addon = join(LOCAL_BUILD_DIR, 'Release/peregrine.node');
  if (!existsSync(addon)) return `${relative(PACKAGE_ROOT, addon)} does not exist`;
  const builtMs = statSync(addon).mtimeMs;
  const newer = files.filter((file) => statSync(join(PACKAGE_ROOT, file)).mtimeMs > builtMs);
  if (newer.length > 0) return `${newer[0]} is newer than ${relative(PACKAGE_ROOT, addon)}`;
  try {
    const loaded = createRequire(import.meta.url)(addon);
    if (loaded.abiVersion !== abiVersion) return `its ABI is ${loaded.abiVersion}, the sources' is ${abiVersion}`;
  } catch (error) {
    return `it does not load (${error.message})`;
  }
  return null;
}

/** Compiles binding.gyp + native/ in a temp folder for `arch` (cross where it is not the host's); returns that folder's build/. */
async function compileInTemp(arch, workDir) {
  cpSync(join(PACKAGE_ROOT, 'binding.gyp'), join(workDir, 'binding.gyp'));
  cpSync(join(PACKAGE_ROOT, 'native'), join(workDir, 'native'), { recursive: true });
  const nodeGyp = findNodeGyp();
  if (!nodeGyp) throw new Error('node-gyp not found (npm sets npm_config_node_gyp for scripts; else npm is expected next to node)');
  const nodeDir = findNodeDir();
  const nodeDirArgs = nodeDir ? [`--nodedir=${nodeDir}`] : [];
  const label = `prebuild linux-${arch}`;
  if (arch === process.arch) {
    const result = await runCompile(process.execPath, [nodeGyp, 'rebuild', '--jobs', 'max', ...nodeDirArgs], { cwd: workDir, label });
    if (!result.ok) throw new Error(`compile failed:\n${tail(result.output)}`);
    return { buildDir: join(workDir, 'build'), cxx: 'g++', toolPrefix: '' };
  }
  const prefix = CROSS_PREFIX[arch];
  const configured = await runCompile(process.execPath, [nodeGyp, 'configure', `--arch=${GYP_ARCH[arch]}`, ...nodeDirArgs], { cwd: workDir, label });
  if (!configured.ok) throw new Error(`node-gyp configure failed:\n${tail(configured.output)}`);
  const makeArgs = ['-C', 'build', `-j${availableParallelism()}`, 'BUILDTYPE=Release', `CC=${prefix}gcc`, `CXX=${prefix}g++`, `AR=${prefix}ar`];
  const result = await runCompile('make', makeArgs, { cwd: workDir, label });
  if (!result.ok) throw new Error(`cross compile failed:\n${tail(result.output)}`);
  return { buildDir: join(workDir, 'build'), cxx: `${prefix}g++`, toolPrefix: prefix };
}

function writePrebuild(target, { buildDir, cxx, toolPrefix }, builtFrom, context) {
  const [platform, arch] = target.split('-');
  const source = join(buildDir, 'Release/peregrine.node');
  checkElf(source, arch);
  const outDir = join(PREBUILDS_DIR, target);
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const addon = join(outDir, 'peregrine.node');
  copyFileSync(source, addon);
  const flags = readGypFlags(buildDir);
  const manifest = {
    platform,
    arch,
    abiVersion: context.abiVersion,
    napiVersion: context.napiVersion,
    gitCommit: context.gitCommit,
    sourceHash: context.sourceHash,
    builtFrom,
    builtAt: new Date().toISOString(),
    nodeHeaders: process.version,
    compiler: run(cxx, ['--version'])?.split('\n')[0] ?? cxx,
    isas: Object.keys(flags).filter((name) => name.startsWith('peregrine_kernels_')).map((name) => name.slice('peregrine_kernels_'.length).replace('_', '-')),
    libc: 'glibc',
    minGlibc: requiredGlibc(addon, toolPrefix),
    flags,
    sha256: createHash('sha256').update(readFileSync(addon)).digest('hex'),
    bytes: statSync(addon).size,
  };
  writeFileSync(join(outDir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  say(`prebuild ${target}: ${relative(PACKAGE_ROOT, addon)} (${(manifest.bytes / 2 ** 20).toFixed(1)} MiB, ABI ${manifest.abiVersion}, from ${builtFrom}, glibc >= ${manifest.minGlibc ?? '?'})`);
}

async function prebuild(target, options, context) {
  const arch = target.split('-')[1];
  const isHost = process.platform === 'linux' && arch === process.arch;
  if (!isHost && !(process.platform === 'linux' && process.arch === 'x64' && arch === 'arm64')) {
    throw new Error(`${target} cannot be built on ${process.platform}-${process.arch}`);
  }
  if (!options.isRebuild) {
    if (isHost) {
      const stale = isLocalBuildCurrent(context.files, context.abiVersion);
      if (stale === null) {
        writePrebuild(target, { buildDir: LOCAL_BUILD_DIR, cxx: process.env.CXX ?? 'g++', toolPrefix: '' }, 'build/Release (the local compile, reused)', context);
        return;
      }
      say(`prebuild ${target}: not reusing build/Release: ${stale}`);
    } else {
      const manifestPath = join(PREBUILDS_DIR, target, 'manifest.json');
      const existing = existsSync(manifestPath) ? JSON.parse(readFileSync(manifestPath, 'utf8')) : null;
      if (existing?.sourceHash === context.sourceHash && existsSync(join(PREBUILDS_DIR, target, 'peregrine.node'))) {
        say(`prebuild ${target}: up to date (built from the same sources at ${existing.builtAt})`);
        return;
      }
    }
  }
  if (!isHost) {
    const prefix = CROSS_PREFIX[arch];
    const missing = [`${prefix}g++`, `${prefix}gcc`, `${prefix}ar`, 'make'].filter((tool) => !onPath(tool));
    if (missing.length > 0) {
      rmSync(join(PREBUILDS_DIR, target), { recursive: true, force: true });
      say(`prebuild ${target}: WARNING: left out of the package: ${missing.join(', ')} not on PATH (Debian/Ubuntu: apt-get install g++-aarch64-linux-gnu)`);
      return;
    }
  }
  say(`prebuild ${target}: compiling in a temp folder (a few minutes)...`);
  const workDir = mkdtempSync(join(tmpdir(), `peregrine-prebuild-${target}-`));
  try {
    writePrebuild(target, await compileInTemp(arch, workDir), isHost ? 'a clean build' : `a clean cross build (${CROSS_PREFIX[arch]}g++)`, context);
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const files = sourceFiles();
  const context = { ...readSourceVersions(), files, sourceHash: hashSources(files), gitCommit: gitCommit() };
  for (const target of options.targets) await prebuild(target, options, context);
  // a prebuilt for a target no longer asked for stays only if it was built from these sources
  for (const target of existsSync(PREBUILDS_DIR) ? readdirSync(PREBUILDS_DIR) : []) {
    if (options.targets.includes(target)) continue;
    const manifestPath = join(PREBUILDS_DIR, target, 'manifest.json');
    const existing = existsSync(manifestPath) ? JSON.parse(readFileSync(manifestPath, 'utf8')) : null;
    if (existing?.sourceHash !== context.sourceHash) {
      rmSync(join(PREBUILDS_DIR, target), { recursive: true, force: true });
      say(`prebuild ${target}: removed (built from other sources)`);
    }
  }
}

main().catch((error) => {
  say(`prebuild: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
