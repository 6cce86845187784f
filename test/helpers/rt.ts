/**
 * A real, throw-away Request Tracker for tests: Debian's RT 5 (request-tracker5, rt5-db-sqlite, rt5-standalone) with
 * its own site config, SQLite database and log in a temp dir, served by `rt-server` (Plack's single-process
 * Standalone server) on 127.0.0.1 and a free port. RT reads the site config named by RT_SITE_CONFIG and the
 * RT_SiteConfig.d named by RT_SITE_CONFIG_DIR (RT::Config::LoadConfig), so /etc/request-tracker5 is not read.
 * `rt-setup-database-5 --action init` makes the database; a second `--action insert` adds what the tests need:
 *   - the queue 'Incident Reports';
 *   - the user `intelmq` who may see, own and modify its tickets (the collector's user);
 *   - the user `reader` who may only see them: RT refuses its take and edit ("400 Bad Request");
 *   - root's password (RT's initial one is 'password').
 * Mail RT would send (the autoreply to a requestor) goes to a temp file (RT's `testfile` MailCommand), not an MTA.
 * Starting takes ~10 s (two database steps and the server's start), so a test file starts one and shares it.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, waitUntil } from './processes.js';
import { onProcessExit, stopChild } from './servers.js';

const RT_SERVER = '/usr/share/request-tracker5/libexec/rt-server';
const SETUP_DATABASE = '/usr/sbin/rt-setup-database-5';

export const RT_QUEUE = 'Incident Reports';

export interface RtUser {
  user: string;
  password: string;
}

export interface NewTicket {
  subject: string;
  queue?: string;
  requestor?: string;
  /** The creating message's text. */
  content?: string;
  attachments?: { name: string; type?: string; bytes: Buffer }[];
}

export interface RequestTracker {
  /** REST 1.0 base: http://127.0.0.1:<port>/REST/1.0 */
  uri: string;
  root: RtUser;
  /** May see, own and modify the tickets of RT_QUEUE. */
  collector: RtUser;
  /** May only see them. */
  reader: RtUser;
  /** Creates a ticket as root through REST 1.0 (ticket/new, the attachments as multipart parts); its id. */
  createTicket(spec: NewTicket): Promise<number>;
  /** The body of a REST 1.0 GET as root (after RT's status line), e.g. `ticket/3/show`. */
  get(path: string): Promise<string>;
  /** One field of the ticket (`Owner`, `Status`, …) as RT shows it. */
  field(ticket: number, name: string): Promise<string | undefined>;
  log(): string;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
onProcessExit(() => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * A multipart/form-data body of the form field `content` and the files `attachment_<n>`. Written here because
 * FormData turns the field's "\n" into "\r\n" (the HTML form rule), and RT's REST 1.0 form parser then reads
 * "Queue: name\r" as the queue's name.
 */
function multipart(content: string, files: { name: string; type?: string; bytes: Buffer }[]): { type: string; bytes: Buffer } {
  const boundary = `vigil-${Math.random().toString(16).slice(2)}`;
  const part = (disposition: string, type: string, bytes: Buffer): Buffer[] => [Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; ${disposition}\r\nContent-Type: ${type}\r\n\r\n`), bytes, Buffer.from('\r\n')];
  const parts = [
    ...part('name="content"', 'text/plain; charset=utf-8', Buffer.from(content)),
    ...files.flatMap((f, i) => part(`name="attachment_${i + 1}"; filename="${f.name}"`, f.type ?? 'application/octet-stream', f.bytes)),
    Buffer.from(`--${boundary}--\r\n`),
  ];
  return { type: `multipart/form-data; boundary=${boundary}`, bytes: Buffer.concat(parts) };
}

/** A Perl string literal. */
const perl = (s: string): string => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

export async function startRequestTracker(): Promise<RequestTracker> {
  if (!existsSync(RT_SERVER) || !existsSync(SETUP_DATABASE)) {
    throw new Error(`Request Tracker not found (${RT_SERVER}, ${SETUP_DATABASE}): the rt collector's tests need a real RT; install Debian's request-tracker5 rt5-standalone rt5-db-sqlite dma`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'vigil-rt-'));
  const port = await freePort();
  const root: RtUser = { user: 'root', password: 'rt-root-secret' };
  const collector: RtUser = { user: 'intelmq', password: 'rt-secret' };
  const reader: RtUser = { user: 'reader', password: 'rt-reader-secret' };

  const siteDir = join(dir, 'RT_SiteConfig.d');
  mkdirSync(siteDir);
  const siteConfig = join(dir, 'RT_SiteConfig.pm');
  writeFileSync(
    siteConfig,
    [
      `Set($rtname, 'vigil-test');`,
      `Set($Organization, 'vigil.test');`,
      `Set($WebDomain, '127.0.0.1');`,
      `Set($WebPort, ${port});`,
      `Set($WebPath, '');`,
      `Set($DatabaseType, 'SQLite');`,
      `Set($DatabaseName, ${perl(join(dir, 'rt.sqlite'))});`,
      // Times in REST answers (a ticket's Created) are in the user's zone: UTC, as the collector reads them.
      `Set($Timezone, 'UTC');`,
      `Set($MailCommand, 'testfile');`,
      `Set($LogToSTDERR, 'warning');`,
      `Set($LogToSyslog, undef);`,
      `Set($LogToFile, undef);`,
      '1;',
      '',
    ].join('\n'),
  );
  const testData = join(dir, 'testdata.pl');
  const rights = (user: string, names: string[]): string => names.map((r) => `{ UserId => ${perl(user)}, Queue => ${perl(RT_QUEUE)}, Right => '${r}' },`).join('\n  ');
  writeFileSync(
    testData,
    [
      `@Queues = ({ Name => ${perl(RT_QUEUE)} });`,
      '@Users = (',
      `  { Name => ${perl(collector.user)}, Password => ${perl(collector.password)}, Privileged => 1, EmailAddress => 'intelmq@vigil.test' },`,
      `  { Name => ${perl(reader.user)}, Password => ${perl(reader.password)}, Privileged => 1, EmailAddress => 'reader@vigil.test' },`,
      ');',
      '@ACL = (',
      `  ${rights(collector.user, ['SeeQueue', 'ShowTicket', 'OwnTicket', 'ModifyTicket'])}`,
      `  ${rights(reader.user, ['SeeQueue', 'ShowTicket'])}`,
      ');',
      `@Final = (sub { my $root = RT::User->new(RT->SystemUser); $root->Load('root'); my ($ok, $why) = $root->SetPassword(${perl(root.password)}); die "root's password: $why" unless $ok; });`,
      '1;',
      '',
    ].join('\n'),
  );

  const env = { ...process.env, RT_SITE_CONFIG: siteConfig, RT_SITE_CONFIG_DIR: siteDir };
  const setup = async (...args: string[]): Promise<void> => {
    try {
      await promisify(execFile)(SETUP_DATABASE, ['--skip-create', ...args], { env, cwd: dir });
    } catch (err) {
      const e = err as Error & { stdout?: string; stderr?: string };
      throw new Error(`rt-setup-database-5 ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
    }
  };
  await setup('--action', 'init');
  await setup('--action', 'insert', '--datafile', testData);

  let output = '';
  const child = spawn(RT_SERVER, ['--server', 'Standalone', '--host', '127.0.0.1', '--port', String(port)], { env, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  running.add(child);

  const uri = `http://127.0.0.1:${port}/REST/1.0`;
  let cookie = '';
  /** A REST 1.0 call as root: the body after the status line, or an error with RT's status. */
  const call = async (path: string, body?: URLSearchParams | { type: string; bytes: Buffer }): Promise<string> => {
    const form = body instanceof URLSearchParams || !body ? { body } : { body: new Uint8Array(body.bytes), headers: { 'content-type': body.type } };
    const response = await fetch(`${uri}/${path}`, { method: body ? 'POST' : 'GET', body: form.body, headers: { ...form.headers, ...(cookie ? { cookie } : {}) } });
    const sid = response.headers.getSetCookie().map((c) => c.split(';')[0]!).find((c) => c.startsWith('RT_SID'));
    if (sid) cookie = sid;
    const text = await response.text();
    const status = /^RT\/\S+ (\d{3}) (.*)\n/.exec(text);
    if (!status) throw new Error(`RT answered HTTP ${response.status}, not as REST 1.0: ${text.slice(0, 200)}`);
    if (status[1] !== '200') throw new Error(`RT answered ${status[1]} ${status[2]} to ${path}: ${text}`);
    return text.slice(status[0].length).replace(/^\n/, '');
  };
  const login = (): Promise<string> => call('', new URLSearchParams({ user: root.user, pass: root.password }));
  // Ready once REST 1.0 answers a login (the port opens before RT has loaded).
  await waitUntil(
    async () => {
      if (child.exitCode !== null) throw new Error(`rt-server exited early:\n${output}`);
      return login().then(
        () => true,
        () => false,
      );
    },
    60_000,
    () => `rt-server did not answer REST 1.0 on ${uri} within 60 s:\n${output}`,
    200,
  );

  return {
    uri,
    root,
    collector,
    reader,
    async createTicket(spec) {
      const attachments = spec.attachments ?? [];
      // REST 1.0's ticket/new form: RFC 822-like fields, continuation lines indented; each "Attachment: name" is the
      // multipart part attachment_<n>.
      const text = (spec.content ?? 'Please find the report attached.').split('\n').join('\n ');
      const content = [
        'id: ticket/new',
        `Queue: ${spec.queue ?? RT_QUEUE}`,
        `Requestor: ${spec.requestor ?? 'autoreports@shadowserver.org'}`,
        `Subject: ${spec.subject}`,
        `Text: ${text}`,
        ...attachments.map((a) => `Attachment: ${a.name}`),
        '',
      ].join('\n');
      const answer = await call('ticket/new', multipart(content, attachments));
      const id = /^# Ticket (\d+) created\./m.exec(answer)?.[1];
      if (!id) throw new Error(`RT did not create the ticket: ${answer}`);
      return Number(id);
    },
    get: (path) => call(path),
    async field(ticket, name) {
      return new RegExp(`^${name}: ?(.*)$`, 'm').exec(await call(`ticket/${ticket}/show`))?.[1];
    },
    log: () => output,
    async stop() {
      running.delete(child);
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
