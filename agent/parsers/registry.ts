/**
 * Finds parsers by name. A parser named `provider.feed` lives in `agent/parsers/provider/feed.ts` and a parser
 * named `provider` in `agent/parsers/provider/index.ts` (helpers beside them start with `_`), so an agent loads
 * only the parsers it uses and `vigil parsers` lists them by walking the directory.
 */
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ComponentRegistry, intelmqModules } from '../../common/component.js';
import type { ParserDefinition } from './framework/define.js';

export const parsers = new ComponentRegistry<ParserDefinition>({ kind: 'parser', dir: dirname(fileURLToPath(import.meta.url)), layout: 'provider', skip: ['framework'] });

export const parserFile = (name: string): string => parsers.fileOf(name);
export const loadParser = (name: string): Promise<ParserDefinition> => parsers.load(name);
export const parserNames = (): string[] => parsers.names();
/** Every parser, sorted by name. */
export const allParsers = (): Promise<ParserDefinition[]> => parsers.all();

/** Resolves an IntelMQ module name (`intelmq.bots.parsers.spamhaus.parser_drop`) to the Vigil parser. */
export async function parserForIntelmqModule(module: string): Promise<ParserDefinition | undefined> {
  return (await allParsers()).find((p) => intelmqModules(p).includes(module));
}
