/**
 * Module hooks that let Node run Peregrine's TypeScript sources directly: `.ts` files are
 * transpiled on load (esbuild, which vitest and vite-node already bring; TypeScript's
 * transpileModule where it is missing), and a relative or absolute `x.js` import from a `.ts` file resolves
 * to `./x.ts` when only that exists (the sources import with `.js`, as NodeNext wants). Types are
 * stripped, never checked. Used only when workers are started from the sources (tests, vite-node
 * benches); the built package in dist/ never loads this file.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

let transpile;

async function transpiler() {
  if (transpile) return transpile;
  try {
    const esbuild = await import('esbuild');
    transpile = (source, file) =>
      esbuild.transformSync(source, { loader: 'ts', format: 'esm', target: 'es2022', sourcefile: file, sourcemap: 'inline' }).code;
  } catch {
    const ts = (await import('typescript')).default;
    transpile = (source, file) =>
      ts.transpileModule(source, {
        fileName: file,
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, inlineSourceMap: true, verbatimModuleSyntax: false },
      }).outputText;
  }
  return transpile;
}

export async function resolve(specifier, context, nextResolve) {
  const parent = context.parentURL;
  if (parent?.endsWith('.ts') && /^(\.|\/|file:)/.test(specifier) && specifier.endsWith('.js')) {
    const tsUrl = new URL(specifier.slice(0, -3) + '.ts', parent);
    if (!existsSync(fileURLToPath(new URL(specifier, parent))) && existsSync(fileURLToPath(tsUrl))) {
      return { url: tsUrl.href, shortCircuit: true };
    }
  }
  return nextResolve(specifier, context);
}

export async function load(url, context, nextLoad) {
  if (!url.startsWith('file:') || !url.endsWith('.ts')) return nextLoad(url, context);
  const file = fileURLToPath(url);
  const source = (await transpiler())(readFileSync(file, 'utf8'), file);
  return { format: 'module', source, shortCircuit: true };
}
