/**
 * The chaos runs' fault schedule: every time and choice drawn up front from the run's seeded PRNG (so the schedule
 * depends on the seed only, not on how the lanes interleave), then played by lanes that run side by side — one per
 * kind of fault, each one fault at a time.
 */
import { sleep } from './processes.js';
import type { ChaosProxy } from './proxy.js';

export interface KillStep {
  at: number;
  /** Which of the lane's processes (0 when it has one). */
  target: number;
  /** How long it stays down, in ms. */
  downMs: number;
  /** A process restarted less than this long ago (ms) is given the rest first: some kills land during start-up. */
  minUpMs: number;
}

export type LinkFault = 'cut' | 'refuse' | 'stall';

export interface LinkStep {
  at: number;
  target: number;
  kind: LinkFault;
  /** How long a refusal or a stall lasts, in ms. */
  forMs: number;
}

/** `count` moments, sorted, spread over the fault phase (half a second clear of either end). */
export function faultTimes(rnd: () => number, count: number, phaseStart: number, phaseMs: number): number[] {
  return Array.from({ length: count }, () => phaseStart + 500 + rnd() * (phaseMs - 1000)).sort((a, b) => a - b);
}

export function killPlan(rnd: () => number, times: number[], o: { maxDownMs: number; maxMinUpMs: number; targets?: number }): KillStep[] {
  return times.map((at) => {
    const downMs = 100 + rnd() * (o.maxDownMs - 100);
    const minUpMs = rnd() * o.maxMinUpMs;
    // Drawn only with a choice to make, so a single-process lane replays the schedules of older versions.
    const target = (o.targets ?? 1) > 1 ? Math.floor(rnd() * o.targets!) : 0;
    return { at, target, downMs, minUpMs };
  });
}

export function linkPlan(rnd: () => number, times: number[], targets = 1): LinkStep[] {
  return times.map((at) => {
    const kind = (['cut', 'refuse', 'stall'] as const)[Math.floor(rnd() * 3)]!;
    const forMs = 200 + rnd() * 2800;
    const target = targets > 1 ? Math.floor(rnd() * targets) : 0;
    return { at, target, kind, forMs };
  });
}

export interface KillTarget {
  /** When the process (target `i`) was last started, ms since the epoch. */
  startedAt(i: number): number;
  /** Runs just before the kill, after the step's time and head start (e.g. freezes the process for a while). */
  beforeKill?(step: KillStep): Promise<void>;
  kill(i: number): Promise<void>;
  restart(i: number): Promise<void>;
}

/** Plays a kill plan: SIGKILL, the pause, the restart; one step after the other, so one process is down at a time. */
export async function runKillLane(plan: readonly KillStep[], target: KillTarget, onKill: (step: KillStep) => void): Promise<void> {
  for (const step of plan) {
    await sleep(Math.max(0, step.at - Date.now()));
    await sleep(Math.max(0, target.startedAt(step.target) + step.minUpMs - Date.now()));
    await target.beforeKill?.(step);
    await target.kill(step.target);
    onKill(step);
    await sleep(step.downMs);
    await target.restart(step.target);
  }
}

export interface LinkCounts {
  cuts: number;
  refusals: number;
  stalls: number;
}

/** Plays a link plan on the proxies: a cut is at once; a refusal (which also cuts) or a stall lasts forMs. */
export async function runLinkLane(plan: readonly LinkStep[], proxies: readonly ChaosProxy[], counts: LinkCounts): Promise<void> {
  for (const step of plan) {
    await sleep(Math.max(0, step.at - Date.now()));
    const proxy = proxies[step.target]!;
    if (step.kind === 'cut') {
      proxy.cut();
      counts.cuts++;
      continue;
    }
    if (step.kind === 'refuse') {
      proxy.refuse();
      proxy.cut();
      counts.refusals++;
    } else {
      proxy.stall();
      counts.stalls++;
    }
    await sleep(step.forMs);
    proxy.restore();
  }
}
