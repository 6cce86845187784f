/** Config errors raised from an expert's `create`, naming the parameter; and reading the files parameters name. */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../../common/errors.js';

export function configError(param: string, message: string): ConfigError {
  return new ConfigError(undefined, [{ path: param, message }]);
}

/** Reads a data file named by a parameter (resolved against the config file); a missing file stops start-up. */
export function readParamFile(param: string, path: string, resolve: (p: string) => string): { path: string; text: string } {
  const full = resolve(path);
  try {
    return { path: full, text: readFileSync(full, 'utf8') };
  } catch (err) {
    throw configError(param, `cannot read ${full}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}
