/**
 * Gives memory back to the system once the hub goes quiet after a burst.
 *
 * V8 shrinks its heap only while it collects garbage, and an idle process collects nothing: after taking or draining
 * a backlog at full speed the hub would keep the young generation (up to 32 MiB with the systemd unit's
 * --max-semi-space-size=16) and the old generation the burst grew until the next burst comes. When the pipeline's
 * positions have not moved for `idleMs`, full collections hand them back: the first frees the old generation; V8
 * shrinks the young generation only in a collection that sees a low allocation rate over its last few seconds,
 * which a later one does. So a quiet spell gets ROUNDS collections, `idleMs` (at least 5 s) apart, of some tens of
 * milliseconds each, and a busy hub none.
 */
import { readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Logger } from 'pino';

const ROUNDS = 3;
const MIN_ROUND_GAP_MS = 5000;

export class IdleMemoryRelease {
  /** Quiet spells in which memory was released. */
  releases = 0;
  /** Full collections run so far (up to ROUNDS per quiet spell). */
  collections = 0;
  readonly #activity: () => number;
  readonly #idleMs: number;
  readonly #collect: () => void;
  readonly #log: Logger | undefined;
  #timer: NodeJS.Timeout | undefined;
  #last = Number.NaN;
  #quietSince = 0;
  #lastCollection = 0;
  // Collections still due in this quiet spell (start-up is a burst too).
  #due = ROUNDS;

  /**
   * @param activity a number that changes whenever the hub does work (the sum of its inbox and cursor positions)
   * @param collect the full collection (tests pass their own)
   */
  constructor(activity: () => number, options: { idleMs: number; log?: Logger; collect?: () => void }) {
    this.#activity = activity;
    this.#idleMs = options.idleMs;
    this.#collect = options.collect ?? fullCollection();
    this.#log = options.log;
  }

  start(): void {
    this.#timer = setInterval(() => this.check(), Math.max(100, Math.min(this.#idleMs / 4, 2500)));
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
  }

  /** One look at the activity (the timer calls it; exposed for tests). */
  check(now = Date.now()): void {
    const activity = this.#activity();
    if (activity !== this.#last) {
      this.#last = activity;
      this.#quietSince = now;
      this.#due = ROUNDS;
      return;
    }
    if (this.#due === 0 || now - this.#quietSince < this.#idleMs) return;
    const first = this.#due === ROUNDS;
    if (!first && now - this.#lastCollection < Math.max(this.#idleMs, MIN_ROUND_GAP_MS)) return;
    this.#due--;
    this.#lastCollection = now;
    const before = process.memoryUsage.rss();
    const started = performance.now();
    this.#collect();
    this.collections++;
    if (first) this.releases++;
    this.#log?.debug({ rssBefore: before, rssAfter: process.memoryUsage.rss(), ms: Math.round(performance.now() - started) }, 'Quiet: memory released.');
  }
}

/** V8's full collection: `gc` when node runs with --expose-gc, else the same function taken from a fresh context. */
export function fullCollection(): () => void {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (exposed) return exposed;
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  setFlagsFromString('--no-expose-gc');
  return gc;
}

/**
 * The malloc the process runs on, from the libraries mapped into it: 'jemalloc' (or another preloaded allocator) when
 * the unit's LD_PRELOAD took effect, else 'glibc' on Linux and 'system' elsewhere. The native heap (LevelDB, the
 * msgpack and TLS buffers) lives there, and with glibc it stays fragmented after a large backlog: the hub's RSS then
 * grows with the backlog it held (docs/performance.md).
 */
export function mallocName(): string {
  let maps: string;
  try {
    maps = readFileSync('/proc/self/maps', 'latin1');
  } catch {
    return 'system';
  }
  for (const name of ['jemalloc', 'tcmalloc', 'mimalloc']) if (maps.includes(`/lib${name}`)) return name;
  return maps.includes('/libc.so') || maps.includes('/libc-') ? 'glibc' : 'system';
}
