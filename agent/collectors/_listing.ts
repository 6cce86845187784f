/**
 * What the collectors that list a source and take each listed item once share (microsoft_azure's blobs,
 * microsoft_interflow's files): the items taken (name → version: an ETag, a modification time) are collector state,
 * saved atomically with each report's last events, and forgotten once the source no longer lists them — so the state
 * stays as small as the listing, and an item listed again under a new version is taken again. Each new item is
 * fetched to a file in the work directory, decompressed when it is gzip, and stored as one report.
 *
 * Failures: a fetch that fails is left for the next run (the item is not remembered); an item whose bytes can never
 * be read — a broken gzip stream, over a size cap (`Unreadable`) — is rejected with the reason, counted, and
 * remembered, so that version is not fetched again.
 */
import { createReadStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { isZlibError, PermanentError, removeUnpacked, unpack } from './_download.js';
import type { CollectorContext } from './define.js';

/** One listed item: its name, and what changes when its bytes change. */
export interface ListedItem {
  name: string;
  version: string;
}

/** Thrown by `fetch` for an item that can never be read as it is (over a size cap): rejected, not tried again. */
export class Unreadable extends Error {}

export interface TakeOptions<I extends ListedItem> {
  /** The state key, e.g. `microsoft_azure`. */
  stateKey: string;
  /** What an item is called in messages: 'blob', 'file'. */
  noun: string;
  /**
   * Writes the item's bytes to `file`; resolves with the digest naming this version's bytes, or undefined when the
   * item holds nothing to store (it is remembered all the same).
   */
  fetch(item: I, file: string): Promise<string | undefined>;
  /** The report fields of the item's report (extra.file_name, feed.url). */
  report(item: I): Record<string, unknown>;
  maxExtractedBytes: number;
  /** Whether the collector is stopping: no new item is begun. */
  stopping(): boolean;
  /** Runs for every item stored (now or before) while it is listed, e.g. deleting it; a failure is a run failure. */
  afterStored?(item: I): Promise<void>;
}

export interface TakeResult {
  events: number;
  rejects: { reason: string; text: string }[];
  /** What failed and is tried again next run, one sentence each. */
  failures: string[];
}

/** Takes the items of `listed` not taken before in this version; see the module header. */
export async function takeListed<I extends ListedItem>(ctx: CollectorContext, listed: readonly I[], options: TakeOptions<I>): Promise<TakeResult> {
  const { stateKey, noun } = options;
  const result: TakeResult = { events: 0, rejects: [], failures: [] };
  mkdirSync(ctx.workDir, { recursive: true });
  const before = (await ctx.getState<{ taken?: Record<string, string> }>(stateKey))?.taken ?? {};
  const taken: Record<string, string> = Object.fromEntries(listed.filter((i) => before[i.name] !== undefined).map((i) => [i.name, before[i.name]!]));
  if (Object.keys(taken).length !== Object.keys(before).length) await ctx.saveState(stateKey, { taken });
  const after = async (item: I): Promise<void> => {
    if (!options.afterStored) return;
    await options.afterStored(item).catch((err: Error) => void result.failures.push(`after storing ${noun} ${item.name}: ${err.message}`));
  };
  /** This version reads the same way every time: rejected, and remembered so it is not fetched again. */
  const reject = async (item: I, err: Error): Promise<void> => {
    result.rejects.push({ reason: `${noun} '${item.name}' cannot be read: ${err.message}`, text: item.name });
    taken[item.name] = item.version;
    await ctx.saveState(stateKey, { taken });
    ctx.log.warn({ [noun]: item.name, err: err.message }, `A ${noun} that cannot be read is rejected.`);
  };
  for (const item of listed) {
    if (options.stopping()) break;
    if (taken[item.name] === item.version) {
      await after(item);
      continue;
    }
    const file = join(ctx.workDir, `${noun}.part`);
    try {
      let digest: string | undefined;
      let path: string;
      try {
        digest = await options.fetch(item, file);
      } catch (err) {
        if (!(err instanceof Unreadable)) {
          result.failures.push(`${noun} ${item.name}: ${(err as Error).message}`);
          ctx.log.error({ [noun]: item.name, err: (err as Error).message }, `Fetching a ${noun} failed; the next run tries again.`);
          continue;
        }
        await reject(item, err);
        continue;
      }
      if (digest === undefined) {
        taken[item.name] = item.version;
        await ctx.saveState(stateKey, { taken });
        continue;
      }
      try {
        const unpacked = await unpack(file, item.name, undefined, options.maxExtractedBytes);
        if (unpacked.kind !== 'file') throw new Unreadable('a zip archive, not a report');
        path = unpacked.path;
      } catch (err) {
        if (!(err instanceof Unreadable || err instanceof PermanentError || isZlibError(err))) throw err;
        await reject(item, err as Error);
        continue;
      }
      const stats = await ctx.ingest(createReadStream(path), options.report(item), { digest, state: { [stateKey]: { taken: { ...taken, [item.name]: item.version } } } });
      taken[item.name] = item.version;
      result.events += stats.events;
      ctx.log.info({ [noun]: item.name, events: stats.events }, `Stored the ${noun} ${item.name}.`);
    } finally {
      await removeUnpacked(file);
    }
    await after(item);
  }
  return result;
}
