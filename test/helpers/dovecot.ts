/**
 * A real, throw-away Dovecot IMAP server for tests: `/usr/sbin/dovecot -F -c <conf>` (Debian's dovecot-imapd) in
 * the foreground, listening on 127.0.0.1 on a random free port, with its config, run directory, password file and
 * Maildirs in a temp dir. Every call starts its own server, so test files running in parallel never share one.
 * `stop()` ends it and removes the dir; servers still running when the test process exits are killed.
 *
 * The config:
 *   listen on 127.0.0.1, IMAP only      the plain port; with `tls` it offers STARTTLS, and a second port speaks
 *                                       implicit TLS (imaps) with the given certificate
 *   passdb passwd-file, {PLAIN}         one user (test / secret unless given); plaintext auth allowed without TLS,
 *                                       so the cleartext cases work too
 *   userdb static, Maildir in the dir   as root, mail is owned by `nobody` (Dovecot refuses mail access as root);
 *                                       as another user, by that user
 *   log to stderr                       kept in `log()`: a login line says ", TLS" when the session was encrypted
 *   mail_fsync never                    the server's own durability is not what these tests are about
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { ImapFlow } from 'imapflow';
import { freePort } from './processes.js';
import { onProcessExit, stopChild, waitListening } from './servers.js';
import type { CertFiles } from './tls.js';

export const DOVECOT = '/usr/sbin/dovecot';

export interface DovecotServer {
  host: string;
  /** Plain IMAP (STARTTLS offered when started with `tls`). */
  port: number;
  /** Implicit TLS (imaps), only when started with `tls`. */
  tlsPort: number | undefined;
  user: string;
  password: string;
  dir: string;
  /** Everything the server logged. */
  log(): string;
  /** A connected, logged-in client over the plain port (the caller logs out). */
  client(): Promise<ImapFlow>;
  /** Appends a raw RFC 5322 message to `folder` (created when missing); returns its UID. */
  append(folder: string, raw: string | Buffer, flags?: string[]): Promise<number>;
  /** The messages of `folder` (none when it does not exist), in UID order. */
  messages(folder: string): Promise<{ uid: number; flags: string[]; messageId: string | undefined; subject: string | undefined }[]>;
  stop(): Promise<void>;
}

export interface DovecotOptions {
  /** Certificate and key for STARTTLS and the imaps port. */
  tls?: CertFiles;
  user?: string;
  password?: string;
}

const running = new Set<{ child: ChildProcess; dir: string }>();

/** Throws what to install when Dovecot is missing. */
export function requireDovecot(): void {
  if (!existsSync(DOVECOT)) throw new Error(`Dovecot not found at ${DOVECOT}: the imap collector's tests need a real IMAP server; install Debian's dovecot-imapd (apt-get install -y dovecot-imapd)`);
}

export async function startDovecot(options: DovecotOptions = {}): Promise<DovecotServer> {
  requireDovecot();
  const user = options.user ?? 'test';
  const password = options.password ?? 'secret';
  const dir = mkdtempSync(join(tmpdir(), 'vigil-dovecot-'));
  // The mail processes run as the mail user, which must reach its Maildir under this dir.
  chmodSync(dir, 0o755);
  const asRoot = process.getuid?.() === 0;
  const mailUser = asRoot ? 'nobody' : userInfo().username;
  const mailGroup = asRoot ? execFileSync('id', ['-gn', 'nobody']).toString().trim() : execFileSync('id', ['-gn']).toString().trim();
  mkdirSync(join(dir, 'mail'));
  mkdirSync(join(dir, 'run'));
  if (asRoot) chownSync(join(dir, 'mail'), Number(execFileSync('id', ['-u', 'nobody']).toString()), Number(execFileSync('id', ['-g', 'nobody']).toString()));
  writeFileSync(join(dir, 'passwd'), `${user}:{PLAIN}${password}\n`);
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const tlsPort = options.tls ? await freePort() : undefined;
    const lines = [
      'protocols = imap',
      'listen = 127.0.0.1',
      `base_dir = ${join(dir, 'run')}`,
      'log_path = /dev/stderr',
      'mail_fsync = never',
      'disable_plaintext_auth = no',
      'auth_mechanisms = plain login',
      `mail_location = maildir:${join(dir, 'mail')}/%u`,
      ...(asRoot ? [] : [`default_internal_user = ${mailUser}`, `default_login_user = ${mailUser}`]),
      ...(options.tls ? ['ssl = yes', `ssl_cert = <${options.tls.cert}`, `ssl_key = <${options.tls.key}`] : ['ssl = no']),
      'passdb {',
      '  driver = passwd-file',
      `  args = scheme=PLAIN username_format=%u ${join(dir, 'passwd')}`,
      '}',
      'userdb {',
      '  driver = static',
      `  args = uid=${mailUser} gid=${mailGroup} home=${join(dir, 'mail')}/%u`,
      '}',
      'service imap-login {',
      '  inet_listener imap {',
      `    port = ${port}`,
      '  }',
      '  inet_listener imaps {',
      `    port = ${tlsPort ?? 0}`,
      ...(tlsPort ? ['    ssl = yes'] : []),
      '  }',
      '}',
    ];
    const conf = join(dir, 'dovecot.conf');
    writeFileSync(conf, `${lines.join('\n')}\n`);
    const child = spawn(DOVECOT, ['-F', '-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    const entry = { child, dir };
    running.add(entry);
    onProcessExit(cleanupSync);
    try {
      await waitGreeting(child, port, () => log);
      if (tlsPort) await waitListening('dovecot', child, tlsPort, () => log, 15_000);
    } catch (err) {
      await stopChild(child, 'SIGTERM', 5_000);
      running.delete(entry);
      // Another test took a port between freePort() and bind(): pick others.
      if (/Address already in use/i.test(log)) continue;
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
    const client = async (): Promise<ImapFlow> => {
      const c = new ImapFlow({ host: '127.0.0.1', port, secure: false, doSTARTTLS: false, auth: { user, pass: password }, logger: false, disableAutoIdle: true });
      await c.connect();
      return c;
    };
    return {
      host: '127.0.0.1',
      port,
      tlsPort,
      user,
      password,
      dir,
      log: () => log,
      client,
      async append(folder, raw, flags = []) {
        const c = await client();
        try {
          if (folder !== 'INBOX') await c.mailboxCreate(folder).catch(() => undefined);
          const done = await c.append(folder, raw, flags);
          if (!done || done.uid === undefined) throw new Error(`APPEND to ${folder} failed`);
          return done.uid;
        } finally {
          await c.logout();
        }
      },
      async messages(folder) {
        const c = await client();
        try {
          const listed = await c.list();
          if (!listed.some((m) => m.path === folder)) return [];
          await c.mailboxOpen(folder, { readOnly: true });
          const out: { uid: number; flags: string[]; messageId: string | undefined; subject: string | undefined }[] = [];
          for await (const m of c.fetch('1:*', { uid: true, flags: true, envelope: true })) {
            out.push({ uid: m.uid, flags: [...(m.flags ?? [])].sort(), messageId: m.envelope?.messageId, subject: m.envelope?.subject });
          }
          return out.sort((a, b) => a.uid - b.uid);
        } catch (err) {
          // An empty mailbox has no message 1.
          if (/Invalid messageset|No matching messages/i.test(String(err))) return [];
          throw err;
        } finally {
          await c.logout();
        }
      },
      async stop() {
        await stopChild(child, 'SIGTERM', 5_000);
        running.delete(entry);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  rmSync(dir, { recursive: true, force: true });
  throw new Error('dovecot: no free port after 5 attempts');
}

/** Waits for the IMAP greeting (`* OK`) on the plain port. */
async function waitGreeting(child: ChildProcess, port: number, log: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`dovecot exited early:\n${log()}`);
    const greeting = await new Promise<string>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      let text = '';
      socket.setTimeout(2000, () => socket.destroy());
      socket.on('data', (d: Buffer) => {
        text += d.toString();
        if (text.includes('\r\n')) socket.destroy();
      });
      socket.once('close', () => resolve(text));
      socket.once('error', () => resolve(''));
    });
    if (greeting.startsWith('* OK')) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`dovecot did not greet on ${port} within 15 s:\n${log()}`);
}

function cleanupSync(): void {
  for (const entry of running) {
    if (entry.child.exitCode === null && entry.child.signalCode === null) entry.child.kill('SIGKILL');
    rmSync(entry.dir, { recursive: true, force: true });
    running.delete(entry);
  }
}
