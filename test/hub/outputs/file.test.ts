import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import file from '../../../hub/outputs/file.js';
import { compileTemplate, strftime } from '../../../hub/outputs/_template.js';
import type { ComponentContext, Event, Output } from '../../../hub/pipeline/define.js';
import { readJsonLines } from '../../helpers/processes.js';
import { context, createOutput, runnerRig, sample, scratch } from './_support.js';

async function opened(params: Record<string, unknown>, ctx: ComponentContext, checkpoint?: unknown): Promise<Output> {
  const out = await createOutput(file, params, ctx);
  await out.open?.(checkpoint);
  return out;
}

const lines = (path: string): Event[] => readJsonLines(path);

describe('file output templates', () => {
  it('renders fields, dates (strftime, UTC) and IntelMQ-style {event[...]} references', () => {
    const t = compileTemplate('x/{feed.name}/{time.observation:%Y-%m-%d %H%M%S %j W%W %G-W%V-%u %%}/{event[source.ip]}{{}}', { missing: 'none', sanitize: (s) => s });
    assert.equal(t.render({ 'feed.name': 'Feed', 'time.observation': '2024-01-01T23:30:00+00:00', 'source.ip': '192.0.2.1' }), 'x/Feed/2024-01-01 233000 001 W01 2024-W01-1 %/192.0.2.1{}');
    assert.equal(t.render({}), 'x/none/none/none{}');
    assert.equal(strftime(new Date('2021-01-03T00:00:00Z'), '%W %G-%V'), '00 2020-53');
    assert.equal(t.isStatic, false);
    assert.equal(compileTemplate('a/b.jsonl', { missing: '', sanitize: (s) => s }).isStatic, true);
  });

  it('refuses unknown fields and broken braces at start-up', () => {
    const opts = { missing: '', sanitize: (s: string) => s };
    assert.throws(() => compileTemplate('{feed.nme}', opts), /'feed.nme' is not a field/);
    assert.throws(() => compileTemplate('{feed.name', opts), /never closed/);
    assert.throws(() => compileTemplate('a}b', opts), /lone '}'/);
  });
});

describe('file output', () => {
  it('appends JSON lines and cuts an uncommitted batch off on restart (one file, legacy checkpoint too)', async () => {
    const dir = scratch();
    const ctx = context(dir);
    const path = join(dir, 'events.jsonl');
    let out = await opened({ path: 'events.jsonl' }, ctx);
    const a = sample(3);
    const b = sample(2);
    const cp = await out.write(a.events, a.ids);
    await out.write(b.events, b.ids); // written, but the runner never committed it (crash)
    await out.close?.();
    assert.equal(lines(path).length, 5);
    out = await opened({ path: 'events.jsonl' }, ctx, cp);
    assert.deepEqual(lines(path), a.events, 'the uncommitted batch was cut off');
    await out.write(b.events, b.ids);
    await out.close?.();
    assert.deepEqual(lines(path), [...a.events, ...b.events]);
    // The checkpoint of the one-file version ({ path, size }) is still understood.
    const committed = statSync(path).size;
    writeFileSync(path, '{"half":', { flag: 'a' });
    out = await opened({ path: 'events.jsonl' }, ctx, { path, size: committed });
    await out.close?.();
    assert.equal(statSync(path).size, committed);
  });

  it('writes each event to the file its template names, and keeps event values inside the directory', async () => {
    const dir = scratch();
    const out = await opened({ path: 'out/{feed.name}/{time.source:%Y-%m-%d}.jsonl' }, context(dir));
    const a = sample(2, { 'feed.name': 'Alpha' });
    const b = sample(1, { 'feed.name': 'Beta', 'time.source': '2024-03-06T01:00:00+00:00' });
    const evil = sample(1, { 'feed.name': '../../etc' });
    const dots = sample(1, { 'feed.name': '..' });
    const none = sample(1);
    delete none.events[0]!['time.source'];
    await out.write([...a.events, ...b.events, ...evil.events, ...dots.events, ...none.events], [...a.ids, ...b.ids, ...evil.ids, ...dots.ids, ...none.ids]);
    await out.close?.();
    assert.deepEqual(lines(join(dir, 'out/Alpha/2024-03-04.jsonl')), a.events);
    assert.deepEqual(lines(join(dir, 'out/Beta/2024-03-06.jsonl')), b.events);
    assert.deepEqual(lines(join(dir, 'out/.._.._etc/2024-03-04.jsonl')), evil.events);
    assert.deepEqual(lines(join(dir, 'out/_/2024-03-04.jsonl')), dots.events);
    assert.deepEqual(lines(join(dir, 'out/Test Feed/unknown.jsonl')), none.events);
    assert.ok(readdirSync(dir).every((d) => d === 'out' || d === 'data'), 'nothing was written outside out/');
  });

  it('rotates by size into numbered parts without splitting a line, and carries on with the highest part after a restart', async () => {
    const dir = scratch();
    const ctx = context(dir);
    const { events, ids } = sample(10);
    const lineBytes = Buffer.byteLength(`${JSON.stringify(Object.fromEntries(Object.entries(events[0]!).sort()))}\n`);
    let out = await opened({ path: 'ev.jsonl', max_bytes: lineBytes * 3 + 10 }, ctx);
    let cp = await out.write(events.slice(0, 7), ids.slice(0, 7));
    await out.close?.();
    assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith('ev')).sort(), ['ev.1.jsonl', 'ev.2.jsonl', 'ev.jsonl']);
    assert.equal(lines(join(dir, 'ev.jsonl')).length, 3);
    assert.equal(lines(join(dir, 'ev.1.jsonl')).length, 3);
    assert.equal(lines(join(dir, 'ev.2.jsonl')).length, 1);
    out = await opened({ path: 'ev.jsonl', max_bytes: lineBytes * 3 + 10 }, ctx, cp);
    cp = await out.write(events.slice(7), ids.slice(7));
    await out.close?.();
    assert.equal(lines(join(dir, 'ev.2.jsonl')).length, 3);
    assert.equal(lines(join(dir, 'ev.3.jsonl')).length, 1);
    const all = ['ev.jsonl', 'ev.1.jsonl', 'ev.2.jsonl', 'ev.3.jsonl'].flatMap((f) => lines(join(dir, f)));
    assert.deepEqual(all, events);
    // A line larger than max_bytes gets a part of its own.
    const dir2 = scratch();
    const big = await opened({ path: 'big.jsonl', max_bytes: 10 }, context(dir2));
    await big.write(events.slice(0, 2), ids.slice(0, 2));
    await big.close?.();
    assert.deepEqual(readdirSync(dir2).filter((f) => f.startsWith('big')).sort(), ['big.1.jsonl', 'big.jsonl']);
  });

  it('undoes an uncommitted batch in every file after a crash: files it extended are cut back, files it created are removed', async () => {
    const dir = scratch();
    const ctx = context(dir);
    const params = { path: 'out/{feed.name}.jsonl', max_bytes: 4000 };
    let out = await opened(params, ctx);
    const a1 = sample(3, { 'feed.name': 'A' });
    const cp = await out.write(a1.events, a1.ids);
    // The next batch extends A, creates B, and rotates A into a new part; then the hub dies before the commit.
    const a2 = sample(30, { 'feed.name': 'A' });
    const b = sample(2, { 'feed.name': 'B' });
    await out.write([...a2.events, ...b.events], [...a2.ids, ...b.ids]);
    await out.close?.();
    assert.ok(existsSync(join(dir, 'out/B.jsonl')) && existsSync(join(dir, 'out/A.1.jsonl')));
    out = await opened(params, ctx, cp);
    assert.deepEqual(readdirSync(join(dir, 'out')).sort(), ['A.jsonl']);
    assert.deepEqual(lines(join(dir, 'out/A.jsonl')), a1.events);
    // The runner writes the batch again: everything exactly once.
    await out.write([...a2.events, ...b.events], [...a2.ids, ...b.ids]);
    await out.close?.();
    const aFiles = readdirSync(join(dir, 'out')).filter((f) => f.startsWith('A.')).sort((x, y) => x.length - y.length || x.localeCompare(y));
    assert.deepEqual(aFiles.flatMap((f) => lines(join(dir, 'out', f))), [...a1.events, ...a2.events]);
    assert.deepEqual(lines(join(dir, 'out/B.jsonl')), b.events);
  });

  it('cuts back a file it had closed when an uncommitted batch appended a late event to it', async () => {
    const dir = scratch();
    const ctx = context(dir);
    const params = { path: '{time.source:%Y-%m-%d}.jsonl', max_open_files: 1 };
    let out = await opened(params, ctx);
    const day1 = sample(2, { 'time.source': '2024-01-01T10:00:00+00:00' });
    const day2 = sample(2, { 'time.source': '2024-01-02T10:00:00+00:00' });
    await out.write(day1.events, day1.ids);
    const cp = await out.write(day2.events, day2.ids); // day 1's file is closed now (max_open_files 1)
    assert.deepEqual(Object.keys((cp as { files: object }).files), [join(dir, '2024-01-02.jsonl')]);
    const late = sample(1, { 'time.source': '2024-01-01T23:00:00+00:00' });
    await out.write(late.events, late.ids); // never committed
    await out.close?.();
    assert.equal(lines(join(dir, '2024-01-01.jsonl')).length, 3);
    out = await opened(params, ctx, cp);
    await out.close?.();
    assert.deepEqual(lines(join(dir, '2024-01-01.jsonl')), day1.events);
    assert.deepEqual(lines(join(dir, '2024-01-02.jsonl')), day2.events);
  });

  it('undoes a first batch that was never committed, but never touches committed data when the cursor is reset', async () => {
    const dir = scratch();
    const ctx = context(dir);
    const path = join(dir, 'events.jsonl');
    let out = await opened({ path: 'events.jsonl' }, ctx);
    const a = sample(2);
    await out.write(a.events, a.ids); // the very first batch, not committed (no checkpoint stored yet)
    await out.close?.();
    out = await opened({ path: 'events.jsonl' }, ctx, undefined);
    assert.equal(existsSync(path), false, 'the file the uncommitted first batch created is gone');
    await out.write(a.events, a.ids);
    const b = sample(2);
    await out.write(b.events, b.ids); // batch 1 is committed now: its intent is dropped
    await out.close?.();
    // An operator resets the hub's cursors: nothing is known, so nothing is cut.
    out = await opened({ path: 'events.jsonl' }, ctx, undefined);
    await out.close?.();
    assert.deepEqual(lines(path), [...a.events, ...b.events]);
  });

  it('undoes a batch that failed half-way before the retry, so the retry writes it exactly once', async () => {
    const dir = scratch();
    const out = await opened({ path: 'out/{feed.name}/events.jsonl' }, context(dir));
    const ok = sample(2, { 'feed.name': 'ok' });
    const bad = sample(2, { 'feed.name': 'bad' });
    mkdirSync(join(dir, 'out'), { recursive: true });
    writeFileSync(join(dir, 'out/bad'), 'a file where a directory should be');
    const events = [...ok.events, ...bad.events];
    const ids = [...ok.ids, ...bad.ids];
    await assert.rejects(out.write(events, ids), /EEXIST|ENOTDIR/);
    assert.equal(existsSync(join(dir, 'out/ok/events.jsonl')), false, 'the part written before the failure was removed');
    rmSync(join(dir, 'out/bad'));
    await out.write(events, ids);
    await out.close?.();
    assert.deepEqual(lines(join(dir, 'out/ok/events.jsonl')), ok.events);
    assert.deepEqual(lines(join(dir, 'out/bad/events.jsonl')), bad.events);
  });

  it('writes every batch exactly once through the OutputRunner', async () => {
    const dir = scratch();
    const ctx = context(dir);
    const out = await createOutput(file, { path: 'events.jsonl' }, ctx);
    const rig = await runnerRig(out);
    const batches = [sample(5), sample(5), sample(5)];
    for (const b of batches) await rig.add(b);
    await rig.drained();
    await rig.stop();
    assert.deepEqual(lines(join(dir, 'events.jsonl')), batches.flatMap((b) => b.events));
    assert.equal(readFileSync(join(dir, 'events.jsonl'), 'utf8').split('\n').length, 16);
  });
});
