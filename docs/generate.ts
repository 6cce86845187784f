/**
 * Generated reference docs (`npm run docs`): everything here comes from the components' own declarations, so the
 * docs cannot drift from the code. test/parsers/docs.test.ts regenerates them in memory and fails when the
 * committed files differ.
 *
 *   docs/parsers/README.md        index of every parser
 *   docs/parsers/<name>.md        one page per parser: summary, IntelMQ module, input, parameters (type, default,
 *                                 description, from the schema), mapping tables, and each example with the events
 *                                 it gives — produced by running the example through the parser.
 *   docs/parsers/differences.md   the parsers' declared deliberate differences from IntelMQ.
 *   docs/{collectors,experts,outputs}/README.md and <name>.md
 *                                 the same for the other kinds: summary, IntelMQ module, parameters, counters, and
 *                                 the examples (configurations; for experts, input → output tables, which the
 *                                 experts' harness runs as tests).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { TObject } from 'typebox';
import { stringify as toYaml } from 'yaml';
import type { CollectorDefinition } from '../agent/collectors/define.js';
import { collectors } from '../agent/collectors/registry.js';
import type { InputSpec, MappingTable, ParserDefinition } from '../agent/parsers/framework/define.js';
import { BoundParser, fullParamSchema, type Event } from '../agent/parsers/framework/runner.js';
import { SHARED_DIFFERENCES } from '../agent/parsers/framework/differences.js';
import { allParsers } from '../agent/parsers/registry.js';
import { BUNDLED_SCHEMA, SCHEMA_ENV } from '../agent/parsers/shadowserver/_schema.js';
import { intelmqModules, type ComponentInfo, type ComponentRegistry } from '../common/component.js';
import { collectorBlock } from '../common/config/component-ref.js';
import { INTELMQ_BOT_PARAMS, intelmqEntry, type IntelmqParam } from '../common/intelmq-params.js';
import type { ExpertDefinition, OutputDefinition } from '../hub/pipeline/define.js';
import { experts, outputs } from '../hub/pipeline/registry.js';

export const DOCS_DIR = dirname(fileURLToPath(import.meta.url));

/** Generated files: path relative to docs/ → content. Only files under a renderer's own folder are touched. */
export type DocFiles = Map<string, string>;

interface Renderer {
  /** Folder under docs/ this renderer owns (stale .md files in it are removed). */
  folder: string;
  render(): Promise<DocFiles>;
}

const RENDERERS: Renderer[] = [
  { folder: 'collectors', render: () => renderComponentDocs(collectors, collectorExamples) },
  { folder: 'parsers', render: renderParserDocs },
  { folder: 'experts', render: () => renderComponentDocs(experts, expertExamples) },
  { folder: 'outputs', render: () => renderComponentDocs(outputs, outputExamples) },
];

/** The folders under docs/ whose pages are generated. */
export const GENERATED_FOLDERS: readonly string[] = RENDERERS.map((r) => r.folder);

/** Every generated file, in memory. */
export async function renderDocs(): Promise<DocFiles> {
  const all: DocFiles = new Map();
  for (const r of RENDERERS) for (const [path, text] of await r.render()) all.set(path, text);
  return all;
}

/** Writes the generated files and removes pages of components that no longer exist. */
export async function writeDocs(): Promise<{ written: number; removed: string[] }> {
  const files = await renderDocs();
  const removed: string[] = [];
  for (const r of RENDERERS) {
    const dir = join(DOCS_DIR, r.folder);
    mkdirSync(dir, { recursive: true });
    for (const name of readdirSync(dir)) {
      const path = `${r.folder}/${name}`;
      if (name.endsWith('.md') && !files.has(path)) {
        rmSync(join(dir, name));
        removed.push(path);
      }
    }
  }
  let written = 0;
  for (const [path, text] of files) {
    const file = join(DOCS_DIR, path);
    if (existsSync(file) && readFileSync(file, 'utf8') === text) continue;
    writeFileSync(file, text);
    written++;
  }
  return { written, removed };
}

// ---- collectors, experts, outputs ----

const KIND_INTRO: Record<string, string> = {
  collector: 'A collector fetches reports (a download, a file, lines of a log, datagrams) and hands each to the feed\'s parser; it forgets the data only once the events are in the outbox. It is configured under a feed\'s `collector:` in the agent\'s configuration.',
  expert: 'An expert enriches, filters or changes events on the hub, in the order of `pipeline.experts`. Each example below is an input → output table that the experts\' shared test harness runs.',
  output: 'An output delivers events from the hub, each with its own durable cursor, retries and dead letters; configured under `pipeline.outputs`.',
};

async function renderComponentDocs<D extends ComponentInfo>(registry: ComponentRegistry<D>, examples: (def: D) => string): Promise<DocFiles> {
  const defs = await registry.all();
  const folder = `${registry.kind}s`;
  const files: DocFiles = new Map();
  let index = `# ${capitalise(folder)}\n\n<!-- Generated by \`npm run docs\` from the ${registry.kind} declarations; do not edit. -->\n\n`;
  index += `${KIND_INTRO[registry.kind]} \`vigil ${folder} NAME\` shows the same from the command line.\n\n`;
  index += `| ${registry.kind} | IntelMQ module | summary |\n| --- | --- | --- |\n`;
  for (const d of defs) index += `| [${d.name}](${d.name}.md) | ${intelmqModules(d).map((m) => `\`${m}\``).join(', ')} | ${cell(d.summary)} |\n`;
  if (HUB_KINDS.has(registry.kind)) index += botParamsSection();
  files.set(`${folder}/README.md`, index);
  for (const d of defs) {
    let out = `# ${d.name}\n\n<!-- Generated by \`npm run docs\` from the ${registry.kind} declaration; do not edit. -->\n\n${d.summary}\n\n`;
    const modules = intelmqModules(d);
    if (modules.length > 0) out += `Replaces IntelMQ's ${modules.map((m) => `\`${m}\``).join(' and ')}.\n\n`;
    const source = relativeSource(registry.fileOf(d.name));
    out += `Source: [\`${source}\`](../../${source})\n\n`;
    out += `## Parameters\n\n${schemaTable(d.params)}`;
    out += intelmqParamsSection(d, registry.kind);
    if (d.metrics && Object.keys(d.metrics).length > 0) {
      out += '\n## Counters\n\n| counter | meaning |\n| --- | --- |\n';
      for (const [name, meaning] of Object.entries(d.metrics)) out += `| \`${name}\` | ${cell(meaning)} |\n`;
    }
    out += examples(d);
    files.set(`${folder}/${d.name}.md`, out);
  }
  return files;
}

/** The kinds whose configs the hub reads, where IntelMQ's bot-wide parameters are accepted (the hub ignores them). */
const HUB_KINDS: ReadonlySet<string> = new Set(['expert', 'output']);

function intelmqParamCell(entry: IntelmqParam): [string, string] {
  const e = intelmqEntry(entry);
  if ('ignore' in e) {
    if (e.only?.length === 0) return ['refused when set', cell(e.ignore)];
    return ['ignored', `${cell(e.ignore)}${e.only ? ` (only ${e.only.map((v) => `\`${JSON.stringify(v)}\``).join(', ')} accepted; others stop start-up)` : ''}`];
  }
  const notes = [e.note, e.intelmqDefault !== undefined ? `IntelMQ's default is \`${JSON.stringify(e.intelmqDefault)}\`; \`vigil import intelmq\` writes it when the bot leaves it out` : undefined];
  return [`\`${e.to}\``, cell(notes.filter(Boolean).join('; '))];
}

/** The component's IntelMQ parameter table: each IntelMQ name, what it becomes here and why. */
function intelmqParamsSection(d: ComponentInfo, kind: string): string {
  const rows = Object.entries(d.intelmqParams ?? {});
  if (rows.length === 0) return '';
  let out = '\n## IntelMQ parameters\n\n';
  out += HUB_KINDS.has(kind)
    ? 'IntelMQ\'s names for this component\'s parameters are accepted in the config and carried over as below (an ignored one is logged as a warning, and `vigil check` prints it); the parameters every IntelMQ bot has are listed in [README.md](README.md).\n\n'
    : 'How `vigil import intelmq` and `vigil feeds add` carry the IntelMQ bot\'s parameters over (besides the schedule, timeouts and credentials every collector shares; see [docs/intelmq.md](../intelmq.md)).\n\n';
  out += '| IntelMQ | here | note |\n| --- | --- | --- |\n';
  for (const [name, entry] of rows) out += `| \`${name}\` | ${intelmqParamCell(entry).join(' | ')} |\n`;
  return out;
}

/** IntelMQ's bot-wide parameters, accepted by every hub component and ignored. */
function botParamsSection(): string {
  let out = '\n## IntelMQ\'s bot-wide parameters\n\n';
  out += 'Every IntelMQ bot has these; a runtime.yaml\'s values for them are accepted and ignored (with a warning), unless the component\'s own page maps the name.\n\n';
  out += '| IntelMQ | why it is ignored |\n| --- | --- |\n';
  const byReason = new Map<string, string[]>();
  for (const [name, entry] of Object.entries(INTELMQ_BOT_PARAMS)) {
    const reason = intelmqParamCell(entry)[1];
    byReason.set(reason, [...(byReason.get(reason) ?? []), name]);
  }
  for (const [reason, names] of byReason) out += `| ${names.map((n) => `\`${n}\``).join(', ')} | ${reason} |\n`;
  return out;
}

/** A source path relative to the repository, with the extension of the source (.ts). */
function relativeSource(file: string): string {
  return `${file.slice(dirname(DOCS_DIR).length + 1)}.ts`;
}

function configExamples(examples: readonly { description: string; params: Record<string, unknown> }[], wrap: (params: Record<string, unknown>) => unknown): string {
  if (examples.length === 0) return '';
  let out = '\n## Examples\n';
  for (const e of examples) out += `\n### ${e.description}\n\n${fence('yaml', toYaml(wrap(e.params)).trimEnd())}`;
  return out;
}

const collectorExamples = (d: CollectorDefinition): string => configExamples(d.examples, (params) => ({ collector: collectorBlock(d.name, params) }));
const outputExamples = (d: OutputDefinition): string => configExamples(d.examples, (params) => ({ outputs: [{ type: d.name, name: `my-${d.name}`, params }] }));

function expertExamples(d: ExpertDefinition): string {
  if ((d.examples ?? []).length === 0) return '';
  let out = '\n## Examples\n';
  for (const e of d.examples) {
    out += `\n### ${e.description}\n\n`;
    const spec: Record<string, unknown> = { type: d.name };
    if (e.params && Object.keys(e.params).length > 0) spec.params = e.params;
    out += `Configuration:\n\n${fence('yaml', toYaml({ experts: [spec] }).trimEnd())}\n`;
    out += `Events in:\n\n${fence('json', e.input.map((x) => JSON.stringify(x)).join('\n'))}\n`;
    out += e.output.length === 0 ? 'Events out: none (dropped).\n' : `Events out:\n\n${fence('json', e.output.map((x) => JSON.stringify(x)).join('\n'))}`;
  }
  return out;
}

// ---- parsers ----

/** Report fields the examples run with, so the events shown are the same on every machine and day. */
const EXAMPLE_REPORT = { 'feed.name': 'Example Feed', 'time.observation': '2024-01-01T00:00:00+00:00' };

export async function renderParserDocs(): Promise<DocFiles> {
  // The Shadowserver parser names its schema file in a parameter description (read when the module loads) and
  // reads the installed schema if there is one: both are pinned so the docs do not depend on the machine.
  const saved = process.env[SCHEMA_ENV];
  delete process.env[SCHEMA_ENV];
  try {
    const parsers = await allParsers();
    process.env[SCHEMA_ENV] = BUNDLED_SCHEMA;
    const files: DocFiles = new Map();
    files.set('parsers/README.md', parserIndex(parsers));
    files.set('parsers/differences.md', differencesPage(parsers));
    for (const parser of parsers) files.set(`parsers/${parser.name}.md`, await parserPage(parser));
    return files;
  } finally {
    if (saved === undefined) delete process.env[SCHEMA_ENV];
    else process.env[SCHEMA_ENV] = saved;
  }
}

function parserIndex(parsers: ParserDefinition[]): string {
  let out = '# Parsers\n\n';
  out += '<!-- Generated by `npm run docs` from the parser declarations; do not edit. -->\n\n';
  out += 'A parser turns one report (the bytes a collector fetched) into events. Each page shows the parser\'s parameters and examples ';
  out += 'with the events they give. `vigil parsers NAME` shows the same from the command line.\n\n';
  out += 'Where a parser deliberately differs from IntelMQ\'s: [differences.md](differences.md).\n\n';
  out += '| parser | IntelMQ module | summary |\n| --- | --- | --- |\n';
  for (const p of parsers) out += `| [${p.name}](${p.name}.md) | ${p.intelmq ? `\`${p.intelmq}\`` : ''} | ${cell(p.summary)} |\n`;
  return out;
}

function differencesPage(parsers: ParserDefinition[]): string {
  let out = '# Where Vigil\'s parsers differ from IntelMQ\'s\n\n';
  out += '<!-- Generated by `npm run docs` from the parsers\' `differences` declarations; do not edit. -->\n\n';
  out += 'Every parser reproduces the events IntelMQ\'s own parser makes from IntelMQ\'s test data (`npm run conformance`), ';
  out += 'except for the differences below. Each is deliberate and shown by a case: a conformance case (the conformance test ';
  out += 'accepts these differences and no others) or a fixture of the parser\'s own (`fixtures/…`, under test/parsers/).\n\n';
  out += '## Shared by every parser\n\n| behaviour | IntelMQ | Vigil | why |\n| --- | --- | --- | --- |\n';
  for (const d of SHARED_DIFFERENCES) out += `| ${cell(d.behaviour)} | ${cell(d.intelmq)} | ${cell(d.vigil)} | ${cell(d.why)} |\n`;
  const rows = parsers.flatMap((p) => (p.differences ?? []).map((d) => ({ parser: p.name, ...d })));
  out += '\n## Per parser\n\n';
  if (rows.length === 0) return `${out}None.\n`;
  out += '| parser | case | field | IntelMQ | Vigil | why |\n| --- | --- | --- | --- | --- | --- |\n';
  for (const d of rows) out += `| [${d.parser}](${d.parser}.md) | \`${d.case}\` | \`${d.field}\` | ${cell(d.intelmq)} | ${cell(d.vigil)} | ${cell(d.why)} |\n`;
  return out;
}

async function parserPage(parser: ParserDefinition): Promise<string> {
  let out = `# ${parser.name}\n\n`;
  out += '<!-- Generated by `npm run docs` from the parser declaration; do not edit. -->\n\n';
  out += `${parser.summary}\n\n`;
  if (parser.intelmq) out += `Replaces IntelMQ's \`${parser.intelmq}\`.\n\n`;
  out += `Source: [\`agent/parsers/${parserPath(parser.name)}\`](../../agent/parsers/${parserPath(parser.name)})\n\n`;
  out += `## Input\n\n${describeInput(parser)}\n\n`;
  out += `## Parameters\n\n${parameterTable(parser)}`;
  if (parser.mappings && parser.mappings.length > 0) out += `\n## Mappings\n${parser.mappings.map(mappingTable).join('')}`;
  const examples = parser.examples ?? [];
  if (examples.length > 0) out += '\n## Examples\n';
  for (const example of examples) {
    out += `\n### ${example.description}\n\n`;
    if (example.params && Object.keys(example.params).length > 0) out += `Parameters:\n\n${fence('json', JSON.stringify(example.params, null, 2))}\n`;
    if (example.report && Object.keys(example.report).length > 0) out += `Report fields:\n\n${fence('json', JSON.stringify(example.report, null, 2))}\n`;
    out += `Input:\n\n${fence('text', example.input.replace(/\n$/, ''))}\n`;
    const { events, rejects } = await runExample(parser, example.params ?? {}, { ...EXAMPLE_REPORT, ...(example.report ?? {}) }, example.input);
    out += `${events.length === 1 ? 'Event' : `Events (${events.length})`}:\n\n`;
    out += fence('json', events.map((e) => JSON.stringify(sortKeys(e), null, 2)).join('\n'));
    out += '\n`raw` decoded:\n\n';
    out += fence('text', events.map((e) => Buffer.from(String(e.raw), 'base64').toString('utf8')).join('\n---\n'));
    if (rejects.length > 0) out += `\nRejected: ${rejects.map((r) => r).join('; ')}\n`;
  }
  return out;
}

async function runExample(parser: ParserDefinition, params: Record<string, unknown>, report: Record<string, unknown>, input: string): Promise<{ events: Event[]; rejects: string[] }> {
  const events: Event[] = [];
  const rejects: string[] = [];
  await new BoundParser(parser, params).run(report, input, { event: (e) => events.push(e), reject: (r) => rejects.push(r.reason) });
  return { events, rejects };
}

function parserPath(name: string): string {
  const [provider, feed] = name.split('.');
  return `${provider}/${feed ?? 'index'}.ts`;
}

const INPUT_KINDS: Record<InputSpec['kind'], string> = {
  lines: 'Lines of text (split as Python\'s `str.splitlines()` splits them); each line is one record.',
  csv: 'CSV (read as Python\'s `csv` module reads it); each row is one record.',
  json: 'A JSON document; a list gives one record per element, read as it arrives.',
  'json-lines': 'One JSON value per line; each line is one record.',
  document: 'The whole report is read as one document.',
};

function describeInput(parser: ParserDefinition): string {
  if (typeof parser.input !== 'function') return describeSpec(parser.input);
  const example = parser.examples?.[0];
  let text = 'Chosen by the parser for each report, from its parameters, the report fields and the start of the report.';
  if (example) {
    try {
      const params = new BoundParser(parser, example.params ?? {}).params;
      const spec = parser.input(params, { report: { ...EXAMPLE_REPORT, ...(example.report ?? {}) }, head: example.input.slice(0, 4096) });
      text += ` For the first example below: ${lowerFirst(describeSpec(spec))}`;
    } catch {
      // an example the input choice refuses is shown as it is below
    }
  }
  return text;
}

function describeSpec(spec: InputSpec): string {
  let text = INPUT_KINDS[spec.kind];
  const notes: string[] = [];
  if (spec.kind === 'csv') {
    if (spec.delimiter && spec.delimiter !== ',') notes.push(`delimiter ${JSON.stringify(spec.delimiter)}`);
    if (spec.header) notes.push('the first row names the columns');
  }
  if ((spec.kind === 'lines' || spec.kind === 'csv' || spec.kind === 'json-lines') && spec.comment) notes.push('comment lines are recognised and kept for the header');
  if ((spec.kind === 'lines' || spec.kind === 'csv') && spec.skipLines) notes.push(`the first ${spec.skipLines} line(s) after comments are a header`);
  if ((spec.kind === 'lines' || spec.kind === 'csv') && spec.skipLast) notes.push(`the last ${spec.skipLast} line(s) are a trailer and not read`);
  if (spec.kind === 'json' && spec.arrayKey) notes.push(`an object holding its records under "${spec.arrayKey}" gives one record per element`);
  if (spec.kind === 'json' && spec.records) notes.push('the parser cuts the document into records itself, so one bad entry costs only its own event');
  if (spec.kind === 'document' && spec.split) notes.push('the parser cuts it into records itself, so one bad entry costs only its own event');
  if (notes.length > 0) text += ` ${capitalise(notes.join('; '))}.`;
  return text;
}

interface JsonSchema {
  type?: string;
  anyOf?: JsonSchema[];
  const?: unknown;
  items?: JsonSchema;
  patternProperties?: Record<string, JsonSchema>;
  default?: unknown;
  description?: string;
  minimum?: number;
  maximum?: number;
  properties?: Record<string, JsonSchema>;
  required?: string[];
}

function parameterTable(parser: ParserDefinition): string {
  return schemaTable(fullParamSchema(parser));
}

function schemaTable(params: TObject): string {
  const schema = params as unknown as JsonSchema;
  const required = new Set(schema.required ?? []);
  let out = '| name | type | default | description |\n| --- | --- | --- | --- |\n';
  for (const [name, prop] of Object.entries(schema.properties ?? {})) {
    const def = prop.default !== undefined ? `\`${JSON.stringify(prop.default)}\`` : required.has(name) ? '*required*' : '';
    out += `| \`${name}\` | ${cell(typeName(prop))} | ${def} | ${cell(prop.description ?? '')} |\n`;
  }
  return out;
}

/** A short type for a parameter schema: `string`, `integer ≥ 0`, `list of string`, `"a" or "b"`, … */
function typeName(s: JsonSchema): string {
  if (s.anyOf) return s.anyOf.map(typeName).join(' or ');
  if (s.const !== undefined) return JSON.stringify(s.const);
  switch (s.type) {
    case 'array':
      return `list of ${s.items ? typeName(s.items) : 'any'}`;
    case 'object': {
      const values = s.patternProperties ? Object.values(s.patternProperties)[0] : undefined;
      return values ? `object (name → ${typeName(values)})` : 'object';
    }
    case 'integer':
    case 'number': {
      const range = [s.minimum !== undefined ? `≥ ${s.minimum}` : '', s.maximum !== undefined ? `≤ ${s.maximum}` : ''].filter(Boolean).join(', ');
      return range ? `${s.type} ${range}` : s.type;
    }
    case undefined:
      return 'any';
    default:
      return s.type;
  }
}

function mappingTable(table: MappingTable): string {
  let out = `\n### ${table.title}\n\n| ${table.columns.map(cell).join(' | ')} |\n|${' --- |'.repeat(table.columns.length)}\n`;
  const rows: Iterable<readonly unknown[]> = table.rows instanceof Map ? [...table.rows].map(([k, v]) => [k, ...(Array.isArray(v) ? v : [v])]) : (table.rows as Iterable<readonly unknown[]>);
  for (const row of rows) out += `| ${row.map(mappingCell).join(' | ')} |\n`;
  if (table.note) out += `\n${table.note}\n`;
  return out;
}

function mappingCell(value: unknown): string {
  if (value === undefined || value === null || value === '') return '';
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return `\`${cell(text).replace(/`/g, "'")}\``;
}

function sortKeys(event: Event): Event {
  const out: Event = {};
  for (const key of Object.keys(event).sort()) out[key] = event[key];
  return out;
}

function fence(lang: string, body: string): string {
  // A fence longer than any backtick run in the body, so inputs with ``` stay inside it.
  const longest = Math.max(2, ...[...body.matchAll(/`+/g)].map((m) => m[0].length));
  const ticks = '`'.repeat(longest + 1);
  return `${ticks}${lang}\n${body}\n${ticks}\n`;
}

/** Text for a Markdown table cell: no line breaks, no unescaped pipes. */
function cell(text: string): string {
  return text.replace(/\r?\n/g, ' ').replace(/\|/g, '\\|');
}

/** Lower-cases the first letter unless it starts an acronym ("CSV"). */
function lowerFirst(text: string): string {
  return /^[A-Z][a-z]/.test(text) ? text.charAt(0).toLowerCase() + text.slice(1) : text;
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { written, removed } = await writeDocs();
  process.stdout.write(`docs: ${written} file(s) written${removed.length ? `, removed ${removed.join(', ')}` : ''}\n`);
}
