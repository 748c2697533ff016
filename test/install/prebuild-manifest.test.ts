import {mkdtempSync, rmSync, writeFileSync} from "node:fs";
import {tmpdir} from "node:os";
import {join} from "node:path";
import {afterAll, describe, expect, it} from "vitest";
import {readPrebuildManifest} from "../../src/kernels/native/native-addon.js";

// prebuilds/<target>/manifest.json comes with the package, but it is still read as input: every
// field the loader decides on is checked, and a bad file is a reason, never an exception.

const dir = mkdtempSync(join(tmpdir(), "peregrine-manifest-"));
afterAll(() => rmSync(dir, {recursive: true, force: true}));

function manifestFile(content: string): string {
    const path = join(dir, `manifest-${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(path, content);
    return path;
}

const valid = {platform: "linux", arch: "x64", abiVersion: 12, napiVersion: 8, gitCommit: "2b437d40e70f934881f86b51c3f59429c75e6d1a", flags: {}};

describe("readPrebuildManifest", () => {
    it("reads the fields the loader checks", () => {
        expect(readPrebuildManifest(manifestFile(JSON.stringify(valid)))).toEqual({
            platform: "linux", arch: "x64", abiVersion: 12, napiVersion: 8, gitCommit: valid.gitCommit,
        });
        expect(readPrebuildManifest(manifestFile(JSON.stringify({...valid, gitCommit: null})))).toMatchObject({gitCommit: null});
    });

    it("says what is wrong with a missing, malformed or incomplete file", () => {
        expect(readPrebuildManifest(join(dir, "absent.json"))).toMatch(/^absent\.json is missing or not JSON/);
        expect(readPrebuildManifest(manifestFile("{\"abiVersion\": 12,"))).toMatch(/is missing or not JSON/);
        expect(readPrebuildManifest(manifestFile("[1, 2]"))).toMatch(/is not a JSON object/);
        expect(readPrebuildManifest(manifestFile(JSON.stringify({...valid, abiVersion: "12", napiVersion: 0, arch: ""})))).toMatch(
            /: arch must be a non-empty string, abiVersion must be a positive integer, napiVersion must be a positive integer$/,
        );
        expect(readPrebuildManifest(manifestFile(JSON.stringify({...valid, abiVersion: 12.5})))).toMatch(/abiVersion must be a positive integer/);
        expect(readPrebuildManifest(manifestFile(JSON.stringify({...valid, gitCommit: 7})))).toMatch(/gitCommit must be a non-empty string/);
    });
});
