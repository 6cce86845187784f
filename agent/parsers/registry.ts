/**
 * Finds parsers by name. A parser named `provider.feed` lives in `agent/parsers/provider/feed.ts` and a parser
 * named `provider` in `agent/parsers/provider/index.ts` (helpers beside them start with `_`), so an agent loads
 * only the parsers it uses and `vigil parsers` lists them by walking the directory.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VigilError } from '../../common/errors.js';
import { codeFilesIn, loadNamedModule, subdirectoriesOf } from '../../common/modules.js';
import type { ParserDefinition } from './framework/define.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const NOT_PARSERS = new Set(['framework']);
const NAME = /^[a-z0-9_]+(\.[a-z0-9_]+)?$/;

export function parserFile(name: string): string {
  const [provider, feed] = name.split('.');
  return join(HERE, provider!, feed ?? 'index');
}

export async function loadParser(name: string): Promise<ParserDefinition> {
  if (!NAME.test(name) || NOT_PARSERS.has(name.split('.')[0]!)) throw unknownParser(name);
  try {
    return await loadNamedModule<ParserDefinition>(parserFile(name), name, 'parser');
  } catch (err) {
    if (err instanceof VigilError && err.message.startsWith('unknown parser')) throw unknownParser(name);
    throw err;
  }
}

export function parserNames(): string[] {
  const names: string[] = [];
  for (const provider of subdirectoriesOf(HERE, NOT_PARSERS)) {
    for (const base of codeFilesIn(join(HERE, provider))) names.push(base === 'index' ? provider : `${provider}.${base}`);
  }
  return names.sort();
}

/** Every parser, sorted by name. */
export async function allParsers(): Promise<ParserDefinition[]> {
  return Promise.all(parserNames().map((n) => loadParser(n)));
}

/** Resolves an IntelMQ module name (`intelmq.bots.parsers.spamhaus.parser_drop`) to the Vigil parser. */
export async function parserForIntelmqModule(module: string): Promise<ParserDefinition | undefined> {
  return (await allParsers()).find((p) => p.intelmq === module);
}

function unknownParser(name: string): VigilError {
  return new VigilError('VIGIL_E_CONFIG', `unknown parser '${name}' (run 'vigil parsers' for the list)`, { parser: name });
}
