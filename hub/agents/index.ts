/**
 * Agents known to the hub: who may connect (token hashes only — a token itself is never stored), and what the
 * hub last heard from each (last seen, heartbeat status, events received). Status is kept in memory and saved
 * to the hub's LevelDB from time to time, so a restarted hub still lists its agents.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import Type from 'typebox';
import { Compile } from 'typebox/compile';
import { configProblems } from '../../common/config/validate.js';
import { layout, writeSynced, type HubDb, type HubLayout } from '../store/index.js';

export interface AgentCredential {
  id: string;
  /** Hex SHA-256 of the agent's token. */
  token_sha256: string;
  disabled?: boolean;
}

export interface AgentStatus {
  id: string;
  connected: boolean;
  lastSeen: number | undefined;
  version: string | undefined;
  outboxDepth: unknown;
  uptimeSeconds: number | undefined;
  feeds: unknown;
  eventsReceived: number;
  batchesReceived: number;
  duplicateBatches: number;
  refused: number;
  /** Heartbeats that were not a status document (not JSON, or fields of the wrong type): counted, not kept. */
  invalidHeartbeats: number;
}

/**
 * What an agent's heartbeat carries (agent/index.ts `status()`); more keys may come from newer agents. Checked,
 * because the agents API serves these values as typed fields.
 */
const Heartbeat = Type.Object({
  version: Type.Optional(Type.String({ maxLength: 200 })),
  uptimeSeconds: Type.Optional(Type.Number({ minimum: 0 })),
  outbox: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  feeds: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
});
const checkHeartbeat = Compile(Heartbeat);

/** The status fields of a heartbeat payload, or why it is not one. */
export function parseHeartbeat(payload: Buffer): { status: Partial<AgentStatus> } | { problem: string } {
  let doc: unknown;
  try {
    doc = JSON.parse(payload.toString('utf8'));
  } catch (err) {
    return { problem: `not JSON: ${(err as Error).message}` };
  }
  if (!checkHeartbeat.Check(doc)) {
    const problems = doc !== null && typeof doc === 'object' && !Array.isArray(doc) ? configProblems(Heartbeat, doc, 'heartbeat') : [{ path: 'heartbeat', message: 'expected: a JSON object' }];
    return { problem: problems.map((p) => `${p.path}: ${p.message}`).join('; ') };
  }
  return { status: { version: doc.version, uptimeSeconds: doc.uptimeSeconds, outboxDepth: doc.outbox, feeds: doc.feeds } };
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** A new random token (URL-safe, 256 bits). */
export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

export class AgentRegistry {
  /** `agents/credentials` and `agents/status`, each by agent id. */
  readonly #keys: HubLayout['agents'];
  readonly #credentials = new Map<string, AgentCredential>();
  readonly #status = new Map<string, AgentStatus>();
  #dirty = new Set<string>();
  #fromConfig = new Set<string>();
  /** Agents whose invalid heartbeat was logged since the hub started (once per agent: one comes every 30 s). */
  readonly #loggedInvalid = new Set<string>();
  /** Heartbeats since the hub started, for /metrics and /api/v1/stats. */
  readonly heartbeats = { received: 0, invalid: 0 };

  private constructor(db: HubDb) {
    this.#keys = layout(db).agents;
  }

  static async open(db: HubDb, configured: readonly AgentCredential[]): Promise<AgentRegistry> {
    const registry = new AgentRegistry(db);
    for await (const [id, value] of registry.#keys.credentials.iterator()) registry.#credentials.set(id, JSON.parse(value.toString()) as AgentCredential);
    // The config file wins over what the API stored for the same id.
    registry.replaceConfigured(configured);
    for await (const [id, value] of registry.#keys.status.iterator()) {
      const status = JSON.parse(value.toString()) as AgentStatus;
      status.invalidHeartbeats ??= 0; // saved by a hub that did not count them
      registry.#status.set(id, { ...status, connected: false });
    }
    return registry;
  }

  /** True when `token` is the agent's current token and the agent is enabled. */
  verify(id: string, token: string | Buffer | undefined): boolean {
    const cred = this.#credentials.get(id);
    if (!cred || cred.disabled || token === undefined) return false;
    const given = Buffer.from(hashToken(token.toString()), 'hex');
    const known = Buffer.from(cred.token_sha256, 'hex');
    return given.length === known.length && timingSafeEqual(given, known);
  }

  /** After a config reload: the config's agents replace the ones the previous config listed. */
  replaceConfigured(configured: readonly AgentCredential[]): void {
    for (const id of this.#fromConfig) if (!configured.some((c) => c.id === id)) this.#credentials.delete(id);
    this.#fromConfig = new Set(configured.map((c) => c.id));
    for (const cred of configured) this.#credentials.set(cred.id, cred);
  }

  /** Registers (or re-keys) an agent; returns the new token, shown once. */
  async create(id: string): Promise<string> {
    const token = newToken();
    const cred: AgentCredential = { id, token_sha256: hashToken(token), disabled: false };
    await writeSynced({ type: 'put', sublevel: this.#keys.credentials, key: id, value: Buffer.from(JSON.stringify(cred)) });
    this.#credentials.set(id, cred);
    return token;
  }

  async setDisabled(id: string, disabled: boolean): Promise<boolean> {
    const cred = this.#credentials.get(id);
    if (!cred) return false;
    const next = { ...cred, disabled };
    await writeSynced({ type: 'put', sublevel: this.#keys.credentials, key: id, value: Buffer.from(JSON.stringify(next)) });
    this.#credentials.set(id, next);
    return true;
  }

  has(id: string): boolean {
    return this.#credentials.has(id);
  }

  /** Has credentials or has been heard from. */
  known(id: string): boolean {
    return this.#credentials.has(id) || this.#status.has(id);
  }

  /** Defined in the hub's config file (which then is the source of truth for its credentials). */
  isConfigured(id: string): boolean {
    return this.#fromConfig.has(id);
  }

  isDisabled(id: string): boolean {
    return this.#credentials.get(id)?.disabled ?? false;
  }

  status(id: string): AgentStatus {
    let s = this.#status.get(id);
    if (!s) {
      s = { id, connected: false, lastSeen: undefined, version: undefined, outboxDepth: undefined, uptimeSeconds: undefined, feeds: undefined, eventsReceived: 0, batchesReceived: 0, duplicateBatches: 0, refused: 0, invalidHeartbeats: 0 };
      this.#status.set(id, s);
    }
    return s;
  }

  /** Every agent with credentials or a status, sorted by id. */
  list(): AgentStatus[] {
    const ids = new Set([...this.#credentials.keys(), ...this.#status.keys()]);
    return [...ids].sort().map((id) => ({ ...this.status(id) }));
  }

  touch(id: string, change: Partial<AgentStatus>): void {
    Object.assign(this.status(id), change, { lastSeen: Date.now() });
    this.#dirty.add(id);
  }

  /**
   * Takes a heartbeat: the agent is connected and seen now; a valid one replaces its status, an invalid one is
   * counted. Returns the problem of an agent's first invalid heartbeat, for the caller to log; undefined otherwise.
   */
  heartbeat(id: string, payload: Buffer): string | undefined {
    this.heartbeats.received++;
    const parsed = parseHeartbeat(payload);
    if ('status' in parsed) {
      this.touch(id, { ...parsed.status, connected: true });
      return undefined;
    }
    this.heartbeats.invalid++;
    this.touch(id, { connected: true });
    this.count(id, 'invalidHeartbeats');
    if (this.#loggedInvalid.has(id)) return undefined;
    this.#loggedInvalid.add(id);
    return parsed.problem;
  }

  count(id: string, field: 'eventsReceived' | 'batchesReceived' | 'duplicateBatches' | 'refused' | 'invalidHeartbeats', n = 1): void {
    this.status(id)[field] += n;
    this.#dirty.add(id);
  }

  /** Saves changed statuses (no fsync: status is informative, and is rebuilt by the next heartbeat). */
  async save(): Promise<void> {
    if (this.#dirty.size === 0) return;
    const ids = [...this.#dirty];
    this.#dirty = new Set();
    await this.#keys.status.batch(ids.map((id) => ({ type: 'put' as const, key: id, value: Buffer.from(JSON.stringify(this.status(id))) })));
  }
}
