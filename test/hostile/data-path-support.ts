/** What the data-path hostile tests share: event makers, a LevelDB opened by hand, and the hub's API views. */
import { Level } from 'level';
import { Packr } from 'msgpackr';
import { api } from '../helpers/setup.js';

/** A valid event line for the `json` parser (splitlines): a distinct source.ip per n. */
export const good = (n: number): string => JSON.stringify({ 'source.ip': `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`, 'classification.type': 'scanner', 'extra.n': n });
export const goodEvent = (n: number): Record<string, unknown> => ({ ...(JSON.parse(good(n)) as object), 'feed.name': 'direct', raw: 'eA==' });

/** An event with `n` top-level `extra.k<i>` keys. */
export function wide(n: number): Record<string, unknown> {
  const event: Record<string, unknown> = { 'classification.type': 'scanner' };
  for (let i = 0; i < n; i++) event[`extra.k${i}`] = i;
  return event;
}

// Encodes maps of more than 65,535 keys (a hostile publisher's encoder; Vigil's own never makes one).
export const roomy = new Packr({ useRecords: false, moreTypes: false, variableMapSize: true });

export async function withDb(dir: string, fn: (db: Level<string, Buffer>) => Promise<void>): Promise<void> {
  const db = new Level<string, Buffer>(dir, { valueEncoding: 'buffer' });
  await db.open();
  try {
    await fn(db);
  } finally {
    await db.close();
  }
}

export async function agentStatus(port: number, id: string): Promise<{ outboxDepth: Record<string, number> | null; feeds: Record<string, { rejected: number; recentRejects: { reason: string }[] }> | null }> {
  return (await api(port, `/api/v1/agents/${id}`, { role: 'reader' })).body;
}

export async function deadLetters(port: number): Promise<{ id: number; stage: string; reason: string; count: number }[]> {
  return (await api(port, '/api/v1/deadletters?limit=1000', { role: 'reader' })).body.deadletters;
}

export async function stats(port: number): Promise<Record<string, any>> {
  return (await api(port, '/api/v1/stats', { role: 'reader' })).body;
}

