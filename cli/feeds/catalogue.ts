/**
 * The feed catalogue: the feeds of IntelMQ's feeds.yaml (catalogue.json, made by generate.ts), each turned into
 * an agent config feed the same way `vigil import intelmq` turns a collector and a parser bot into one
 * (cli/import/feed.ts). A feed whose collector Vigil does not have says which one it needs.
 */
import { readFileSync } from 'node:fs';
import type {} from './catalogue.json';
import { feedFromBots, type FeedOutcome, type IntelmqBot } from '../import/feed.js';

export interface CatalogueEntry {
  provider: string;
  feed: string;
  public: boolean;
  documentation?: string;
  revision?: string;
  /** feeds.yaml's status, where it gives one (e.g. "off" for a feed that stopped). */
  status?: string;
  collector: IntelmqBot & { parameters: Record<string, unknown> };
  parser: IntelmqBot & { parameters: Record<string, unknown> };
}

export interface Catalogue {
  source: string;
  feeds: CatalogueEntry[];
}

let cached: Catalogue | undefined;

export function loadCatalogue(): Catalogue {
  // Read beside the module (tsc copies the JSON into dist/ because of the type import above).
  return (cached ??= JSON.parse(readFileSync(new URL('./catalogue.json', import.meta.url), 'utf8')) as Catalogue);
}

/** The agent config feed of a catalogue entry, or why there is none (and the collector it needs). */
export function catalogueFeed(entry: CatalogueEntry): Promise<FeedOutcome> {
  return feedFromBots(entry.collector, entry.parser, { name: entry.feed, provider: entry.provider, documentation: entry.documentation });
}

/** The entries whose provider and feed match (case-insensitive; a unique prefix of the feed name is enough). */
export function findFeed(catalogue: Catalogue, provider: string, feed: string): CatalogueEntry[] {
  const p = provider.toLowerCase();
  const f = feed.toLowerCase();
  const ofProvider = catalogue.feeds.filter((e) => e.provider.toLowerCase() === p);
  const exact = ofProvider.filter((e) => e.feed.toLowerCase() === f);
  return exact.length > 0 ? exact : ofProvider.filter((e) => e.feed.toLowerCase().startsWith(f));
}
