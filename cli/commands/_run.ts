/** Shared by the long-running commands: load a config, start, and stop cleanly on SIGINT/SIGTERM. */
import { parseArgs } from 'node:util';
import type { Static, TSchema } from 'typebox';
import { loadConfigFile, type LoadedConfig } from '../../common/config/load.js';
import { VigilError } from '../../common/errors.js';

export function configArg(argv: string[], usage: string): { file: string; rest: Record<string, string | boolean | undefined> } {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { config: { type: 'string', short: 'c' }, offline: { type: 'boolean' } },
  });
  const file = values.config ?? positionals[0];
  if (!file) throw new VigilError('VIGIL_E_USAGE', `expected --config FILE\n${usage}`);
  return { file, rest: values };
}

export function load<S extends TSchema>(file: string, schema: S): LoadedConfig<Static<S>> {
  return loadConfigFile(file, schema);
}

/** Resolves when SIGINT or SIGTERM arrives. */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(signal);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}
