/**
 * The chaos runs' generator: numbers N events, each with a random pad drawn from the run's PRNG, and writes them at
 * a steady rate over `generateMs` — most as lines appended to a growing log (the tail collector's input), a share as
 * files dropped whole into a spool directory (written to a temp name, then renamed: never seen half-written).
 */
import { appendFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sleep } from './processes.js';
import { eventLine } from './check.js';

const PAD_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
/** Between two writes, in ms. */
const TICK_MS = 50;

export interface GeneratorOptions {
  events: number;
  generateMs: number;
  /** Share of events written as spool files. */
  spoolShare: number;
  feedLog: string;
  spool: string;
  rnd: () => number;
}

export interface Generator {
  /** Events written so far. */
  readonly generated: number;
  /** Resolves once all N are written. */
  readonly done: Promise<void>;
}

export function startGenerator(o: GeneratorOptions): Generator {
  const ticks = Math.max(1, Math.ceil(o.generateMs / TICK_MS));
  const perTick = Math.ceil(o.events / ticks);
  const state = { generated: 0, done: Promise.resolve() };
  let spoolFiles = 0;
  state.done = (async () => {
    const t0 = Date.now();
    for (let tick = 0; state.generated < o.events; tick++) {
      const tail: string[] = [];
      const spool: string[] = [];
      const end = Math.min(o.events, state.generated + perTick);
      for (let i = state.generated; i < end; i++) {
        const toSpool = o.rnd() < o.spoolShare;
        let pad = '';
        const len = 8 + Math.floor(o.rnd() * 40);
        for (let k = 0; k < len; k++) pad += PAD_CHARS[Math.floor(o.rnd() * PAD_CHARS.length)];
        (toSpool ? spool : tail).push(eventLine(i, toSpool ? 'spool' : 'tail', Date.now(), pad));
      }
      state.generated = end;
      if (tail.length > 0) appendFileSync(o.feedLog, `${tail.join('\n')}\n`);
      if (spool.length > 0) {
        const name = join(o.spool, `part-${String(++spoolFiles).padStart(7, '0')}.jsonl`);
        writeFileSync(`${name}.tmp`, `${spool.join('\n')}\n`);
        renameSync(`${name}.tmp`, name);
      }
      await sleep(Math.max(0, t0 + (tick + 1) * TICK_MS - Date.now()));
    }
  })();
  return state;
}
