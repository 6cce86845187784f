/**
 * `vigil ctl`: the operator's client of the hub's HTTP API (docs/api.md). Readable tables by default, the API's own
 * JSON with --json. Exit status: 0 done, 1 the API refused or could not be reached (its message is printed),
 * 2 usage. It imports nothing of the hub: it speaks HTTP only, so it runs anywhere the API can be reached.
 */
import { parseArgs } from 'node:util';
import { ApiError, call, clip, noMore, table, UsageError, type Ctx, type Json } from './_ctl-client.js';
import { contactCommands, notificationCommands } from './_ctl-notifications.js';

const usage = `usage: vigil ctl [--url URL] [--token TOKEN] [--json] COMMAND [ARGS]

Commands:
  status                          the hub, its inbox, experts and outputs, agents and dead letters
  agents list                     every agent: connection, last seen, version, events received
  agents show ID                  one agent, with its outbox depth and per-feed status
  agents create ID                register an agent; prints its token (once) and its install command
  agents disable ID | enable ID   refuse or allow the agent's connections
  agents rotate ID                a new token for the agent; the old one stops working at once
  outputs list                    every output: state, lag, rates, last error
  outputs pause NAME | resume NAME
  deadletters list [--limit N] [--after ID]
  deadletters show ID | reinject ID | delete ID
  blocklists list
  blocklists get NAME [--format txt|csv|json|rpz]
  notifications list [--status S] [--recipient TEXT] [--ticket T] [--limit N] [--after ID]
                                  the email output's notifications (status: pending, sending, sent, suppressed, failed)
  notifications show ID           one notification with its events
  notifications preview ID        the mail as it will be sent (the message itself; --json adds its notification)
  notifications resend ID         send it now: a pending one before its window ends, a sent one again (new ticket)
  notifications suppress ID --reason TEXT
                                  do not send a pending one; the reason is kept with it
  contacts lookup IP|ASN|DOMAIN   which contact-book entry an address, AS number or domain maps to, and why
  contacts list                   the contact book's entries
  reload                          re-read the hub's configuration file

Options:
  --url URL       the hub's API (default: $VIGIL_API_URL, else http://127.0.0.1:8080)
  --token TOKEN   a bearer token (default: $VIGIL_API_TOKEN); reader, operator or admin
  --json          print the API's JSON instead of tables
  --output NAME   notifications: the email output, when the hub has several
For an HTTPS API with a private CA, set NODE_EXTRA_CA_CERTS=ca.pem.
Exit status: 0 ok, 1 API error (the API's message is printed), 2 usage.`;

/** Where the command reads its environment and writes (the process's, unless a caller such as a test passes its own). */
export interface CtlIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  env: Record<string, string | undefined>;
}


export default {
  summary: 'the command-line client of the hub API',
  usage,
  async run(argv: string[], io: CtlIo = { stdout: process.stdout, stderr: process.stderr, env: process.env }): Promise<number> {
    try {
      const { values, positionals } = parseArgs({
        args: argv,
        allowPositionals: true,
        options: {
          url: { type: 'string' },
          token: { type: 'string' },
          json: { type: 'boolean', default: false },
          limit: { type: 'string' },
          after: { type: 'string' },
          format: { type: 'string' },
          status: { type: 'string' },
          recipient: { type: 'string' },
          ticket: { type: 'string' },
          output: { type: 'string' },
          reason: { type: 'string' },
        },
      });
      const url = (values.url || io.env.VIGIL_API_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');
      if (!/^https?:\/\/[^/]/.test(url)) throw new UsageError(`--url: expected http://HOST:PORT or https://…, got '${url}'`);
      const token = values.token || io.env.VIGIL_API_TOKEN || '';
      const [group, ...args] = positionals;
      if (!group) throw new UsageError('expected a command');
      const handler = COMMANDS[group];
      if (!handler) throw new UsageError(`unknown command '${group}'`);
      if (!token) throw new UsageError('no API token: pass --token or set VIGIL_API_TOKEN');
      const out = (text: string) => void io.stdout.write(`${text}\n`);
      const print = (value: unknown) => out(JSON.stringify(value, null, 2));
      await handler({ url, token, json: values.json ?? false, values, out, print, raw: (text) => void io.stdout.write(text) }, args);
      return 0;
    } catch (err) {
      if (err instanceof ApiError) {
        io.stderr.write(`vigil ctl: ${err.message}\n`);
        return 1;
      }
      if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
        io.stderr.write(`vigil ctl: ${(err as Error).message}\n\n${usage}\n`);
        return 2;
      }
      throw err;
    }
  },
};

const COMMANDS: Record<string, (ctx: Ctx, args: string[]) => Promise<void>> = {
  async status(ctx, args) {
    noMore(args, 0);
    const [health, pipeline, agents, dead] = await Promise.all([
      call(ctx, 'GET', '/health'),
      call(ctx, 'GET', '/api/v1/pipeline'),
      call(ctx, 'GET', '/api/v1/agents'),
      call(ctx, 'GET', '/api/v1/deadletters?limit=1000'),
    ]);
    if (ctx.json) return ctx.print({ health, pipeline, agents: agents.agents, deadletters: dead.deadletters.length });
    const connected = agents.agents.filter((a: Json) => a.connected).length;
    const inbox = pipeline.inbox;
    ctx.out(
      table([
        ['hub', `${health.status}, version ${health.version}, up ${duration(health.uptimeSeconds)}`],
        ['inbox', `head ${inbox.head}, ${inbox.storedBatches} batches / ${inbox.storedEvents} events stored, ${inbox.writeErrors} write errors`],
        ['agents', `${agents.agents.length} (${connected} connected)`],
        ['dead letters', `${dead.deadletters.length}${dead.next !== null ? '+' : ''}`],
      ]),
    );
    ctx.out('');
    ctx.out(componentTable([pipeline.experts, ...pipeline.experts.members, ...pipeline.outputs]));
  },

  async agents(ctx, args) {
    const [action, id, ...rest] = args;
    noMore(rest, 0);
    if (action === 'list' || action === undefined) {
      noMore(id === undefined ? [] : [id], 0);
      const { agents } = await call(ctx, 'GET', '/api/v1/agents');
      if (ctx.json) return ctx.print(agents);
      if (agents.length === 0) return ctx.out('no agents');
      return ctx.out(
        table([
          ['ID', 'STATE', 'LAST SEEN', 'VERSION', 'EVENTS', 'OUTBOX'],
          ...agents.map((a: Json) => [a.id, a.disabled ? 'disabled' : a.connected ? 'connected' : 'disconnected', ago(a.lastSeen), a.version ?? '-', String(a.eventsReceived), outbox(a.outboxDepth)]),
        ]),
      );
    }
    if (!['show', 'create', 'disable', 'enable', 'rotate'].includes(action)) throw new UsageError(`agents: unknown action '${action}' (list, show, create, disable, enable, rotate)`);
    if (!id) throw new UsageError(`agents ${action}: expected an agent id`);
    const path = `/api/v1/agents/${encodeURIComponent(id)}`;
    if (action === 'show') {
      const a = await call(ctx, 'GET', path);
      if (ctx.json) return ctx.print(a);
      ctx.out(
        table([
          ['id', a.id],
          ['state', a.disabled ? 'disabled' : a.connected ? 'connected' : 'disconnected'],
          ['last seen', a.lastSeen ? `${a.lastSeen} (${ago(a.lastSeen)})` : 'never'],
          ['version', a.version ?? '-'],
          ['uptime', a.uptimeSeconds === null ? '-' : duration(a.uptimeSeconds)],
          ['outbox', outbox(a.outboxDepth)],
          ['events received', String(a.eventsReceived)],
          ['batches', `${a.batchesReceived} (${a.duplicateBatches} duplicates)`],
          ['refused', String(a.refused)],
          ['invalid heartbeats', String(a.invalidHeartbeats ?? 0)],
        ]),
      );
      const feeds = Object.entries((a.feeds ?? {}) as Record<string, unknown>);
      if (feeds.length > 0) {
        ctx.out('\nfeeds:');
        for (const [name, status] of feeds) ctx.out(`  ${name}  ${typeof status === 'object' ? JSON.stringify(status) : String(status)}`);
      }
      return;
    }
    if (action === 'create' || action === 'rotate') {
      const c = action === 'create' ? await call(ctx, 'POST', '/api/v1/agents', { id }) : await call(ctx, 'POST', `${path}/rotate-token`);
      if (ctx.json) return ctx.print(c);
      ctx.out(`Agent ${c.id}: ${action === 'create' ? 'created' : 'new token'}.`);
      ctx.out(`Token (shown only now; the hub keeps its hash): ${c.token}`);
      ctx.out(`Install the agent on the sensor with:\n  ${c.install_command}`);
      if (c.note) ctx.out(`Note: ${c.note}`);
      return;
    }
    const r = await call(ctx, 'POST', `${path}/${action}`);
    if (ctx.json) return ctx.print(r);
    ctx.out(`Agent ${id} ${action}d.`);
    if (r.note) ctx.out(`Note: ${r.note}`);
  },

  async outputs(ctx, args) {
    const [action, name, ...rest] = args;
    noMore(rest, 0);
    if (action === 'list' || action === undefined) {
      noMore(name === undefined ? [] : [name], 0);
      const { outputs } = await call(ctx, 'GET', '/api/v1/pipeline');
      if (ctx.json) return ctx.print(outputs);
      return ctx.out(componentTable(outputs));
    }
    if (action !== 'pause' && action !== 'resume') throw new UsageError(`outputs: unknown action '${action}' (list, pause, resume)`);
    if (!name) throw new UsageError(`outputs ${action}: expected an output name`);
    const r = await call(ctx, 'POST', `/api/v1/pipeline/outputs/${encodeURIComponent(name)}/${action}`);
    if (ctx.json) return ctx.print(r);
    ctx.out(`Output ${name} ${action === 'pause' ? 'paused' : 'resumed'}.`);
  },

  async deadletters(ctx, args) {
    const [action, id, ...rest] = args;
    noMore(rest, 0);
    if (action === 'list' || action === undefined) {
      noMore(id === undefined ? [] : [id], 0);
      const query = new URLSearchParams();
      if (ctx.values.limit !== undefined) query.set('limit', ctx.values.limit);
      if (ctx.values.after !== undefined) query.set('after', ctx.values.after);
      const page = await call(ctx, 'GET', `/api/v1/deadletters${query.size > 0 ? `?${query}` : ''}`);
      if (ctx.json) return ctx.print(page);
      if (page.deadletters.length === 0) return ctx.out('no dead letters');
      ctx.out(table([['ID', 'AT', 'STAGE', 'EVENTS', 'ATTEMPTS', 'REASON'], ...page.deadletters.map((l: Json) => [String(l.id), l.at, l.stage, String(l.count), l.attempts === null ? '-' : String(l.attempts), clip(l.reason, 70)])]));
      if (page.next !== null) ctx.out(`\nmore: vigil ctl deadletters list --after ${page.next}`);
      return;
    }
    if (!['show', 'reinject', 'delete'].includes(action)) throw new UsageError(`deadletters: unknown action '${action}' (list, show, reinject, delete)`);
    if (!id || !/^\d+$/.test(id)) throw new UsageError(`deadletters ${action}: expected a dead letter id (a number)`);
    const path = `/api/v1/deadletters/${id}`;
    if (action === 'show') {
      const l = await call(ctx, 'GET', path);
      if (ctx.json) return ctx.print(l);
      ctx.out(table([['id', String(l.id)], ['at', l.at], ['stage', l.stage], ['agent', l.agent ?? '-'], ['attempts', l.attempts === null ? '-' : String(l.attempts)], ['reason', l.reason], ['events', String(l.count)]]));
      ctx.out('');
      for (const event of l.events) ctx.out(JSON.stringify(event));
      return;
    }
    const r = await call(ctx, action === 'delete' ? 'DELETE' : 'POST', action === 'delete' ? path : `${path}/reinject`);
    if (ctx.json) return ctx.print(r);
    ctx.out(`Dead letter ${id} ${action === 'delete' ? 'deleted' : 're-injected'}.`);
  },

  async blocklists(ctx, args) {
    const [action, name, ...rest] = args;
    noMore(rest, 0);
    if (action === 'list' || action === undefined) {
      noMore(name === undefined ? [] : [name], 0);
      const { blocklists } = await call(ctx, 'GET', '/api/v1/blocklists');
      if (ctx.json) return ctx.print(blocklists);
      if (blocklists.length === 0) return ctx.out('no block-lists configured');
      return ctx.out(table([['NAME', 'FIELD', 'WINDOW', 'WHEN', 'URL'], ...blocklists.map((b: Json) => [b.name, b.field, `${b.window_hours} h`, b.when ?? '(all events)', `${ctx.url}/api/v1/blocklists/${b.name}`])]));
    }
    if (action !== 'get') throw new UsageError(`blocklists: unknown action '${action}' (list, get)`);
    if (!name) throw new UsageError('blocklists get: expected a block-list name');
    const format = ctx.values.format ?? (ctx.json ? 'json' : 'txt');
    if (!['txt', 'csv', 'json', 'rpz'].includes(format)) throw new UsageError(`--format: expected txt, csv, json or rpz, got '${format}'`);
    const body = await call(ctx, 'GET', `/api/v1/blocklists/${encodeURIComponent(name)}?format=${format}`, undefined, 'text');
    ctx.raw(body as string);
  },

  notifications: notificationCommands,
  contacts: contactCommands,

  async reload(ctx, args) {
    noMore(args, 0);
    const r = await call(ctx, 'POST', '/api/v1/pipeline/reload');
    if (ctx.json) return ctx.print(r);
    ctx.out('Configuration reloaded.');
  },
};

function componentTable(rows: Json[]): string {
  return table([
    ['NAME', 'KIND', 'STATE', 'RECEIVED', 'SENT', 'REJECTED', 'LAG', 'IN/S', 'OUT/S', 'LAST ERROR'],
    ...rows.map((c) => [
      c.name,
      c.kind,
      c.paused ? 'paused' : 'running',
      String(c.received),
      String(c.sent),
      String(c.rejected),
      c.kind === 'output' ? `${c.lagEvents} (${Math.round(c.lagSeconds)} s)` : '-',
      c.receivedPerSecond === null ? '-' : String(c.receivedPerSecond),
      c.sentPerSecond === null ? '-' : String(c.sentPerSecond),
      c.lastError ? `${ago(c.lastErrorAt)}: ${clip(c.lastError, 60)}` : '-',
    ]),
  ]);
}

function outbox(depth: unknown): string {
  if (depth === null || depth === undefined) return '-';
  if (typeof depth !== 'object') return String(depth);
  return Object.entries(depth as Record<string, unknown>)
    .map(([k, v]) => `${k} ${String(v)}`)
    .join(', ');
}

function duration(seconds: number): string {
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172_800) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86_400)} d`;
}

function ago(iso: string | null): string {
  if (!iso) return 'never';
  return `${duration(Math.max(0, (Date.now() - Date.parse(iso)) / 1000))} ago`;
}
