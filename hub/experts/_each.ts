/** The per-event loop of most experts: one event's failure rejects that event only, the batch goes on. */
import type { Event } from '../pipeline/define.js';

/** Runs `fn` on every event; `false` drops the event, a throw rejects it (dead letter with the error). */
export function eachEvent(events: Event[], reject: (event: Event, err: Error) => void, fn: (event: Event) => boolean | void): Event[] {
  const kept: Event[] = [];
  for (const event of events) {
    try {
      if (fn(event) !== false) kept.push(event);
    } catch (err) {
      reject(event, err instanceof Error ? err : new Error(String(err)));
    }
  }
  return kept;
}
