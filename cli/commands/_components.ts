/**
 * `vigil collectors|parsers|experts|outputs [NAME]`: one listing for every component kind, read from the
 * registries — every component with its summary, or one with its IntelMQ module, parameters and examples.
 */
import type { TObject } from 'typebox';
import { stringify as toYaml } from 'yaml';
import { intelmqModules, type ComponentInfo, type ComponentRegistry } from '../../common/component.js';

interface ParamSchema {
  properties: Record<string, { description?: string; default?: unknown; const?: unknown }>;
  required?: string[];
}

export interface ListingOptions<D extends ComponentInfo> {
  registry: ComponentRegistry<D>;
  /** The full parameter schema (parsers add their common parameters). */
  schema?(def: D): TObject;
  /** The examples as text lines (default: none). */
  examples?(def: D): string;
}

export function listingCommand<D extends ComponentInfo>(options: ListingOptions<D>) {
  const plural = `${options.registry.kind}s`;
  return {
    summary: `list the ${plural} or show one`,
    usage: `usage: vigil ${plural} [NAME]\n\nLists every ${options.registry.kind} with its summary; with NAME, shows its IntelMQ module, parameters and examples.`,
    async run(argv: string[]): Promise<number> {
      const [name] = argv;
      process.stdout.write(name ? await showOne(options, name) : await listAll(options.registry));
      return 0;
    },
  };
}

async function listAll<D extends ComponentInfo>(registry: ComponentRegistry<D>): Promise<string> {
  const defs = await registry.all();
  const width = Math.max(...defs.map((d) => d.name.length));
  return defs.map((d) => `${d.name.padEnd(width)}  ${d.summary}\n`).join('');
}

async function showOne<D extends ComponentInfo>(options: ListingOptions<D>, name: string): Promise<string> {
  const def = await options.registry.load(name);
  const schema = (options.schema?.(def) ?? def.params) as unknown as ParamSchema;
  const required = new Set(schema.required ?? []);
  let out = `${def.name} — ${def.summary}\n`;
  const modules = intelmqModules(def);
  if (modules.length > 0) out += `IntelMQ: ${modules.join(', ')}\n`;
  out += '\nparameters:\n';
  for (const [key, prop] of Object.entries(schema.properties)) {
    if (key === 'type' && prop.const !== undefined) continue;
    const note = prop.default !== undefined ? ` (default: ${JSON.stringify(prop.default)})` : required.has(key) ? ' (required)' : '';
    out += `  ${key}${note}\n      ${prop.description ?? ''}\n`;
  }
  if (def.metrics) {
    out += '\ncounters:\n';
    for (const [counter, meaning] of Object.entries(def.metrics)) out += `  ${counter}: ${meaning}\n`;
  }
  const examples = options.examples?.(def);
  if (examples) out += `\n${examples}`;
  return out;
}

/** Configuration examples as YAML, each under its description. */
export function yamlExamples(examples: readonly { description: string; params?: Record<string, unknown> }[], wrap: (params: Record<string, unknown>) => unknown): string {
  return examples.map((e) => `example: ${e.description}\n${indent(toYaml(wrap(e.params ?? {})))}`).join('\n');
}

export function indent(text: string, prefix = '  '): string {
  return text.replace(/\n$/, '').split('\n').map((l) => `${prefix}${l}`).join('\n') + '\n';
}
