/**
 * The hub's LevelDB. One database holds the inbox, the processed log, every consumer's cursor, component state, the
 * dead letters, the agents' records and the event store, so a stage can move its cursor and write its output in
 * one atomic batch. Each owner has its own sublevel (abstract-level), so it reads and writes only its own keys; a
 * write that spans owners is one batch on the root database whose operations name their sublevel (`HubOp`).
 *
 *   sublevel             keys                  owner
 *   inbox/batches        <seq>                 accepted batches, as received (hub/inbox)
 *   inbox/high           <agent>!<epoch>       highest batch seq stored per agent and outbox epoch (hub/inbox)
 *   inbox/meta           head                  last inbox seq written (hub/inbox)
 *   processed/batches    <seq>                 batches after the experts (hub/pipeline/processed-log)
 *   processed/meta       head                  last processed seq written (hub/pipeline/processed-log)
 *   cursors              experts, output:<n>   positions of the experts stage and of each output runner
 *   state/<component>    <key>                 a component's own state, e.g. the deduplicator's (hub/pipeline/store)
 *   deadletters          <seq>                 dead letters (hub/pipeline/deadletters)
 *   agents/credentials   <agent id>            token hash and disabled flag (hub/agents)
 *   agents/status        <agent id>            last status heard (hub/agents)
 *   events/records       <ms>!<first id>       the event store's records (hub/eventstore)
 *   events/meta          count                 events it holds (hub/eventstore)
 *   legacy               <key>                 keys of the old layout no owner claims (kept, never read)
 *
 * <seq> is zero-padded to 16 digits (common/seqkey.ts), so byte order is numeric order.
 *
 * Hubs before sublevels kept all of this in the root keyspace under string prefixes (i! h! p! k! x! d! a! m! s!);
 * `oldKeyPlace` says where each such key belongs now, and `openHubDb` moves them there before anything reads the
 * database (hub/store/migrate.ts).
 */
import type { Level } from 'level';
import { SEQ_WIDTH } from '../../common/seqkey.js';

export type HubDb = Level<string, Buffer>;

const open = (db: HubDb, path: string[]) => db.sublevel<string, Buffer>(path, { valueEncoding: 'buffer' });

/** One owner's keyspace: string keys, Buffer values. */
export type HubSublevel = ReturnType<typeof open>;

/** A write of a batch on the root database: every operation names the sublevel it belongs to. */
export type HubOp = { type: 'put'; sublevel: HubSublevel; key: string; value: Buffer } | { type: 'del'; sublevel: HubSublevel; key: string };

/**
 * Writes one operation with fsync, for a change that must be durable before its caller answers. Through the root's
 * batch: a sublevel forwards `sync` to the root too, but its typings do not declare the option.
 */
export function writeSynced(op: HubOp): Promise<void> {
  return op.sublevel.db.batch([op], { sync: true });
}

export interface HubLayout {
  readonly inbox: { readonly batches: HubSublevel; readonly high: HubSublevel; readonly meta: HubSublevel };
  readonly processed: { readonly batches: HubSublevel; readonly meta: HubSublevel };
  readonly cursors: HubSublevel;
  readonly deadLetters: HubSublevel;
  readonly agents: { readonly credentials: HubSublevel; readonly status: HubSublevel };
  readonly events: { readonly records: HubSublevel; readonly meta: HubSublevel };
  readonly legacy: HubSublevel;
  /** The state of one component (`expert:<name>`, `output:<name>`). */
  state(component: string): HubSublevel;
}

const layouts = new WeakMap<HubDb, HubLayout>();

/** The sublevels of `db` (made once per database: a sublevel is an object with its own encodings and hooks). */
export function layout(db: HubDb): HubLayout {
  let l = layouts.get(db);
  if (!l) {
    const states = new Map<string, HubSublevel>();
    l = {
      inbox: { batches: open(db, ['inbox', 'batches']), high: open(db, ['inbox', 'high']), meta: open(db, ['inbox', 'meta']) },
      processed: { batches: open(db, ['processed', 'batches']), meta: open(db, ['processed', 'meta']) },
      cursors: open(db, ['cursors']),
      deadLetters: open(db, ['deadletters']),
      agents: { credentials: open(db, ['agents', 'credentials']), status: open(db, ['agents', 'status']) },
      events: { records: open(db, ['events', 'records']), meta: open(db, ['events', 'meta']) },
      legacy: open(db, ['legacy']),
      state(component) {
        let s = states.get(component);
        if (!s) states.set(component, (s = open(db, ['state', sublevelName(component)])));
        return s;
      },
    };
    layouts.set(db, l);
  }
  return l;
}

/**
 * A component name as a sublevel name, which may hold only the bytes 0x23–0x7e: anything else (and `%`) is
 * written %XX by its UTF-8 bytes, so two names never share a sublevel.
 */
export function sublevelName(name: string): string {
  let out = '';
  for (const byte of Buffer.from(name, 'utf8')) out += byte >= 0x23 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  return out;
}

/** Where a key of the old prefix layout belongs now: its sublevel and its key there. */
export function oldKeyPlace(l: HubLayout, key: string): { sublevel: HubSublevel; key: string } {
  const bang = key.indexOf('!');
  const prefix = bang < 0 ? '' : key.slice(0, bang);
  const rest = key.slice(bang + 1);
  const seq = /^\d+$/.test(rest) && rest.length === SEQ_WIDTH;
  switch (prefix) {
    case 'i':
      if (seq) return { sublevel: l.inbox.batches, key: rest };
      break;
    case 'h':
      return { sublevel: l.inbox.high, key: rest };
    case 'p':
      if (seq) return { sublevel: l.processed.batches, key: rest };
      break;
    case 'd':
      if (seq) return { sublevel: l.deadLetters, key: rest };
      break;
    case 's':
      return { sublevel: l.events.records, key: rest };
    case 'k':
      if (rest === 'experts') return { sublevel: l.cursors, key: 'experts' };
      if (rest.startsWith('out!')) return { sublevel: l.cursors, key: `output:${rest.slice(4)}` };
      break;
    case 'x': {
      // x!<component>!<key>; a component is `expert:<name>` or `output:<name>`, and a name holding '!' was
      // ambiguous in the old layout already: the first '!' ends the component.
      const end = rest.indexOf('!');
      if (end > 0) return { sublevel: l.state(rest.slice(0, end)), key: rest.slice(end + 1) };
      break;
    }
    case 'a':
      if (rest.startsWith('cred!')) return { sublevel: l.agents.credentials, key: rest.slice(5) };
      if (rest.startsWith('status!')) return { sublevel: l.agents.status, key: rest.slice(7) };
      break;
    case 'm':
      if (rest === 'inbox-seq') return { sublevel: l.inbox.meta, key: 'head' };
      if (rest === 'processed-seq') return { sublevel: l.processed.meta, key: 'head' };
      if (rest === 'store-count') return { sublevel: l.events.meta, key: 'count' };
      break;
  }
  return { sublevel: l.legacy, key };
}
