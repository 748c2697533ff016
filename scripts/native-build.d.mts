// Types for the helpers of native-build.mjs that TypeScript code uses (the script itself is plain
// JavaScript: it runs at install time, before anything is compiled).

/** The package's root folder. */
export const PACKAGE_ROOT: string;
/** A file of that name on PATH that can be executed, or null. */
export function onPath(name: string, path?: string): string | null;
/** node-gyp as npm runs it: npm sets npm_config_node_gyp for scripts; otherwise npm's bundled copy next to node. */
export function findNodeGyp(): string | null;
/** Node's headers where they already are (npm's nodedir, node's prefix, node-gyp's cache), or null. */
export function findNodeDir(): string | null;
