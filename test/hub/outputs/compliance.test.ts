/**
 * The outputs' shared harness, walked over the registry: every registered output must have a target here, and every
 * target goes through the same checks, with the output created as the hub creates it (parameters validated, its
 * declared counters registered at zero) and, where the runner is involved, the real OutputRunner (LevelDB cursor,
 * backoff, dead letters):
 *   (a) it delivers: a batch is read back from the target with IntelMQ's field names, valid against the ontology;
 *   (b) it keeps its `delivery` promise when a batch is delivered again — what the runner does after a crash between
 *       a write and the cursor's move (the checkpoint of the batch before it handed to a new instance): an
 *       `exactly-once` output leaves each event once, an `at-least-once` one loses none, and where the target keeps
 *       the event id, a copy carries the id its original had (so a receiver can drop it);
 *   (c) a failure that may pass (the target down, 503, 450) is retried until it passes, nothing dead-lettered; a
 *       refusal (400, a constraint every row violates, a revoked token, 550) is dead-lettered at once with its
 *       reason, after one attempt, and the output goes on once the target takes data again;
 *   (d) counters: the runner's standard ones add up, and the output keeps exactly the counters it declares.
 *
 * A target is a real server where the test helpers start one (PostgreSQL, Mosquitto, aiosmtpd), a local HTTP server
 * for the webhook, a local directory for files, and the fakes of the output tests (named so) where no server can be
 * installed (Elasticsearch, Splunk HEC). Each output's own test file covers what is particular to it.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse as parseCsv } from 'csv-parse/sync';
import { simpleParser } from 'mailparser';
import pg from 'pg';
import { validateEvent } from '../../../common/harmonization/index.js';
import type { ComponentContext, Event, OutputDefinition } from '../../../hub/pipeline/define.js';
import { outputs } from '../../../hub/pipeline/registry.js';
import { writeSynced } from '../../../hub/store/index.js';
import { startMosquitto } from '../../helpers/mosquitto.js';
import { startPostgres } from '../../helpers/postgres.js';
import { waitUntil } from '../../helpers/processes.js';
import { aiosmtpdInstalled, startSmtp } from '../../helpers/smtp.js';
import { FakeElasticsearch } from './_fake-elasticsearch.js';
import { FakeHec } from './_fake-hec.js';
import { context, createOutput, runnerRig, sample, scratch, tcpProxy, testServer, type RunnerRig } from './_support.js';

/** One event as the target holds it, with the id it was delivered under where the target keeps one. */
interface Held {
  id?: string;
  event: Event;
}

/** A way to make the target fail, and to end it. */
interface Switch {
  on(): Promise<void>;
  off(): Promise<void>;
}

interface Target {
  /** The output's parameters for this target. */
  params: Record<string, unknown>;
  /** Everything the target holds now, as IntelMQ events. */
  read(): Promise<Held[]>;
  /** A failure that may pass: the target down, busy, 503… */
  transient: Switch | { skip: string };
  /** A refusal retrying cannot change: 400, a constraint the rows violate, a revoked credential, 550… */
  refuse: Switch;
  close(): Promise<void>;
}

interface Entry {
  start(dir: string): Promise<Target>;
  /** The fields the target gives back (default: the whole event). */
  fields?: readonly string[];
  /** Fields every event needs for this output (a recipient). */
  extra?: Event;
  /**
   * For an output that sends and dead-letters in its own loop (ctx.deadLetter) after `write` took the batch: the
   * counters that tell a retry and a refusal. Otherwise the runner's write errors and the letter's attempts do.
   */
  ownLoop?: { retries(counters: Record<string, number>): number; refusals(counters: Record<string, number>): number };
  /** Declared counters after one batch of `n` events was delivered. */
  counters?(n: number): Record<string, number>;
  /** Why the target cannot run here (a server not installed). */
  skip?: () => string | false;
}

const ID_FIELD = 'vigil_id';

/** Splits `id_field` off what a target holds. */
function withId(doc: Record<string, unknown>): Held {
  const { [ID_FIELD]: id, ...event } = doc;
  return { id: id as string | undefined, event };
}

const ENTRIES: Record<string, Entry> = {
  // Real PostgreSQL behind a TCP relay: the relay going down is the server going away; a CHECK constraint added
  // NOT VALID refuses every new row (SQLSTATE 23514).
  postgresql: {
    async start() {
      const server = await startPostgres();
      const proxy = await tcpProxy(server.port);
      const db = new pg.Client({ host: server.host, port: server.port, user: server.user, database: server.database });
      await db.connect();
      return {
        params: { host: '127.0.0.1', port: proxy.port, user: server.user, database: server.database, sslmode: 'disable', table: 'compliance', create_table: true, timeout_ms: 5000 },
        async read() {
          const exists = (await db.query(`SELECT to_regclass('compliance') AS t`)).rows[0].t;
          if (!exists) return [];
          const rows = (await db.query('SELECT * FROM compliance ORDER BY id')).rows as Record<string, unknown>[];
          return rows.map(({ id: _serial, [ID_FIELD]: id, ...columns }) => ({ id: id as string, event: fromColumns(columns) }));
        },
        transient: { on: () => proxy.down(), off: () => proxy.up() },
        refuse: {
          on: async () => void (await db.query('ALTER TABLE compliance ADD CONSTRAINT compliance_refuses CHECK (false) NOT VALID')),
          off: async () => void (await db.query('ALTER TABLE compliance DROP CONSTRAINT compliance_refuses')),
        },
        async close() {
          await db.end();
          await proxy.close();
          await server.stop();
        },
      };
    },
  },
  // Real Mosquitto behind a TCP relay; the subscriber reading back connects to it directly. A refusal is the relay
  // sending the output to a second real Mosquitto that admits no anonymous client (CONNACK 5, not authorised).
  mqtt: {
    async start() {
      const broker = await startMosquitto();
      const proxy = await tcpProxy(broker.port);
      const { connectAsync } = await import('mqtt');
      const subscriber = await connectAsync(broker.url, { reconnectPeriod: 0 });
      const got: Held[] = [];
      subscriber.on('message', (_topic, payload) => got.push(withId(JSON.parse(payload.toString()) as Record<string, unknown>)));
      await subscriber.subscribeAsync('compliance/#', { qos: 1 });
      let locked: Awaited<ReturnType<typeof startMosquitto>> | undefined;
      return {
        params: { url: `mqtt://127.0.0.1:${proxy.port}`, topic: 'compliance/{feed.name}', id_field: ID_FIELD, timeout_ms: 3000 },
        read: async () => [...got],
        transient: { on: () => proxy.down(), off: () => proxy.up() },
        refuse: {
          async on() {
            locked ??= await startMosquitto({ extraConfig: ['allow_anonymous false'] });
            proxy.retarget(locked.port);
            // Let the output see its connection cut: a write on a connection closing under it fails as it should,
            // transient, and would be a retry before the refusal this check is about.
            await new Promise((r) => setTimeout(r, 200));
          },
          off: async () => proxy.retarget(broker.port),
        },
        async close() {
          await subscriber.endAsync();
          await proxy.close();
          await locked?.stop();
          await broker.stop();
        },
      };
    },
  },
  // A real SMTP server (aiosmtpd) over STARTTLS; the events come back from the CSV attached to the mails. The
  // notifier retries and dead-letters in its own loop, after `write` has put the batch into its ledger.
  email: {
    skip: () => (aiosmtpdInstalled() ? false : 'python3-aiosmtpd is not installed'),
    fields: ['source.ip', 'classification.type', 'feed.name', 'time.source'],
    extra: { 'source.abuse_contact': 'abuse@compliance.example' },
    ownLoop: { retries: (c) => c.smtp_transient!, refusals: (c) => c.smtp_rejected! },
    counters: (n) => ({ events_taken: n, events_notified: n, sent: 1 }),
    async start() {
      const smtp = await startSmtp();
      const recipient = 'abuse@compliance.example';
      return {
        params: {
          mail_from: 'cert@cert.example', smtp_host: smtp.host, smtp_port: smtp.port, ca_file: smtp.ca.cert, window_seconds: 0, group_by: [],
          fields: ['source.ip', 'classification.type', 'feed.name', 'time.source'], initial_backoff_ms: 50, max_backoff_ms: 200, timeout_ms: 5000,
        },
        async read() {
          const held: Held[] = [];
          for (const raw of smtp.messages()) {
            const mail = await simpleParser(raw);
            for (const a of mail.attachments) held.push(...(parseCsv(a.content, { columns: true }) as Event[]).map((event) => ({ event })));
          }
          return held;
        },
        transient: { on: async () => smtp.control({ answers: { [recipient]: '450 4.2.0 Mailbox busy' } }), off: async () => smtp.control({}) },
        refuse: { on: async () => smtp.control({ answers: { [recipient]: '550 5.1.1 No such user here' } }), off: async () => smtp.control({}) },
        close: () => smtp.stop(),
      };
    },
  },
  // The FAKE Elasticsearch of elasticsearch.test.ts: 503 for the whole bulk request, or 400.
  elasticsearch: {
    async start() {
      const es = await new FakeElasticsearch().start();
      const fail = (status: number): Switch => ({
        on: async () => void ((es.failStatus = status), (es.failRequests = Infinity)),
        off: async () => void (es.failRequests = 0),
      });
      return {
        params: { nodes: [es.url], elastic_index: 'compliance' },
        read: async () => [...es.indices.values()].flatMap((docs) => [...docs].map(([id, event]) => ({ id, event }))),
        transient: fail(503),
        refuse: fail(400),
        close: () => es.server.close(),
      };
    },
  },
  // The FAKE Splunk HEC of splunk.test.ts: "Server is busy" (503), or the output's token revoked (403).
  splunk: {
    async start() {
      const hec = await new FakeHec('compliance-token').start();
      return {
        params: { url: hec.server.url, token: hec.token, id_field: ID_FIELD },
        read: async () => hec.events.map((e) => withId(e.event)),
        transient: { on: async () => void ((hec.failStatus = 503), (hec.failRequests = Infinity)), off: async () => void (hec.failRequests = 0) },
        refuse: { on: async () => void (hec.token = 'rotated-token'), off: async () => void (hec.token = 'compliance-token') },
        close: () => hec.server.close(),
      };
    },
  },
  // A local HTTP server keeping the bodies it answered 2xx to.
  webhook: {
    async start() {
      let status = 204;
      const taken: string[] = [];
      const server = await testServer((req) => {
        if (status < 300) taken.push(req.body);
        return { status };
      });
      return {
        params: { url: `${server.url}/hook`, id_field: ID_FIELD, timeout_ms: 5000 },
        read: async () => taken.flatMap((body) => (JSON.parse(body) as Record<string, unknown>[]).map(withId)),
        transient: { on: async () => void (status = 503), off: async () => void (status = 204) },
        refuse: { on: async () => void (status = 400), off: async () => void (status = 204) },
        close: () => server.close(),
      };
    },
  },
  // A local directory, one file per feed (each phase's batch has its own feed name, so a refused batch needs a new
  // file). A full disk is a 256 KiB tmpfs filled up (where mounting is allowed: root); a refusal is a regular file
  // put where the output's directory belongs.
  file: {
    async start(dir) {
      const disk = join(dir, 'disk');
      mkdirSync(disk);
      const unmount = tryMount(disk);
      const out = join(disk, 'out');
      mkdirSync(out);
      const filler = join(disk, 'filler');
      return {
        params: { path: join(out, '{feed.name}.jsonl') },
        read: async () =>
          readdirSync(out)
            .filter((f) => f.endsWith('.jsonl'))
            .flatMap((f) => readFileSync(join(out, f), 'utf8').split('\n').filter(Boolean).map((line) => ({ event: JSON.parse(line) as Event }))),
        transient: unmount
          ? {
              on: async () => fillUp(filler),
              off: async () => rmSync(filler, { force: true }),
            }
          : { skip: 'cannot mount a small tmpfs here (needs root): no way to fill a disk' },
        refuse: {
          async on() {
            renameSync(out, `${out}.aside`);
            writeFileSync(out, 'not a directory');
          },
          async off() {
            unlinkSync(out);
            renameSync(`${out}.aside`, out);
          },
        },
        close: async () => unmount?.(),
      };
    },
  },
};

/** PostgreSQL's columns back to IntelMQ values: no NULLs, times in IntelMQ's format, `extra` as extra.* fields. */
function fromColumns(columns: Record<string, unknown>): Event {
  const event: Event = {};
  for (const [key, value] of Object.entries(columns)) {
    if (value === null) continue;
    if (value instanceof Date) event[key] = value.toISOString().replace(/\.000Z$/, '+00:00');
    else if (key === 'extra') for (const [k, v] of Object.entries(value as Record<string, unknown>)) event[`extra.${k}`] = v;
    else event[key] = value;
  }
  return event;
}

/** Mounts a 256 KiB tmpfs on `dir` where allowed; it is unmounted by `close`, or at exit before the scratch dirs go. */
function tryMount(dir: string): (() => void) | undefined {
  if (process.getuid?.() !== 0) return undefined;
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', dir], { stdio: 'ignore' });
  } catch {
    return undefined;
  }
  let mounted = true;
  const unmount = (): void => {
    if (mounted) execFileSync('umount', [dir], { stdio: 'ignore' });
    mounted = false;
  };
  process.prependListener('exit', () => {
    try {
      unmount();
    } catch {
      // busy or gone: nothing more to do at exit
    }
  });
  return unmount;
}

/** Writes `path` until the file system is full (ENOSPC). */
function fillUp(path: string): void {
  const chunk = Buffer.alloc(16 * 1024);
  try {
    for (;;) writeFileSync(path, chunk, { flag: 'a' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  }
}

/** A batch of `n` events with a feed name of its own (the `file` target gives each its own file). */
function batch(entry: Entry, n: number, feed: string): { events: Event[]; ids: string[] } {
  return sample(n, { 'feed.name': `Compliance ${feed}`, ...entry.extra });
}

/** The held events of a batch, found by their source.ip (unique per event across the whole run). */
async function heldOf(target: Target, events: readonly Event[]): Promise<Held[]> {
  const ips = new Set(events.map((e) => e['source.ip']));
  return (await target.read()).filter((h) => ips.has(h.event['source.ip']));
}

/** Waits until every event of the batch is at the target, then a little longer for copies on their way. */
async function waitHeld(target: Target, events: readonly Event[], timeoutMs = 20_000): Promise<Held[]> {
  const ips = new Set(events.map((e) => e['source.ip']));
  await waitUntil(async () => new Set((await heldOf(target, events)).map((h) => h.event['source.ip'])).size === ips.size, timeoutMs, () => `not every event of the batch reached the target`);
  await new Promise((r) => setTimeout(r, 150));
  return heldOf(target, events);
}

function project(event: Event, fields: readonly string[] | undefined): Event {
  return fields ? Object.fromEntries(fields.filter((f) => event[f] !== undefined).map((f) => [f, event[f]])) : event;
}

const byIp = (a: Event, b: Event): number => String(a['source.ip']).localeCompare(String(b['source.ip']));

function assertDelivered(held: readonly Held[], sent: { events: Event[]; ids: string[] }, entry: Entry, once: boolean): void {
  const got = held.map((h) => project(h.event, entry.fields));
  for (const event of got) assert.deepEqual(validateEvent(event).map((p) => p.message), [], 'what the target holds is not an IntelMQ event');
  const expected = sent.events.map((e) => project(e, entry.fields)).sort(byIp);
  if (once) assert.deepEqual(got.sort(byIp), expected, 'each event of the batch, once, as it was sent');
  else assert.deepEqual([...new Map(got.map((e) => [e['source.ip'], e])).values()].sort(byIp), expected, 'each event of the batch, at least once, as it was sent');
  const idOf = new Map(sent.events.map((e, i) => [e['source.ip'], sent.ids[i]]));
  for (const h of held) if (h.id !== undefined) assert.equal(h.id, idOf.get(h.event['source.ip']), 'an event is held under another id than it was sent with');
}

/** The component context the hub gives an output: its declared counters registered at zero, dead letters wired. */
function hubContext(def: OutputDefinition, dir: string, rig?: () => RunnerRig): ComponentContext & { counters: Record<string, number> } {
  const ctx = context(dir, 'output:test');
  const counters = Object.fromEntries(Object.keys(def.metrics ?? {}).map((k) => [k, 0]));
  return {
    ...ctx,
    counters,
    ...(rig ? { deadLetter: ({ reason, events, ids }) => writeSynced(rig().dead.op({ stage: 'output:test', reason, events, ids })) } : {}),
  };
}

function assertOwnCounters(def: OutputDefinition, counters: Record<string, number>): void {
  assert.deepEqual(Object.keys(counters).sort(), Object.keys(def.metrics ?? {}).sort(), 'the output keeps counters it does not declare (or drops declared ones)');
  for (const [k, v] of Object.entries(counters)) assert.ok(Number.isInteger(v) && v >= 0, `counter ${k} is ${v}`);
}

const all = await outputs.all();

describe('every output (shared harness)', () => {
  it('is found by the registry', () => assert.ok(all.length > 0, 'no outputs found'));

  for (const def of all) {
    const entry = ENTRIES[def.name];
    const skip = entry?.skip?.() || false;
    describe(def.name, { skip }, () => {
      let target: Target;
      const dir = scratch(`vigil-compliance-${def.name}-`);
      before(async () => {
        if (entry) target = await entry.start(dir);
      });
      after(async () => {
        await target?.close();
      });

      const NO_TARGET = `output '${def.name}' is registered but has no target in the shared harness (test/hub/outputs/compliance.test.ts)`;
      it('has a target in the shared harness and declares how it delivers', () => {
        assert.ok(entry, NO_TARGET);
        assert.ok(def.delivery === 'exactly-once' || def.delivery === 'at-least-once', `delivery: ${String(def.delivery)}`);
      });

      it('(a) delivers a batch: read back with IntelMQ field names, as sent; its declared counters reported', async () => {
        assert.ok(entry, NO_TARGET);
        const ctx = hubContext(def, join(dir, 'a'));
        const out = await createOutput(def, target.params, ctx);
        await out.open?.(undefined);
        try {
          const sent = batch(entry, 5, 'delivery');
          await out.write(sent.events, sent.ids);
          assertDelivered(await waitHeld(target, sent.events), sent, entry, true);
          if (entry.counters) await waitUntil(() => Object.entries(entry.counters!(5)).every(([k, v]) => ctx.counters[k] === v), 10_000, () => `counters ${JSON.stringify(ctx.counters)}`);
          assertOwnCounters(def, ctx.counters);
        } finally {
          await out.close?.();
        }
      });

      it(`(b) a batch delivered again after a crash before the cursor moved: ${def.delivery}`, async () => {
        assert.ok(entry, NO_TARGET);
        const ctx = hubContext(def, join(dir, 'b'));
        const first = batch(entry, 4, 'redelivery');
        const second = batch(entry, 4, 'redelivery');
        const crashed = await createOutput(def, target.params, ctx);
        await crashed.open?.(undefined);
        const checkpoint = await crashed.write(first.events, first.ids);
        await crashed.write(second.events, second.ids); // delivered, but the hub dies before its cursor moves
        await crashed.close?.();
        const restarted = await createOutput(def, target.params, ctx);
        await restarted.open?.(checkpoint);
        try {
          await restarted.write(second.events, second.ids);
          const both = { events: [...first.events, ...second.events], ids: [...first.ids, ...second.ids] };
          assertDelivered(await waitHeld(target, both.events), both, entry, def.delivery === 'exactly-once');
        } finally {
          await restarted.close?.();
        }
      });

      describe('(c, d) under the output runner', () => {
        let rig: RunnerRig;
        let ctx: ReturnType<typeof hubContext>;
        let delivered = 0;
        before(async () => {
          if (!entry) return;
          ctx = hubContext(def, join(dir, 'c'), () => rig);
          rig = await runnerRig(await createOutput(def, target.params, ctx));
        });
        after(async () => {
          await rig?.stop();
        });

        it('a failure that may pass is retried until the target takes the batch; nothing is dead-lettered', async (t) => {
          assert.ok(entry, NO_TARGET);
          if ('skip' in target.transient) return void t.skip(target.transient.skip);
          const retries = (): number => (entry.ownLoop ? entry.ownLoop.retries(ctx.counters) : (rig.runner.metrics.errors.write ?? 0));
          const retriedBefore = retries();
          await target.transient.on();
          const sent = batch(entry, 3, 'transient');
          try {
            await rig.add(sent);
            await waitUntil(() => retries() >= retriedBefore + 2, 20_000, () => `${retries() - retriedBefore} retries`, 10);
          } finally {
            await target.transient.off();
          }
          await rig.drained();
          assertDelivered(await waitHeld(target, sent.events), sent, entry, def.delivery === 'exactly-once');
          delivered += sent.events.length;
          assert.equal(await rig.dead.count(), 0, 'a failure that may pass was dead-lettered');
        });

        it('a refusal is dead-lettered at once with its reason, after one attempt; the output goes on afterwards', async () => {
          assert.ok(entry, NO_TARGET);
          const refusals = entry.ownLoop ? entry.ownLoop.refusals(ctx.counters) : 0;
          const retries = entry.ownLoop ? entry.ownLoop.retries(ctx.counters) : 0;
          const refused = batch(entry, 3, 'refused');
          await target.refuse.on();
          try {
            await rig.add(refused);
            await rig.drained();
            await waitUntil(async () => (await rig.dead.count()) > 0, 20_000, () => 'no dead letter');
          } finally {
            await target.refuse.off();
          }
          const letters = await rig.dead.list();
          assert.equal(letters.length, 1, 'one dead letter');
          const [letter] = letters;
          assert.equal(letter!.stage, 'output:test');
          assert.deepEqual([...letter!.ids!].sort(), [...refused.ids].sort(), 'the dead letter holds the refused batch');
          assert.ok(letter!.reason.length > 10, 'a dead letter without its reason');
          if (entry.ownLoop) {
            const own = entry.ownLoop;
            await waitUntil(() => own.refusals(ctx.counters) === refusals + 1, 10_000, () => `counters ${JSON.stringify(ctx.counters)}: the refusal is not counted`);
            assert.equal(entry.ownLoop.retries(ctx.counters), retries, 'a refusal was retried');
            assert.match(letter!.reason, /permanent: /);
          } else {
            assert.equal(letter!.attempts, 1, 'a refusal was retried');
            assert.match(letter!.reason, /^(record|permanent): /, 'the reason names the class of the failure');
            assert.equal(rig.runner.metrics.rejected, refused.events.length);
          }
          assert.deepEqual(await heldOf(target, refused.events), [], 'the target holds refused events');
          const next = batch(entry, 2, 'after-refusal');
          await rig.add(next);
          await rig.drained();
          assertDelivered(await waitHeld(target, next.events), next, entry, true);
          delivered += next.events.length;
        });

        it('(d) the standard counters add up and the output keeps only the counters it declares', () => {
          assert.ok(entry, NO_TARGET);
          const m = rig.runner.metrics;
          assert.equal(m.received, delivered + 3, 'received: every event handed to the output');
          assert.equal(m.sent, entry.ownLoop ? delivered + 3 : delivered, 'sent: the events written');
          assertOwnCounters(def, ctx.counters);
        });
      });
    });
  }
});
