/**
 * Configuration files: YAML (JSON is YAML too), parsed with line-aware errors, then validated against the
 * component's schema. Relative paths inside a config are resolved against the config file's directory.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { Static, TSchema } from 'typebox';
import { parseDocument } from 'yaml';
import { ConfigError } from '../errors.js';
import { unreadable } from './files.js';
import { validateConfig } from './validate.js';

export interface LoadedConfig<T> {
  file: string;
  value: T;
  /** Resolves a path written in the config relative to the config file. */
  resolvePath(p: string): string;
}

/**
 * A configuration file's content. A file with nothing in it (or only comments) is an error, not an empty
 * configuration with every default: it is a file that was not written, or the wrong file.
 */
export function readYamlFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [{ path: '', message: `${unreadable(err, file)}; expected a YAML configuration file` }]);
  }
  const value = parseYaml(text, file);
  if (value === undefined) throw new ConfigError(file, [{ path: '', message: 'the file is empty (nothing but comments or null); expected a YAML mapping of keys (examples: deploy/examples/hub.yaml, deploy/examples/agent.yaml)' }]);
  return value;
}

export function parseYaml(text: string, file?: string): unknown {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => ({ path: '', message: `YAML syntax error at line ${e.linePos?.[0].line ?? '?'}: ${e.message.split('\n')[0]}` })),
    );
  }
  let value: unknown;
  try {
    value = doc.toJS();
  } catch (err) {
    // e.g. aliases expanding past yaml's maxAliasCount (a "billion laughs" file)
    throw new ConfigError(file, [{ path: '', message: `YAML cannot be read: ${(err as Error).message}` }]);
  }
  // Nothing, only comments, or a bare null: undefined.
  return value ?? undefined;
}

export function loadConfigFile<S extends TSchema>(file: string, schema: S): LoadedConfig<Static<S>> {
  const absolute = resolve(file);
  const value = validateConfig(schema, readYamlFile(absolute), { file: absolute });
  const base = dirname(absolute);
  return { file: absolute, value, resolvePath: (p) => (isAbsolute(p) ? p : resolve(base, p)) };
}
