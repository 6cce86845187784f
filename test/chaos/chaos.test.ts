/**
 * The chaos run at CI size (about a minute): 20,000 events through tail + spool → agent → TCP proxy → hub →
 * file + postgresql, with 10 SIGKILLs of the agent, 10 of the hub and 10 link faults. The seed is random and
 * printed (replay: VIGIL_CHAOS_SEED=<seed>, or `npm run chaos -- --seed <seed> --events 20000 --kills 10`).
 * The checker itself is tested first, so a passing run means something.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { tempDir } from '../helpers/processes.js';
import { checkFile, eventLine } from './check.js';
import { runChaos } from './run.js';

describe('chaos', () => {
  it('the checker sees missing, duplicated, corrupt and foreign events', async () => {
    const dir = tempDir('vigil-chaos-check-');
    const file = join(dir, 'out.jsonl');
    const row = (n: number, mutate?: (e: Record<string, unknown>) => void): string => {
      const line = eventLine(n, 'tail', 1700000000000 + n, `pad${n}`);
      const e = { ...(JSON.parse(line) as Record<string, unknown>), raw: Buffer.from(line).toString('base64') };
      mutate?.(e);
      return JSON.stringify(e);
    };
    // 0 ok, 1 twice, 2 missing, 3 with a changed pad, 4 with a raw that does not match, 9 beyond N.
    const rows = [row(0), row(1), row(1), row(3, (e) => (e['extra.pad'] = 'changed')), row(4, (e) => (e.raw = Buffer.from('x').toString('base64'))), row(9)];
    writeFileSync(file, `${rows.join('\n')}\n`);
    const c = await checkFile(file, 5);
    assert.deepEqual(c, { name: 'file', rows: 6, distinct: 2, duplicates: 1, missing: 3, corrupt: 2, unknown: 1 });
  });

  it('delivers every event exactly once, intact, through SIGKILLs of agent and hub and link faults', { timeout: 300_000 }, async (t) => {
    const seed = process.env.VIGIL_CHAOS_SEED ? Number(process.env.VIGIL_CHAOS_SEED) : Math.floor(Math.random() * 2 ** 31);
    t.diagnostic(`seed ${seed} (replay: VIGIL_CHAOS_SEED=${seed})`);
    const lines: string[] = [];
    const result = await runChaos({ events: 20_000, kills: 10, linkFaults: 10, seed, log: (l) => lines.push(l) });
    for (const l of lines) t.diagnostic(l);
    for (const note of result.notes) t.diagnostic(`note: ${note}`);
    assert.ok(result.agentKills >= 10 && result.hubKills >= 10, `kills: agent ${result.agentKills}, hub ${result.hubKills}`);
    for (const c of result.outputs) {
      assert.deepEqual(
        { rows: c.rows, distinct: c.distinct, missing: c.missing, duplicates: c.duplicates, corrupt: c.corrupt, unknown: c.unknown },
        { rows: 20_000, distinct: 20_000, missing: 0, duplicates: 0, corrupt: 0, unknown: 0 },
        `output ${c.name} (seed ${seed}, run directory ${result.dir})`,
      );
    }
    assert.ok(result.ok);
  });
});
