/**
 * A real, throw-away RabbitMQ node with its STOMP plugin for the stomp collector's tests (Debian's rabbitmq-server),
 * private to the test file that starts it: its own node name, Erlang distribution port and epmd on free loopback
 * ports, its mnesia, logs, Erlang cookie ($HOME) and config in a temp dir — it never touches a system-wide service.
 * Erlang starts slowly (~10 s): start one node per test file, not per test.
 *
 * How it is started:
 *   epmd -port <free>                    our own child (ERL_EPMD_PORT points the node to it), killed at stop
 *   /usr/lib/rabbitmq/bin/rabbitmq-server
 *                                        the broker script itself, not Debian's wrapper in /usr/sbin (which
 *                                        switches to the rabbitmq user); as root the node runs as root
 *   enabled_plugins = [rabbitmq_stomp].  the file `rabbitmq-plugins --offline enable rabbitmq_stomp` writes, written
 *                                        directly (the CLI would start another Erlang VM just for that)
 *   rabbitmq.conf                        AMQP off; STOMP on 127.0.0.1:<free>; with `tls`, STOMP over TLS on another
 *                                        port with the given certificate, client certificates required and their CN
 *                                        taken as the user name (stomp.ssl_cert_login)
 *   definitions.json                     loaded at boot: vhost '/', the user `vigil` (password `secret`) and, with
 *                                        `certUser`, a user without password named as the client certificate's CN;
 *                                        with definitions, no default user (guest) is made, so a CONNECT without a
 *                                        login or a certificate is refused
 * Ready once a STOMP CONNECT with the user is answered CONNECTED. `stop()` kills the node's process group and epmd
 * and removes the dir; nodes still running when the test process exits are killed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './processes.js';
import { onProcessExit } from './servers.js';

export const RABBITMQ_SERVER = '/usr/lib/rabbitmq/bin/rabbitmq-server';
const EPMD = '/usr/bin/epmd';

export interface RabbitMq {
  host: string;
  stompPort: number;
  /** STOMP over TLS, only when started with `tls`. */
  stompTlsPort: number | undefined;
  user: string;
  password: string;
  dir: string;
  /** Everything the node logged. */
  log(): string;
  /** Sends each body as one message to `destination` (persistent), and waits for the broker's receipt of the last. */
  publish(destination: string, bodies: (string | Buffer)[]): Promise<void>;
  stop(): Promise<void>;
}

export interface RabbitMqOptions {
  /** Server certificate, key and the CA that verifies client certificates, for the TLS STOMP listener. */
  tls?: { cert: string; key: string; ca: string };
  /** A user for client-certificate login: the CN of the client certificate. */
  certUser?: string;
}

const running = new Set<{ node: ChildProcess; epmd: ChildProcess; dir: string }>();

/** Throws what to install when RabbitMQ is missing. */
export function requireRabbitMq(): void {
  if (!existsSync(RABBITMQ_SERVER) || !existsSync(EPMD)) {
    throw new Error(`RabbitMQ not found at ${RABBITMQ_SERVER}: the stomp collector's tests need a real broker; install Debian's rabbitmq-server (apt-get install -y rabbitmq-server)`);
  }
}

export async function startRabbitMq(options: RabbitMqOptions = {}): Promise<RabbitMq> {
  requireRabbitMq();
  const user = 'vigil';
  const password = 'secret';
  const dir = mkdtempSync(join(tmpdir(), 'vigil-rabbitmq-'));
  for (let attempt = 0; attempt < 3; attempt++) {
    const [epmdPort, distPort, stompPort] = [await freePort(), await freePort(), await freePort()];
    const stompTlsPort = options.tls ? await freePort() : undefined;
    writeFileSync(join(dir, 'enabled_plugins'), '[rabbitmq_stomp].\n');
    writeFileSync(join(dir, 'definitions.json'), JSON.stringify(definitions(user, password, options.certUser)));
    const conf = [
      'listeners.tcp = none',
      `stomp.listeners.tcp.1 = 127.0.0.1:${stompPort}`,
      `load_definitions = ${join(dir, 'definitions.json')}`,
      'log.console = true',
      'log.console.level = info',
      'log.file = false',
    ];
    if (options.tls) {
      conf.push(
        `stomp.listeners.ssl.1 = 127.0.0.1:${stompTlsPort}`,
        `ssl_options.cacertfile = ${options.tls.ca}`,
        `ssl_options.certfile = ${options.tls.cert}`,
        `ssl_options.keyfile = ${options.tls.key}`,
        'ssl_options.verify = verify_peer',
        'ssl_options.fail_if_no_peer_cert = true',
        'stomp.ssl_cert_login = true',
        'ssl_cert_login_from = common_name',
      );
    }
    writeFileSync(join(dir, 'rabbitmq.conf'), `${conf.join('\n')}\n`);
    writeFileSync(join(dir, 'rabbitmq-env.conf'), '');
    mkdirSync(join(dir, 'home'), { recursive: true });
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      HOME: join(dir, 'home'), // the Erlang cookie
      ERL_EPMD_PORT: String(epmdPort),
      ERL_EPMD_ADDRESS: '127.0.0.1',
      RABBITMQ_NODENAME: `vigil-test-${randomBytes(4).toString('hex')}@localhost`,
      RABBITMQ_DIST_PORT: String(distPort),
      RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
      RABBITMQ_CONFIG_FILE: join(dir, 'rabbitmq.conf'),
      RABBITMQ_ADVANCED_CONFIG_FILE: join(dir, 'advanced.config'),
      RABBITMQ_CONF_ENV_FILE: join(dir, 'rabbitmq-env.conf'),
      RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, 'enabled_plugins'),
      RABBITMQ_PLUGINS_EXPAND_DIR: join(dir, 'plugins-expand'),
      RABBITMQ_MNESIA_BASE: join(dir, 'mnesia'),
      RABBITMQ_LOG_BASE: join(dir, 'log'),
      RABBITMQ_PID_FILE: join(dir, 'rabbitmq.pid'),
      RABBITMQ_LOGS: '-',
    };
    let log = '';
    const collect = (d: Buffer): void => void (log += d.toString());
    const epmd = spawn(EPMD, ['-port', String(epmdPort)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    epmd.stdout!.on('data', collect);
    epmd.stderr!.on('data', collect);
    // Its own process group: stop() kills the script, the Erlang VM and its helpers together.
    const node = spawn(RABBITMQ_SERVER, [], { env, cwd: dir, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    node.stdout!.on('data', collect);
    node.stderr!.on('data', collect);
    const entry = { node, epmd, dir };
    running.add(entry);
    onProcessExit(cleanupSync);
    try {
      await waitConnected(node, stompPort, user, password, () => log);
    } catch (err) {
      kill(entry);
      running.delete(entry);
      if (/eaddrinuse|already in use/i.test(log)) continue; // a port taken between freePort() and bind: others
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
    return {
      host: '127.0.0.1',
      stompPort,
      stompTlsPort,
      user,
      password,
      dir,
      log: () => log,
      publish: (destination, bodies) => publish(stompPort, user, password, destination, bodies),
      async stop() {
        kill(entry);
        await new Promise<void>((resolve) => (node.exitCode !== null || node.signalCode !== null ? resolve() : node.once('exit', () => resolve())));
        running.delete(entry);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  rmSync(dir, { recursive: true, force: true });
  throw new Error('rabbitmq: no free ports after 3 attempts');
}

/** Users, the vhost and permissions as RabbitMQ's definitions export writes them. */
function definitions(user: string, password: string, certUser: string | undefined): unknown {
  // rabbit_password_hashing_sha256: base64(salt ‖ SHA-256(salt ‖ password)) with a 4-byte salt.
  const salt = randomBytes(4);
  const hash = Buffer.concat([salt, createHash('sha256').update(Buffer.concat([salt, Buffer.from(password)])).digest()]).toString('base64');
  const users = [{ name: user, password_hash: hash, hashing_algorithm: 'rabbit_password_hashing_sha256', tags: [] as string[] }];
  if (certUser) users.push({ name: certUser, password_hash: '', hashing_algorithm: 'rabbit_password_hashing_sha256', tags: [] });
  return {
    users,
    vhosts: [{ name: '/' }],
    permissions: users.map((u) => ({ user: u.name, vhost: '/', configure: '.*', write: '.*', read: '.*' })),
  };
}

/** Waits until a STOMP CONNECT with the user is answered CONNECTED (the plugin and the definitions are up). */
async function waitConnected(node: ChildProcess, port: number, user: string, password: string, log: () => string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (node.exitCode !== null || node.signalCode !== null) throw new Error(`rabbitmq exited early:\n${log().slice(-4000)}`);
    const answer = await new Promise<string>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      let text = '';
      socket.setTimeout(2000, () => socket.destroy());
      socket.on('connect', () => socket.write(`CONNECT\naccept-version:1.2\nlogin:${user}\npasscode:${password}\n\n\0`));
      socket.on('data', (d: Buffer) => {
        text += d.toString();
        if (text.includes('\0')) socket.destroy();
      });
      socket.once('close', () => resolve(text));
      socket.once('error', () => resolve(''));
    });
    if (answer.startsWith('CONNECTED')) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`rabbitmq did not accept a STOMP connection on ${port} within 60 s:\n${log().slice(-4000)}`);
}

/** A minimal STOMP 1.2 sender (independent of the client under test): CONNECT, SENDs, a receipt for the last. */
async function publish(port: number, user: string, password: string, destination: string, bodies: (string | Buffer)[]): Promise<void> {
  const socket: Socket = connect(port, '127.0.0.1');
  let text = '';
  const frames: string[] = [];
  const waiters: (() => void)[] = [];
  socket.on('data', (d: Buffer) => {
    text += d.toString('latin1');
    let end: number;
    while ((end = text.indexOf('\0')) >= 0) {
      frames.push(text.slice(0, end).replace(/^\n+/, ''));
      text = text.slice(end + 1);
      waiters.splice(0).forEach((w) => w());
    }
  });
  const next = async (): Promise<string> => {
    while (frames.length === 0) {
      if (socket.destroyed) throw new Error('the broker closed the STOMP connection');
      await new Promise<void>((resolve) => {
        waiters.push(resolve);
        socket.once('close', resolve);
      });
    }
    return frames.shift()!;
  };
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.write(`CONNECT\naccept-version:1.2\nhost:/\nlogin:${user}\npasscode:${password}\n\n\0`);
  const connected = await next();
  if (!connected.startsWith('CONNECTED')) throw new Error(`STOMP CONNECT refused: ${connected}`);
  bodies.forEach((body, i) => {
    const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body);
    const receipt = i === bodies.length - 1 ? 'receipt:published\n' : '';
    socket.write(Buffer.concat([Buffer.from(`SEND\ndestination:${destination}\npersistent:true\ncontent-length:${bytes.length}\n${receipt}\n`), bytes, Buffer.from('\0')]));
  });
  if (bodies.length > 0) {
    const answer = await next();
    if (!answer.startsWith('RECEIPT')) throw new Error(`STOMP SEND refused: ${answer}`);
  }
  socket.end('DISCONNECT\n\n\0');
}

function kill(entry: { node: ChildProcess; epmd: ChildProcess }): void {
  try {
    if (entry.node.pid !== undefined) process.kill(-entry.node.pid, 'SIGKILL');
  } catch {
    // already gone
  }
  if (entry.epmd.exitCode === null && entry.epmd.signalCode === null) entry.epmd.kill('SIGKILL');
}

function cleanupSync(): void {
  for (const entry of running) {
    kill(entry);
    rmSync(entry.dir, { recursive: true, force: true });
    running.delete(entry);
  }
}
