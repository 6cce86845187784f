/**
 * Structured logs (pino): JSON lines on stderr by default, one child logger per component so every line names
 * the component (and feed, output, agent) it is about. Messages are sentences.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

export interface LogOptions {
  level?: string;
  /** Component name of the process: `hub`, `agent`. */
  name: string;
  /** Where to write (default: stderr, fd 2). */
  destination?: number | string;
}

export function createLogger(options: LogOptions): Logger {
  return pino(
    { name: options.name, level: options.level ?? process.env.VIGIL_LOG_LEVEL ?? 'info', base: { pid: process.pid } },
    pino.destination({ dest: options.destination ?? 2, sync: true }),
  );
}

/** A logger that writes nothing, for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
