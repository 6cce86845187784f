/**
 * What the experts' registry walk (registry.test.ts) runs every declared example in, so that an example's table
 * holds where the docs show it:
 *
 * - The clock stands at EXAMPLE_CLOCK while the input is processed (relative times such as `not_before: '1 week'`
 *   give the same answer every day). After the input the harness moves the clock on by FLUSH_AFTER_MS and runs one
 *   empty batch, so events an expert holds back (aggregate's groups) show up in `output` as they come out once
 *   their window is over; no other expert emits anything for an empty batch.
 * - Relative paths in `params` resolve against test/fixtures/experts/; the names in GENERATED (files that are
 *   built at test time, such as a MaxMind database) resolve into a temporary directory that holds them.
 * - An expert with a `dns_servers` parameter asks a dnsmasq the harness starts, serving
 *   test/fixtures/experts/dns-hosts (names under `.test`; other names under `.test` do not exist, anything else is
 *   refused) and the TXT records of test/fixtures/experts/dns-txt (Team Cymru's and Abusix's zones), unless the
 *   example names servers itself. The examples then read as with the system resolver.
 * - Text parameters named `*_url` that an example leaves out point at a fake of the web services the lookup experts ask
 *   (RIPEstat, the RIPE database, IANA's RDAP bootstrap, an RDAP server: _fake-web.ts, whose data the examples
 *   are written against), so the examples read as with the real services' default URLs.
 * - An expert with database connection parameters (host, port, database, user, sslmode) connects, unless the
 *   example says otherwise, to a PostgreSQL the harness starts the first time one is needed, holding the tables of
 *   test/fixtures/experts/lookup-db.sql.
 * - Events are copied before they go in, so a table stays intact; the store is a fresh MemoryStore per example.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext as NodeTestContext } from 'node:test';
import { validateComponentParams } from '../../../common/intelmq-params.js';
import type { Event, Expert, ExpertDefinition } from '../../../hub/pipeline/define.js';
import { parseTxtRecords, startDnsmasq, type Dnsmasq } from './_dnsmasq.js';
import { startFakeWeb, type FakeWeb } from './_fake-web.js';
import pg from 'pg';
import { startPostgres, type PostgresServer } from '../../helpers/postgres.js';
import { FIXTURES, MemoryStore, tempFiles, testContext, type RunResult, type TestContext } from './_harness.js';
import { buildMmdb } from './_mmdb.js';

export const EXAMPLE_CLOCK = Date.parse('2024-06-01T00:00:00Z');
/** Longer than any window an example uses (aggregate's timespan, deduplicator's ttl). */
export const FLUSH_AFTER_MS = 366 * 86_400_000;

const city = (cc: string, registered: string, name: string | undefined, lat: number, lon: number) => ({
  ...(name === undefined ? {} : { city: { names: { en: name } } }),
  country: { iso_code: cc, names: { en: cc } },
  registered_country: { iso_code: registered },
  location: { latitude: lat, longitude: lon },
});

/** A small GeoLite2-City database: documentation networks placed in Vienna, somewhere at latitude 0, and Tokyo. */
export function cityDatabase(): Buffer {
  return buildMmdb({
    '192.0.2.0/24': city('AT', 'DE', 'Vienna', 48.2, 16.37),
    '198.51.100.0/25': city('US', 'US', undefined, 0, -77.5),
    '2001:db8::/32': city('JP', 'JP', 'Tokyo', 35.68, 139.69),
  });
}

/** Files examples may name that are built at test time rather than kept as fixtures. */
export const GENERATED: Readonly<Record<string, () => Uint8Array>> = {
  'GeoLite2-City.mmdb': cityDatabase,
};

/** The DNS zone examples resolve against (hosts-file format), and its TXT records (`<name> <text>` lines). */
export const DNS_HOSTS = join(FIXTURES, 'dns-hosts');
export const DNS_TXT = join(FIXTURES, 'dns-txt');
/** The tables the examples of database lookups read. */
export const LOOKUP_DB = join(FIXTURES, 'lookup-db.sql');

/** An expert that connects to a database (IntelMQ's connection parameters): its examples get a PostgreSQL. */
function needsDatabase(def: ExpertDefinition): boolean {
  return ['host', 'port', 'database', 'user', 'sslmode'].every((name) => name in def.params.properties);
}

/** The files, DNS server and clock the examples of every expert run with. Start once, close at the end. */
export class ExampleEnvironment {
  readonly #generatedDir: string;
  #dns: Dnsmasq | undefined;
  #web: FakeWeb | undefined;
  #pg: PostgresServer | undefined;

  private constructor(generatedDir: string) {
    this.#generatedDir = generatedDir;
  }

  static async start(): Promise<ExampleEnvironment> {
    const env = new ExampleEnvironment(tempFiles(Object.fromEntries(Object.entries(GENERATED).map(([name, build]) => [name, build()]))));
    env.#dns = await startDnsmasq(readFileSync(DNS_HOSTS, 'utf8'), { txt: parseTxtRecords(readFileSync(DNS_TXT, 'utf8')) });
    env.#web = await startFakeWeb();
    return env;
  }

  /** A test context whose relative paths resolve into the fixtures, or the generated files for their names. */
  context(store = new MemoryStore()): TestContext {
    const ctx = testContext(FIXTURES, store);
    const resolve = ctx.resolvePath;
    ctx.resolvePath = (p) => (Object.hasOwn(GENERATED, p) ? join(this.#generatedDir, p) : resolve(p));
    return ctx;
  }

  /** The example's parameters with what the environment provides (the DNS server, the fake web services) filled in. */
  params(def: ExpertDefinition, params: Record<string, unknown> = {}): Record<string, unknown> {
    const filled = { ...params };
    if ('dns_servers' in def.params.properties && params.dns_servers === undefined && this.#dns !== undefined) {
      filled.dns_servers = [this.#dns.server];
    }
    if (needsDatabase(def) && this.#pg !== undefined) {
      const { host, port, user, database } = this.#pg;
      for (const [name, value] of Object.entries({ host, port, user, database, password: null, sslmode: 'disable' })) filled[name] = params[name] ?? value;
    }
    for (const [name, schema] of Object.entries(def.params.properties)) {
      const isText = (schema as { type?: unknown }).type === 'string';
      if (isText && name.endsWith('_url') && params[name] === undefined && this.#web !== undefined) filled[name] = this.#web.url;
    }
    return filled;
  }

  /** Starts what an expert's examples need beyond the rest: a PostgreSQL, the first time one is needed. */
  async prepare(def: ExpertDefinition): Promise<void> {
    if (!needsDatabase(def) || this.#pg !== undefined) return;
    this.#pg = await startPostgres();
    const client = new pg.Client({ host: this.#pg.host, port: this.#pg.port, user: this.#pg.user, database: this.#pg.database });
    await client.connect();
    try {
      await client.query(readFileSync(LOOKUP_DB, 'utf8'));
    } finally {
      await client.end();
    }
  }

  async close(): Promise<void> {
    await this.#dns?.stop();
    await this.#web?.stop();
    await this.#pg?.stop();
  }
}

/** One batch of a run; `restart` re-creates the expert before it, on the same store or (`freshStore`) on an empty one. */
export interface Step {
  batch: Event[];
  restart?: boolean;
  freshStore?: boolean;
}

export interface StepsResult extends RunResult {
  /** Whether the expert had written state to its store after any step (before the final empty batch). */
  wroteState: boolean;
}

/**
 * An event every access to which throws, as a bug on an unexpected value would: the poison of the isolation test.
 * It is not thenable and has no symbol-keyed properties, so promise plumbing and inspection leave it alone.
 */
export function poisonEvent(): Event {
  const fail = (): never => {
    throw new Error('poisoned event: reading or changing it throws');
  };
  return new Proxy({} as Event, {
    get: (_, key) => (typeof key === 'symbol' || key === 'then' ? undefined : fail()),
    has: fail,
    ownKeys: fail,
    getOwnPropertyDescriptor: fail,
    set: fail,
    deleteProperty: fail,
    defineProperty: fail,
  });
}

const POISONS = new WeakSet<object>();
/** A fresh poison event, known to `runSteps` (which copies every other event). */
export function poison(): Event {
  const p = poisonEvent();
  POISONS.add(p);
  return p;
}

async function create(def: ExpertDefinition, params: Record<string, unknown>, ctx: TestContext): Promise<Expert> {
  // As the hub does: IntelMQ's parameter names carried over first, so an example may show them.
  return def.create(validateComponentParams(def, params, { path: 'params' }).params as never, ctx);
}

/**
 * Runs batches through an expert with the clock at EXAMPLE_CLOCK, commits the store after each (as the experts
 * stage does), then an empty batch FLUSH_AFTER_MS later; returns everything passed on and everything rejected.
 * `t` mocks Date for the test it belongs to.
 */
export async function runSteps(t: NodeTestContext, env: ExampleEnvironment, def: ExpertDefinition, params: Record<string, unknown> | undefined, steps: readonly Step[]): Promise<StepsResult> {
  if (!mocked.has(t)) {
    t.mock.timers.enable({ apis: ['Date'], now: EXAMPLE_CLOCK });
    mocked.add(t);
  }
  t.mock.timers.setTime(EXAMPLE_CLOCK);
  await env.prepare(def);
  const full = env.params(def, params);
  let ctx = env.context();
  let expert = await create(def, full, ctx);
  const result: StepsResult = { kept: [], rejects: [], wroteState: false };
  const run = async (batch: Event[]): Promise<void> => {
    const copies = batch.map((e) => (POISONS.has(e) ? e : structuredClone(e)));
    const kept = await expert.process(copies, (event, err) => result.rejects.push({ event, err }));
    ctx.store.commit();
    result.kept.push(...kept);
  };
  for (const step of steps) {
    if (step.restart) {
      await expert.close?.();
      ctx = step.freshStore ? env.context() : env.context(ctx.store);
      expert = await create(def, full, ctx);
    }
    await run(step.batch);
    if (ctx.store.committed.size > 0) result.wroteState = true;
  }
  t.mock.timers.tick(FLUSH_AFTER_MS);
  await run([]);
  await expert.close?.();
  return result;
}
const mocked = new WeakSet<NodeTestContext>();
