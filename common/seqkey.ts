/**
 * LevelDB keys for sequence-numbered logs (agent outbox, hub inbox, processed log): a prefix and a zero-padded
 * decimal, so byte order is numeric order and a range scan reads a log oldest first.
 */
export const SEQ_WIDTH = 16;

export function seqKey(prefix: string, seq: number): string {
  return `${prefix}!${String(seq).padStart(SEQ_WIDTH, '0')}`;
}

/** The seq of a key made by seqKey. */
export function seqOf(key: string): number {
  return Number(key.slice(key.indexOf('!') + 1));
}
