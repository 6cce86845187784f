/**
 * The record side of the runner: each record the input side cut (runner.ts) is handed to the parser in
 * isolation, its fields become harmonised events (report fields, `raw`, `default_fields`), and it is counted as
 * parsed, skipped or rejected. A record that throws, or whose fields fail the ontology, is rejected with its
 * reason; a record is accepted or rejected whole.
 *
 * This is the agent's hot path (bench/parsers.bench.ts): no closures or copies per record, and values that are
 * already canonical are not sanitised again (see common/harmonization/event.ts).
 */
import { DICT_FIELD, fieldValue, isIgnorable, setField } from '../../../common/harmonization/index.js';
import { VigilError } from '../../../common/errors.js';
import { eventProblem } from '../../../common/limits.js';
import type { Fields, ParseContext, ParseRecord, ParserDefinition, SplitRecord } from './define.js';
import type { Event, ParseSink, ParseStats } from './runner.js';
import { EventShapes } from '../../../common/codec/shapes.js';

export class RecordStage {
  readonly #parser: ParserDefinition;
  readonly #ctx: ParseContext;
  readonly #sink: ParseSink;
  readonly #stats: ParseStats;
  /** Report fields every event starts from. */
  readonly #base: Event;
  readonly #defaults: Event;
  readonly #hasDefaults: boolean;
  readonly #skipRecords: number;
  /** Hold each record back until the next one arrives, so that the last one is known (`ParseRecord.last`). */
  readonly #lookAhead: boolean;
  #held = false;
  #heldText = '';
  #heldValue: unknown = undefined;
  #heldFailure: unknown = undefined;
  #heldFailed = false;
  /** Scratch for the event being built (#build), reused from record to record. */
  readonly #keys: string[] = [];
  readonly #values: unknown[] = [];
  readonly #shapes = new EventShapes();

  constructor(parser: ParserDefinition, ctx: ParseContext, sink: ParseSink, stats: ParseStats, base: Event, defaults: Event, skipRecords: number, lookAhead: boolean) {
    this.#parser = parser;
    this.#ctx = ctx;
    this.#sink = sink;
    this.#stats = stats;
    this.#base = base;
    this.#defaults = defaults;
    this.#hasDefaults = Object.keys(defaults).length > 0;
    this.#skipRecords = skipRecords;
    this.#lookAhead = lookAhead;
  }

  /** Records cut by the parser's own `split`/`records`; if the cutting throws, the rest is one rejected record. */
  cut(make: () => Iterable<SplitRecord>, text: string): void {
    let iterator: Iterator<SplitRecord>;
    try {
      iterator = make()[Symbol.iterator]();
    } catch (err) {
      this.fail(text, err);
      return;
    }
    for (;;) {
      let next: IteratorResult<SplitRecord>;
      try {
        next = iterator.next();
        if (next.done) return;
        if (typeof next.value?.text !== 'string') throw new VigilError('VIGIL_E_RECORD', 'the parser cut a record without text');
      } catch (err) {
        this.fail(text, err);
        return;
      }
      this.emit(next.value.text, next.value.value);
    }
  }

  /** At the end of the report: the record held back is the last one. */
  finish(): void {
    if (this.#held) this.#process(true);
  }

  /**
   * A record, parsed now or — with `lookAhead` — held back until the next one arrives (or the report ends), so
   * that the last one is known.
   */
  emit(text: string, value: unknown): void {
    this.#hold(text, value, false, undefined);
  }

  /** A record that failed before the parser saw it (not JSON, a throwing onComment, …): rejected in its turn. */
  fail(text: string, err: unknown): void {
    this.#hold(text, undefined, true, err);
  }

  #hold(text: string, value: unknown, failed: boolean, failure: unknown): void {
    if (this.#held) this.#process(false);
    this.#held = true;
    this.#heldText = text;
    this.#heldValue = value;
    this.#heldFailed = failed;
    this.#heldFailure = failure;
    if (!this.#lookAhead) this.#process(false);
  }

  #process(last: boolean): void {
    this.#held = false;
    const text = this.#heldText;
    const value = this.#heldValue;
    this.#heldValue = undefined; // not kept alive until the next record
    const index = this.#stats.records++;
    if (index < this.#skipRecords) {
      this.#stats.skipped++;
      return;
    }
    if (this.#heldFailed) {
      this.#reject(index, text, this.#heldFailure);
      this.#heldFailure = undefined;
      return;
    }
    let single: Event | undefined;
    let events: Event[] | undefined;
    try {
      const record: ParseRecord = { value, text, index, last };
      const out = this.#parser.parse(record, this.#ctx);
      if (out === null || out === undefined) {
        this.#stats.skipped++;
        return;
      }
      if (Array.isArray(out)) {
        if (out.length === 0) {
          this.#stats.skipped++;
          return;
        }
        events = new Array<Event>(out.length);
        for (let i = 0; i < out.length; i++) events[i] = this.#build(out[i]!, record);
      } else {
        single = this.#build(out, record); // no array for the usual one event per record
      }
    } catch (err) {
      this.#reject(index, text, err);
      return;
    }
    // Emitted only once every event of the record was built: a record is accepted or rejected whole.
    this.#stats.parsed++;
    if (single !== undefined) {
      this.#stats.events++;
      this.#sink.event(single);
      return;
    }
    this.#stats.events += events!.length;
    for (let i = 0; i < events!.length; i++) this.#sink.event(events![i]!);
  }

  #build(fields: Fields, record: ParseRecord): Event {
    // The event's keys and values are collected first, then made into one object (common/codec/shapes.ts: a fast-mode object
    // instead of the hash table that storing 16+ keys one by one would give). Same order and values as storing
    // them one by one with setField: report fields first, a parser field replacing a report field in its place.
    const keys = this.#keys;
    const values = this.#values;
    const base = this.#base;
    let n = 0;
    for (const key in base) {
      keys[n] = key;
      values[n++] = base[key];
    }
    const baseCount = n;
    // Once a dict field (`extra` given whole) is met, the event is made and the rest is stored key by key.
    let stored: Event | undefined;
    let rawText: unknown;
    for (const key in fields) {
      const value = fields[key];
      if (key === 'raw') {
        rawText = value;
        continue;
      }
      if (isIgnorable(value)) continue;
      if (stored !== undefined) {
        setField(stored, key, value);
        continue;
      }
      const clean = fieldValue(key, value);
      if (clean === DICT_FIELD) {
        stored = this.#shapes.make(keys, values, n);
        setField(stored, key, value);
        continue;
      }
      let at = n;
      if (baseCount > 0 && base[key] !== undefined) at = keys.indexOf(key);
      keys[at] = key;
      values[at] = clean;
      if (at === n) n++;
    }
    if (rawText === undefined) rawText = this.#parser.raw ? this.#parser.raw(record, this.#ctx) : record.text;
    const raw = base64(typeof rawText === 'string' ? rawText : String(rawText));
    const defaults = this.#defaults;
    let event: Event;
    if (stored === undefined) {
      keys[n] = 'raw';
      values[n++] = raw;
      if (this.#hasDefaults) {
        for (const key in defaults) {
          if (keys.lastIndexOf(key, n - 1) >= 0) continue;
          keys[n] = key;
          values[n++] = defaults[key];
        }
      }
      event = this.#shapes.make(keys, values, n);
    } else {
      stored.raw = raw;
      if (this.#hasDefaults) for (const key in defaults) if (!(key in stored)) stored[key] = defaults[key];
      event = stored;
    }
    values.fill(undefined, 0, n); // not kept alive until the next record
    return this.#checked(event);
  }

  #checked(event: Event): Event {
    // The one place events are finished: an event over a size limit is a rejected record here, so nothing later
    // (the batch encoder, the hub) meets one it cannot take. One pass over the keys, no allocation: ~150 ns for a
    // 10-field event (measured), about 1 % of the runner's time per event; packing it to check costs ~30× that.
    const problem = eventProblem(event);
    if (problem !== undefined) throw new VigilError('VIGIL_E_LIMIT', `event over a limit: ${problem}`);
    return event;
  }

  #reject(index: number, text: string, err: unknown): void {
    this.#stats.rejected++;
    this.#sink.reject({ index, text, reason: messageOf(err), code: codeOf(err) });
  }
}

// Most raw texts are a short line: encoded through one reused buffer instead of a new Buffer per event.
const SCRATCH = Buffer.allocUnsafe(16 * 1024);

/** Standard base64 of the UTF-8 text. */
function base64(text: string): string {
  // At most 3 UTF-8 bytes per UTF-16 unit, so a text this short always fits the scratch buffer.
  if (text.length * 3 <= SCRATCH.length) return SCRATCH.toString('base64', 0, SCRATCH.write(text, 0, 'utf8'));
  return Buffer.from(text, 'utf8').toString('base64');
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function codeOf(err: unknown): string {
  return err instanceof VigilError ? err.code : 'VIGIL_E_RECORD';
}
