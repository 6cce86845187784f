/**
 * When a collector runs: a node-cron expression (5 fields, or 6 with seconds) in an optional time zone, and
 * once at start-up unless told otherwise. Runs never overlap: a run still going when the next is due is let
 * finish and the due run is skipped.
 */
import Type from 'typebox';
import type { Logger } from 'pino';

export const ScheduleParams = {
  schedule: Type.Optional(Type.String({ description: "node-cron expression, e.g. '0 */6 * * *' (every 6 hours); without it the collector runs once at start." })),
  timezone: Type.Optional(Type.String({ description: 'IANA time zone of the schedule (default: the system time zone), e.g. Europe/Vienna.' })),
  run_at_start: Type.Boolean({ default: true, description: 'Also run once when the agent starts.' }),
};

export interface Scheduled {
  stop(): Promise<void>;
}

type CronModule = typeof import('node-cron');
let cronModule: Promise<CronModule> | undefined;

/** Validates a cron expression (config check). */
export async function checkCron(expression: string): Promise<string | undefined> {
  const cron = await (cronModule ??= import('node-cron'));
  return cron.validate(expression) ? undefined : `'${expression}' is not a valid cron expression`;
}

/**
 * Makes `run` one at a time: a call while a run is going waits for it, then runs. A collector's `runOnce` (tests,
 * `vigil agent --once`) and its schedule share one such run, so two runs never read and store the same data at once.
 */
export function oneAtATime(run: () => Promise<void>): () => Promise<void> {
  let last: Promise<void> = Promise.resolve();
  return () => (last = last.then(run, run));
}

export async function schedule(params: { schedule?: string; timezone?: string; run_at_start: boolean }, run: () => Promise<void>, log: Logger): Promise<Scheduled> {
  let running: Promise<void> | undefined;
  let stopped = false;
  const fire = (): void => {
    if (stopped) return;
    if (running) {
      log.warn('The previous run is still going; skipping this one.');
      return;
    }
    running = run().finally(() => {
      running = undefined;
    });
  };
  let task: { stop(): void | Promise<void>; destroy(): void | Promise<void> } | undefined;
  if (params.schedule) {
    const cron = await (cronModule ??= import('node-cron'));
    task = cron.schedule(params.schedule, fire, { timezone: params.timezone, name: undefined, noOverlap: true });
  }
  if (params.run_at_start || !params.schedule) fire();
  return {
    async stop() {
      stopped = true;
      await task?.destroy();
      await running;
    },
  };
}

/**
 * A collector's life around a scheduled `run` (made with `oneAtATime`): started on its schedule, `runOnce` for tests
 * and `--once`; `stop` ends the schedule, tells the collector to cut its run short (`onStop`), waits for a run
 * under way (a new one returns at once), then closes what the collector holds.
 */
export function scheduledLife(
  params: { schedule?: string; timezone?: string; run_at_start: boolean },
  run: () => Promise<void>,
  log: Logger,
  hooks: { onStop(): void; close?(): Promise<void> },
): { start(): Promise<void>; runOnce(): Promise<void>; stop(): Promise<void> } {
  let scheduled: Scheduled | undefined;
  return {
    async start() {
      scheduled = await schedule(params, run, log);
    },
    runOnce: run,
    async stop() {
      hooks.onStop();
      await scheduled?.stop();
      await run();
      await hooks.close?.();
    },
  };
}
