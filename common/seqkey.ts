/**
 * LevelDB keys for sequence-numbered logs (agent outbox, hub inbox, processed log, dead letters): a zero-padded
 * decimal — after a prefix in a shared keyspace (the agent's outbox), alone in a log's own sublevel (the hub) —
 * so byte order is numeric order and a range scan reads a log oldest first.
 */
export const SEQ_WIDTH = 16;

/** The key of `seq` in a log's own keyspace. */
export function seqId(seq: number): string {
  return String(seq).padStart(SEQ_WIDTH, '0');
}

export function seqKey(prefix: string, seq: number): string {
  return `${prefix}!${seqId(seq)}`;
}

/** The seq of a key made by seqKey or seqId. */
export function seqOf(key: string): number {
  return Number(key.slice(key.indexOf('!') + 1));
}
