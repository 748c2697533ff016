import {spawnSync} from "node:child_process";
import {existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync} from "node:fs";
import {tmpdir} from "node:os";
import {dirname, join, resolve} from "node:path";
import {fileURLToPath} from "node:url";
import {afterAll, beforeAll, describe, expect, it} from "vitest";

// The package as a user gets it: `npm pack` (with the prebuilt addon from scripts/prebuild.mjs, here
// reusing the checkout's build/Release), then `npm ci --offline` of an app that depends on the tarball, in a fresh folder
// with a PATH that has node and sh but no compiler (no g++, c++, cc, gcc, make). No network: the
// runtime dependencies come from npm's cache, where `npm ci` of this checkout left them, pinned by the
// app's lockfile (made from this checkout's); the test skips when they are not cached, or when
// build/Release is older than native/, which would mean a full compile of a few minutes.

const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const target = `${process.platform}-${process.arch}`;
const npmCli = join(dirname(process.execPath), "../lib/node_modules/npm/bin/npm-cli.js");
const localAddon = join(projectRoot, "build/Release/peregrine.node");

/** why the checkout's build/Release cannot be reused for the prebuilt (prebuild.mjs would compile afresh), or null */
function staleLocalBuild(): string | null {
    if (!existsSync(localAddon)) return "build/Release/peregrine.node is missing (npm run build:native)";
    const builtMs = statSync(localAddon).mtimeMs;
    const sources = ["binding.gyp", ...readdirSync(join(projectRoot, "native"), {recursive: true, encoding: "utf8"}).map((file) => `native/${file}`)];
    const newer = sources.find((file) => statSync(join(projectRoot, file)).mtimeMs > builtMs);
    return newer ? `${newer} is newer than build/Release/peregrine.node (npm run build:native)` : null;
}

const skipReason =
    target !== "linux-x64" && target !== "linux-arm64" ? `prebuilt addons are made for linux-x64 and linux-arm64 (this is ${target})`
    : !existsSync(npmCli) ? `npm not found at ${npmCli}`
    : !existsSync(join(projectRoot, "dist/cli/main.js")) ? "dist/ is not built (npm run build)"
    : staleLocalBuild();
if (skipReason) console.warn(`[packed install] skipping: ${skipReason}`);

/**
 * The app's lockfile: peregrine from the tarball, and its runtime dependencies pinned as in this
 * checkout's package-lock.json (name, version, integrity), so that npm takes them from its cache by
 * integrity and needs no registry metadata.
 */
function appLockfile(spec: string): unknown {
    const lock = JSON.parse(readFileSync(join(projectRoot, "package-lock.json"), "utf8")) as {packages: Record<string, Record<string, unknown> & {dev?: boolean; devOptional?: boolean}>};
    const root = lock.packages[""]!;
    const runtime = Object.entries(lock.packages).filter(([path, entry]) => path.startsWith("node_modules/") && !entry.dev && !entry.devOptional && !entry.link);
    return {
        name: "app",
        lockfileVersion: 3,
        requires: true,
        packages: {
            "": {name: "app", dependencies: {peregrine: spec}},
            "node_modules/peregrine": {
                version: root.version,
                resolved: spec,
                hasInstallScript: true,
                license: root.license,
                dependencies: root.dependencies,
                bin: root.bin,
                engines: root.engines,
            },
            ...Object.fromEntries(runtime),
        },
    };
}

interface Run {
    readonly code: number | null;
    readonly stdout: string;
    readonly stderr: string;
}

function run(command: string, args: string[], options: {cwd: string; env?: NodeJS.ProcessEnv}): Run {
    const result = spawnSync(command, args, {cwd: options.cwd, env: options.env ?? process.env, encoding: "utf8", maxBuffer: 64 << 20, timeout: 60_000});
    return {code: result.status, stdout: result.stdout ?? "", stderr: `${result.stderr ?? ""}${result.error ? `\n${result.error.message}` : ""}`};
}

describe.skipIf(skipReason !== null)(`npm pack, then npm install on a machine without a compiler (${target})`, () => {
    let workDir: string;
    let appDir: string;
    let packageDir: string;
    let tarballFiles: string[];
    let install: Run;
    /** the environment of a user without a compiler: PATH holds node and sh only, no npm_config_* of this test run */
    let userEnv: NodeJS.ProcessEnv;

    beforeAll(() => {
        workDir = mkdtempSync(join(tmpdir(), "peregrine-packed-"));
        const prebuild = run(process.execPath, ["scripts/prebuild.mjs", "--targets", target], {cwd: projectRoot});
        if (prebuild.code !== 0) throw new Error(`prebuild failed:\n${prebuild.stdout}${prebuild.stderr}`);

        // prepack would compile every target afresh (minutes): the prebuilt above stands in for it
        const pack = run(process.execPath, [npmCli, "pack", "--ignore-scripts", "--json", "--pack-destination", workDir], {cwd: projectRoot});
        if (pack.code !== 0) throw new Error(`npm pack failed:\n${pack.stderr}`);
        const [packed] = JSON.parse(pack.stdout) as {filename: string; files: {path: string}[]}[];
        tarballFiles = packed.files.map((file) => file.path);

        const binDir = join(workDir, "bin");
        mkdirSync(binDir);
        symlinkSync(process.execPath, join(binDir, "node"));
        symlinkSync("/bin/sh", join(binDir, "sh"));
        userEnv = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_|^NODE_OPTIONS$|^PEREGRINE_/i.test(key)));
        userEnv.PATH = binDir;

        appDir = join(workDir, "app");
        mkdirSync(appDir);
        const spec = `file:../${packed.filename}`;
        writeFileSync(join(appDir, "package.json"), JSON.stringify({name: "app", private: true, dependencies: {peregrine: spec}}));
        writeFileSync(join(appDir, "package-lock.json"), JSON.stringify(appLockfile(spec)));
        install = run(process.execPath, [npmCli, "ci", "--offline", "--no-audit", "--no-fund", "--foreground-scripts"], {cwd: appDir, env: userEnv});
        packageDir = join(appDir, "node_modules/peregrine");
    }, 120_000);

    afterAll(() => {
        if (workDir) rmSync(workDir, {recursive: true, force: true});
    });

    it("packs the prebuilt addon and its manifest, and no local build", () => {
        expect(tarballFiles).toContain(`prebuilds/${target}/peregrine.node`);
        expect(tarballFiles).toContain(`prebuilds/${target}/manifest.json`);
        expect(tarballFiles).toContain("scripts/install.mjs");
        expect(tarballFiles.filter((file) => file.startsWith("build/"))).toEqual([]);
    });

    it("installs offline with no compiler on PATH, compiling nothing", (context) => {
        if (install.code !== 0 && /ENOTCACHED|EINTEGRITY/.test(install.stderr)) {
            console.warn(`[packed install] skipping: peregrine's runtime dependencies are not in npm's cache (run npm ci once):\n${install.stderr.slice(-2000)}`);
            context.skip();
        }
        for (const tool of ["g++", "c++", "cc", "gcc", "make"]) expect(spawnSync(tool, ["--version"], {env: userEnv}).error).toBeDefined();
        expect(install.code, install.stderr).toBe(0);
        const said = (install.stdout + install.stderr).split("\n").filter((line) => line.trim().startsWith("peregrine:"));
        expect(said).toHaveLength(1);
        expect(said[0]).toMatch(new RegExp(`peregrine: using the prebuilt native kernels prebuilds/${target}/peregrine.node \\(ABI \\d+`));
        expect(existsSync(join(packageDir, "build"))).toBe(false);
    });

    it("loads the native addon from prebuilds/ and generates with it, printing no warning", (context) => {
        if (install.code !== 0) context.skip();
        const info = run(process.execPath, [join(packageDir, "dist/cli/main.js"), "info"], {cwd: appDir, env: userEnv});
        expect(info.code, info.stderr).toBe(0);
        expect(info.stdout).toContain(`native addon:  ${join(packageDir, "prebuilds", target, "peregrine.node")} (prebuilt, ABI`);

        const args = ["generate", "--prompt", "Once upon a time", "--max-tokens", "12", "--temperature", "0"];
        const generated = run(process.execPath, [join(appDir, "node_modules/.bin/peregrine"), ...args], {cwd: appDir, env: userEnv});
        expect(generated.code, generated.stderr).toBe(0);
        expect(generated.stderr).toMatch(/\(native-[a-z0-9-]+ kernels\)/);
        expect(generated.stderr).not.toMatch(/warning|unavailable/i);
        // the same greedy story as this checkout's own build
        const reference = run(process.execPath, [join(projectRoot, "dist/cli/main.js"), ...args], {cwd: projectRoot});
        expect(generated.stdout.length).toBeGreaterThan(0);
        expect(generated.stdout).toBe(reference.stdout);
    });

    it("PEREGRINE_BUILD_FROM_SOURCE=1 compiles even so, and without a compiler still ends the install with 0 and what to install", (context) => {
        if (install.code !== 0) context.skip();
        // npm_config_foreground_scripts as npm sets it for --foreground-scripts: progress on stderr only, not on this terminal too
        const env = {...userEnv, PEREGRINE_BUILD_FROM_SOURCE: "1", npm_config_foreground_scripts: "true"};
        const forced = run(process.execPath, [join(packageDir, "scripts/install.mjs")], {cwd: packageDir, env});
        expect(forced.code).toBe(0);
        expect(forced.stderr).toContain("peregrine: compiling the native kernels from source (PEREGRINE_BUILD_FROM_SOURCE is set)");
        expect(forced.stderr).toMatch(/peregrine: warning: no native kernels: the compile failed after \d+ s\. Peregrine will run on its TypeScript backend/);
        expect(forced.stderr).toMatch(/Debian\/Ubuntu: sudo apt-get install g\+\+ make python3/);
        expect(forced.stderr).toContain("npm rebuild peregrine");
        // the failed compile leaves no addon behind to shadow the prebuilt
        expect(existsSync(join(packageDir, "build/Release/peregrine.node"))).toBe(false);
        const info = run(process.execPath, [join(packageDir, "dist/cli/main.js"), "info"], {cwd: appDir, env: userEnv});
        expect(info.stdout).toContain(`native addon:  ${join(packageDir, "prebuilds", target, "peregrine.node")} (prebuilt, ABI`);
    });

    it("refuses a prebuilt whose manifest names another ABI, warning with what to install", (context) => {
        if (install.code !== 0) context.skip();
        const manifestPath = join(packageDir, "prebuilds", target, "manifest.json");
        const manifest = JSON.parse(readFileSync(manifestPath, "utf8")) as {abiVersion: number};
        writeFileSync(manifestPath, JSON.stringify({...manifest, abiVersion: manifest.abiVersion + 1000}));
        const generated = run(process.execPath, [join(packageDir, "dist/cli/main.js"), "generate", "--prompt", "Once", "--max-tokens", "2"], {cwd: appDir, env: userEnv});
        expect(generated.code, generated.stderr).toBe(0);
        expect(generated.stderr).toContain("(reference kernels)");
        expect(generated.stderr).toContain(`not used: built for ABI ${manifest.abiVersion + 1000}`);
        expect(generated.stderr).toMatch(/Debian\/Ubuntu: sudo apt-get install g\+\+ make python3/);
        expect(generated.stderr).toContain("npm rebuild peregrine");
    });
});
