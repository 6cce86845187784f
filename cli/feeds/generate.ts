/**
 * Regenerates catalogue.json beside this file from IntelMQ's feed catalogue (feeds.yaml): for each provider and
 * feed, the facts Vigil's catalogue needs — the documentation URL, whether the feed is public, its revision and
 * status, and the collector and parser bots with their parameters, as IntelMQ gives them. (Not the descriptions:
 * `vigil feeds` links to the documentation.) test/cli/feeds.test.ts checks that the committed file is what this
 * makes of the feeds.yaml beside the project.
 *
 *   npx tsx cli/feeds/generate.ts [path/to/feeds.yaml]     (default: ../shared/intelmq-etc/feeds.yaml)
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parse } from 'yaml';
import type { Catalogue, CatalogueEntry } from './catalogue.js';

const HERE = dirname(fileURLToPath(import.meta.url));
export const CATALOGUE_FILE = join(HERE, 'catalogue.json');
export const DEFAULT_FEEDS_YAML = resolve(HERE, '../../../shared/intelmq-etc/feeds.yaml');

type Raw = Record<string, unknown>;
const rec = (v: unknown): Raw => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Raw) : {});
const text = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v.trim() : v instanceof Date ? v.toISOString().slice(0, 10) : undefined);

function bot(value: unknown): CatalogueEntry['collector'] {
  const b = rec(value);
  return { module: String(b.module), parameters: rec(b.parameters) };
}

/** The catalogue made of a feeds.yaml's text, sorted by provider and feed. */
export function catalogueFrom(feedsYaml: string): Catalogue {
  const providers = rec(rec(parse(feedsYaml)).providers);
  const feeds: CatalogueEntry[] = [];
  for (const [provider, list] of Object.entries(providers)) {
    for (const [feed, raw] of Object.entries(rec(list))) {
      const f = rec(raw);
      const entry: CatalogueEntry = { provider, feed, public: f.public === true, collector: bot(rec(f.bots).collector), parser: bot(rec(f.bots).parser) };
      const documentation = text(f.documentation);
      if (documentation) entry.documentation = documentation;
      const revision = text(f.revision);
      if (revision) entry.revision = revision;
      const status = text(f.status);
      if (status) entry.status = status;
      feeds.push(entry);
    }
  }
  const key = (e: CatalogueEntry) => `${e.provider.toLowerCase()}\u0000${e.feed.toLowerCase()}`;
  feeds.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  return { source: "IntelMQ's feeds.yaml (certtools/intelmq), converted by cli/feeds/generate.ts", feeds };
}

export function catalogueText(catalogue: Catalogue): string {
  return `${JSON.stringify(catalogue, null, 2)}\n`;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const from = resolve(process.argv[2] ?? DEFAULT_FEEDS_YAML);
  const catalogue = catalogueFrom(readFileSync(from, 'utf8'));
  writeFileSync(CATALOGUE_FILE, catalogueText(catalogue));
  process.stdout.write(`${CATALOGUE_FILE}: ${catalogue.feeds.length} feeds from ${from}\n`);
}
