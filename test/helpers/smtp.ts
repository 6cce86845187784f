/**
 * A real SMTP server for tests: Debian's python3-aiosmtpd (`python3 -m aiosmtpd`) with the handler in
 * smtp_maildir.py, on a random free port of 127.0.0.1, delivering to a Maildir in a temp dir. STARTTLS with a
 * certificate from test/helpers/tls.ts (required before anything else, as aiosmtpd does by default), AUTH PLAIN and
 * LOGIN when `users` is given, and per-recipient answers (4xx/5xx) and holds that a test can change while the
 * server runs (`control`). Every call starts its own server; `stop()` ends it and removes the directory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, tempDir } from './processes.js';
import { onProcessExit, stopChild, waitListening } from './servers.js';
import { createCa, type CertificateAuthority } from './tls.js';

/** Debian's interpreter: the package installs into /usr/lib/python3/dist-packages, which another python3 on PATH may not see. */
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

export interface SmtpControl {
  users?: Record<string, string>;
  /** The reply to RCPT TO for an address, e.g. `450 4.2.0 Mailbox busy` or `550 5.1.1 No such user`. */
  answers?: Record<string, string>;
  hold_rcpt?: number;
  hold_data?: number;
}

export interface SmtpServer {
  host: string;
  port: number;
  /** The CA that signed the server's certificate (for the client's `ca_file`). */
  ca: CertificateAuthority;
  maildir: string;
  /** Replaces the server's behaviour (read at every command). */
  control(settings: SmtpControl): void;
  /** The messages delivered so far, oldest first, as raw bytes. */
  messages(): Buffer[];
  stop(): Promise<void>;
}

const running = new Set<{ child: ChildProcess; dir: string }>();

export function aiosmtpdInstalled(): boolean {
  return existsSync('/usr/lib/python3/dist-packages/aiosmtpd');
}

export async function startSmtp(initial: SmtpControl = {}): Promise<SmtpServer> {
  const dir = tempDir('vigil-smtp-');
  const ca = createCa('vigil-smtp-ca', dir);
  const cert = ca.issue('localhost', { name: 'smtp' });
  const maildir = join(dir, 'Maildir');
  const controlFile = join(dir, 'control.json');
  const control = (s: SmtpControl): void => writeFileSync(controlFile, JSON.stringify(s));
  control(initial);
  const helpers = dirname(fileURLToPath(import.meta.url));
  let lastError: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const child = spawn(PYTHON, ['-m', 'aiosmtpd', '-n', '-l', `127.0.0.1:${port}`, '--tlscert', cert.cert, '--tlskey', cert.key, '-c', 'smtp_maildir.MaildirHandler', maildir, controlFile], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PYTHONPATH: helpers, PYTHONDONTWRITEBYTECODE: '1' },
    });
    let log = '';
    child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    const entry = { child, dir };
    running.add(entry);
    onProcessExit(cleanupSync);
    try {
      await waitListening('aiosmtpd', child, port, () => log);
    } catch (err) {
      lastError = err;
      await stopChild(child, 'SIGKILL');
      running.delete(entry);
      if (/Address already in use/i.test(log)) continue;
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
    return {
      host: '127.0.0.1',
      port,
      ca,
      maildir,
      control,
      messages() {
        const box = join(maildir, 'new');
        if (!existsSync(box)) return [];
        // Maildir names start with the delivery time in seconds, then a counter: sort by the counter within a second.
        const order = (n: string): [number, number] => [Number(n.split('.')[0]), Number(/_(\d+)\./.exec(n)?.[1] ?? 0)];
        return readdirSync(box)
          .sort((a, b) => order(a)[0] - order(b)[0] || order(a)[1] - order(b)[1])
          .map((n) => readFileSync(join(box, n)));
      },
      async stop() {
        await stopChild(child, 'SIGTERM');
        running.delete(entry);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  rmSync(dir, { recursive: true, force: true });
  throw lastError;
}

function cleanupSync(): void {
  for (const { child, dir } of running) {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
  running.clear();
}
