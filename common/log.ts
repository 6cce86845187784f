/**
 * Structured logs (pino), one child logger per component so every line names the component (and feed, output,
 * agent) it is about. Messages are sentences.
 *
 * Where they go: JSON lines on stderr for machines (systemd's journal, a log shipper, a pipe, a file), and
 * human-readable lines — time, level, message, then the fields — when stderr is a terminal, e.g. `npm start`.
 * pino-pretty is loaded only then: an agent under systemd never pays for it (the idle agent's memory is a
 * target, docs/performance.md). VIGIL_LOG_FORMAT=json or =pretty overrides the choice.
 */
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

export interface LogOptions {
  level?: string;
  /** Component name of the process: `hub`, `agent`. */
  name: string;
  /** Where to write (default: stderr, fd 2). */
  destination?: number | string;
}

/** Whether lines to `destination` are for a person: a terminal, unless VIGIL_LOG_FORMAT says otherwise. */
export function prettyLogs(destination: number | string = 2, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.VIGIL_LOG_FORMAT === 'json') return false;
  if (env.VIGIL_LOG_FORMAT === 'pretty') return true;
  return destination === 2 ? process.stderr.isTTY === true : destination === 1 ? process.stdout.isTTY === true : false;
}

export async function createLogger(options: LogOptions): Promise<Logger> {
  const dest = options.destination ?? 2;
  const settings = { name: options.name, level: options.level ?? process.env.VIGIL_LOG_LEVEL ?? 'info', base: { pid: process.pid } };
  if (!prettyLogs(dest)) return pino(settings, pino.destination({ dest, sync: true }));
  // In-process and synchronous (not pino's worker-thread transport): a line is on the terminal before the next
  // statement runs, as with the JSON destination, and no extra thread is started.
  const { default: pretty } = await import('pino-pretty');
  const stream = pretty({
    destination: dest,
    sync: true,
    colorize: typeof dest === 'number' && (dest === 2 ? process.stderr : process.stdout).isTTY === true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname',
    singleLine: true, // one line per entry: the fields after the message, as JSON
    messageKey: 'msg',
  }) as DestinationStream;
  return pino(settings, stream);
}

/** A logger that writes nothing, for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
