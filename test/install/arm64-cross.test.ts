import {spawnSync} from "node:child_process";
import {cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync} from "node:fs";
import {availableParallelism, tmpdir} from "node:os";
import {join} from "node:path";
import {afterAll, beforeAll, describe, expect, it} from "vitest";
import {PACKAGE_ROOT, findNodeDir, findNodeGyp, onPath} from "../../scripts/native-build.mjs";

// On arm64 (Linux, macOS) `npm install` must build the addon from its scalar kernels, with no x86
// flags. Checked here on any Linux host: node-gyp configures binding.gyp for --arch=arm64 in a temp
// copy (so the targets, sources and flags are gyp's own evaluation of binding.gyp and cannot drift
// from it), then its Makefile runs with Debian's cross compiler (apt-get install g++-aarch64-linux-gnu).
// Needs the tools `npm install` already needed (node-gyp, make, python, node headers), found as the
// install script finds them (scripts/native-build.mjs); skips without them.

const CROSS = "aarch64-linux-gnu-";
const EM_AARCH64 = 183;
const ET_DYN = 3;

/** Node's headers as the checkout's own `npm install` found them (build/config.gypi), for when findNodeDir finds none. */
function builtWithNodeDir(): string | null {
    const configGypi = join(PACKAGE_ROOT, "build/config.gypi");
    const dir = existsSync(configGypi) ? /"nodedir":\s*"([^"]+)"/.exec(readFileSync(configGypi, "utf8"))?.[1] : undefined;
    return dir && existsSync(join(dir, "include/node/node_api.h")) ? dir : null;
}

const crossCxx = onPath(`${CROSS}g++`);
const nodeGyp = findNodeGyp();
const nodeDir = findNodeDir() ?? builtWithNodeDir();
const skipReason =
    process.platform !== "linux" ? `the cross check runs on Linux hosts (this is ${process.platform})`
    : !crossCxx ? `${CROSS}g++ is not on PATH (Debian/Ubuntu: apt-get install g++-aarch64-linux-gnu)`
    : !onPath(`${CROSS}ar`) || !onPath(`${CROSS}nm`) ? `${CROSS}ar or ${CROSS}nm is missing (package binutils-aarch64-linux-gnu)`
    : !onPath("make") ? "make is not on PATH"
    : !nodeGyp ? "node-gyp not found (neither npm_config_node_gyp nor npm's bundled copy)"
    : !nodeDir ? "node headers (include/node/node_api.h) not found: set npm_config_nodedir or run npm install once"
    : null;
if (skipReason) console.warn(`[arm64 cross build] skipping: ${skipReason}`);

function run(command: string, args: string[], cwd: string): string {
    const result = spawnSync(command, args, {cwd, encoding: "utf8", maxBuffer: 64 << 20});
    const output = `${result.stdout ?? ""}${result.stderr ?? ""}`;
    if (result.status !== 0) throw new Error(`${command} ${args.join(" ")} failed (${result.error?.message ?? `exit ${result.status}`}):\n${output.slice(-8000)}`);
    return output;
}

describe.skipIf(skipReason !== null)("addon cross-compiled for arm64 (Linux) from binding.gyp", () => {
    let workDir: string;
    let buildDir: string;
    let makeLog: string;

    beforeAll(() => {
        workDir = mkdtempSync(join(tmpdir(), "peregrine-arm64-"));
        buildDir = join(workDir, "build");
        cpSync(join(PACKAGE_ROOT, "binding.gyp"), join(workDir, "binding.gyp"));
        cpSync(join(PACKAGE_ROOT, "native"), join(workDir, "native"), {recursive: true});
        run(process.execPath, [nodeGyp!, "configure", "--arch=arm64", `--nodedir=${nodeDir}`], workDir);
        // CXXFLAGS comes last on gyp's compile line: -O0 overrides binding.gyp's -O3, which only made
        // this compile slower (13 s -> 5.5 s on 2 cores; 73 s under load in CI); the sources, the
        // flags checked below and the link are binding.gyp's, and -O0 leaves no call inlined away
        makeLog = run("make", ["-C", buildDir, `-j${Math.min(2, availableParallelism())}`, "V=1", "BUILDTYPE=Release",
            `CC=${CROSS}gcc`, `CXX=${CROSS}g++`, `AR=${CROSS}ar`, "CXXFLAGS=-O0"], workDir);
        const warnings = makeLog.split("\n").filter((line) => /\bwarning:/.test(line));
        if (warnings.length > 0) console.warn(`[arm64 cross build] ${warnings.length} compiler warning(s):\n${warnings.join("\n")}`);
    }, 120_000);

    afterAll(() => {
        if (workDir) rmSync(workDir, {recursive: true, force: true});
    });

    it("gyp generates only the addon and the scalar kernel library", () => {
        expect(readFileSync(join(buildDir, "config.gypi"), "utf8")).toMatch(/"target_arch":\s*"arm64"/);
        const targets = readdirSync(buildDir).filter((name) => name.endsWith(".target.mk")).map((name) => name.replace(/\.target\.mk$/, ""));
        expect(targets.sort()).toEqual(["peregrine", "peregrine_kernels_scalar"]);
    });

    it("compiles the scalar kernels with binding.gyp's flags, -ffp-contract=off and no -m flag", () => {
        const compiles = makeLog.split("\n").filter((line) => line.trim().startsWith(`${CROSS}g++ `) && / -c\s*$/.test(line));
        const sources = compiles.map((line) => /\s(\.\.\/native\/\S+\.cc)\s/.exec(line)?.[1]).sort();
        expect(sources).toContain("../native/kernels-scalar.cc");
        expect(sources.filter((source) => !source || /kernels-(avx|amx)/.test(source))).toEqual([]);
        const machineFlags = compiles.flatMap((line) => line.split(/\s+/).filter((flag) => /^-m[a-z0-9]/.test(flag)));
        expect(machineFlags).toEqual([]);
        // arm64 compilers fuse a * b + c unless told not to: every file is compiled with gyp's flags and that one
        for (const line of compiles) expect(line.split(/\s+/)).toEqual(expect.arrayContaining(["-O3", "-fno-math-errno", "-ffp-contract=off"]));
    });

    it("links an AArch64 ELF shared object that exports the N-API module init", () => {
        const addon = join(buildDir, "Release/peregrine.node");
        const elf = readFileSync(addon);
        expect(elf.subarray(0, 4).toString("latin1")).toBe("\x7fELF");
        expect(elf[4]).toBe(2); // ELFCLASS64
        expect(elf[5]).toBe(1); // little-endian
        expect(elf.readUInt16LE(16)).toBe(ET_DYN);
        expect(elf.readUInt16LE(18)).toBe(EM_AARCH64);
        const defined = run(`${CROSS}nm`, ["-D", "--defined-only", addon], workDir);
        expect(defined).toMatch(/ T napi_register_module_v1$/m);
        // nothing of ours left for the loader: every kernel table the dispatcher names is linked in
        const undefinedOurs = run(`${CROSS}nm`, ["-D", "--undefined-only", addon], workDir).split("\n").filter((line) => line.includes("9peregrine"));
        expect(undefinedOurs).toEqual([]);
    });
});
