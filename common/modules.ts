/**
 * Component discovery by file name. Components (parsers, collectors, experts, outputs) are found where their name
 * says they live, so loading one imports only that file, and listing them is a directory walk — no hand-kept list.
 * Files run as .ts under tsx and as .js once built; a directory only ever holds one of the two kinds.
 */
import { existsSync, readdirSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { VigilError } from './errors.js';

/** The extension of the running code (".ts" or ".js"), read off this very file. */
export const CODE_EXT = extname(fileURLToPath(import.meta.url));

export interface Named {
  name: string;
}

/** Imports `file` (without extension) and returns its default export, checking it is the component `name`. */
export async function loadNamedModule<T extends Named>(file: string, name: string, kind: string): Promise<T> {
  const path = `${file}${CODE_EXT}`;
  if (!existsSync(path)) throw new VigilError('VIGIL_E_CONFIG', `unknown ${kind} '${name}'`, { [kind]: name });
  const mod = (await import(pathToFileURL(path).href)) as { default?: T };
  if (!mod.default || mod.default.name !== name) {
    throw new VigilError('VIGIL_E_CONFIG', `${path} does not define ${kind} '${name}'`);
  }
  return mod.default;
}

/** Code files directly in `dir` (no extension), skipping helpers whose name starts with `_` and declarations. */
export function codeFilesIn(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => extname(f) === CODE_EXT && !f.endsWith(`.d${CODE_EXT}`) && !f.startsWith('_'))
    .map((f) => f.slice(0, -CODE_EXT.length))
    .sort();
}

export function subdirectoriesOf(dir: string, skip: ReadonlySet<string> = new Set()): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && !skip.has(e.name) && !e.name.startsWith('_'))
    .map((e) => e.name)
    .sort();
}

