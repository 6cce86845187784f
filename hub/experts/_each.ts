/** The per-event loops of the experts: one event's failure rejects that event only, the batch goes on. */
import type { Event } from '../pipeline/define.js';

type Reject = (event: Event, err: Error) => void;

/** Runs `fn` on every event; `false` drops the event, a throw rejects it (dead letter with the error). */
export function eachEvent(events: Event[], reject: Reject, fn: (event: Event) => boolean | void): Event[] {
  const kept: Event[] = [];
  for (const event of events) {
    try {
      if (fn(event) !== false) kept.push(event);
    } catch (err) {
      reject(event, asError(err));
    }
  }
  return kept;
}

/**
 * `fn(event)` for every event, for experts that work on a batch in phases (read the state of the whole batch in
 * one pass, then decide event by event): an event whose value throws is rejected and takes no part in later
 * phases. `values[i]` belongs to `events[i]`.
 */
export function eachValue<T>(events: Event[], reject: Reject, fn: (event: Event) => T): { events: Event[]; values: T[] } {
  const kept: Event[] = [];
  const values: T[] = [];
  for (const event of events) {
    let value: T;
    try {
      value = fn(event);
    } catch (err) {
      reject(event, asError(err));
      continue;
    }
    kept.push(event);
    values.push(value);
  }
  return { events: kept, values };
}

export function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/**
 * `fn(events[i], values[i])` for every event, as `eachEvent` does (false drops, a throw rejects): the last phase
 * of a phased expert, applying what was found for each event.
 */
export function eachPair<T>(events: Event[], values: readonly T[], reject: Reject, fn: (event: Event, value: T) => boolean | void): Event[] {
  const kept: Event[] = [];
  for (let i = 0; i < events.length; i++) {
    const event = events[i]!;
    try {
      if (fn(event, values[i]!) !== false) kept.push(event);
    } catch (err) {
      reject(event, asError(err));
    }
  }
  return kept;
}
