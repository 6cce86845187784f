/**
 * Files a configuration names (a token file, a certificate, the config file itself): read at start-up and by
 * `vigil check`, and when one cannot be read the error names the config file, the key, the path and why — never a
 * bare ENOENT/EACCES/EISDIR with a stack.
 */
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { ConfigError } from '../errors.js';

/** Why `path` could not be read, in words (the errno code kept in brackets for searching). */
export function unreadable(err: unknown, path: string): string {
  const code = (err as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
      return `${path} does not exist [ENOENT]`;
    case 'EACCES':
    case 'EPERM':
      return `${path} cannot be read by this process (user ${whoami()}): permission denied [${code}]`;
    case 'EISDIR':
      return `${path} is a directory, not a file [EISDIR]`;
    case 'ENOTDIR':
      return `a part of ${path} is not a directory [ENOTDIR]`;
    case 'ELOOP':
      return `${path} is a loop of symbolic links [ELOOP]`;
    default:
      return `${path} cannot be read: ${(err as Error).message}`;
  }
}

function whoami(): string {
  try {
    return userInfo().username;
  } catch {
    return String(process.getuid?.() ?? '?');
  }
}

export interface NamedFile {
  /** The config file naming it, for the error. */
  file: string | undefined;
  /** Its key path in that config, e.g. `hub.token_file`. */
  key: string;
  /** What the file should hold, e.g. `the agent's token`. */
  holds: string;
}

/** Reads a file a config names; throws ConfigError(file, key: why, what was expected) when it cannot. */
export function readNamedFile(path: string, named: NamedFile): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ConfigError(named.file, [{ path: named.key, message: `${unreadable(err, path)}; expected a readable file holding ${named.holds}` }]);
  }
}

/** A secret kept in a file (a token, a password): its text without surrounding whitespace, which must not be empty. */
export function readSecretFile(path: string, named: NamedFile): string {
  const text = readNamedFile(path, named).toString('utf8').trim();
  if (text === '') throw new ConfigError(named.file, [{ path: named.key, message: `${path} is empty; expected a file holding ${named.holds}` }]);
  return text;
}

/**
 * A listener a config names (`broker.port`, `api.port`) that could not be opened, as a ConfigError naming the key:
 * a port another process holds, a privileged port, an address this machine does not have. Other errors pass.
 */
export function listenError(err: unknown, file: string | undefined, key: string, host: string, port: number): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  const why: Record<string, string> = {
    EADDRINUSE: `${host}:${port} is already in use by another process [EADDRINUSE]; expected a free port (or stop the other process)`,
    EACCES: `${host}:${port} cannot be opened by this process (user ${whoami()}): ports below 1024 need privileges [EACCES]; expected a port of 1024 or more`,
    EADDRNOTAVAIL: `${host} is not an address of this machine [EADDRNOTAVAIL]; expected one of its addresses, 127.0.0.1 or 0.0.0.0`,
  };
  const message = code === undefined ? undefined : why[code];
  return message === undefined ? err : new ConfigError(file, [{ path: key, message }]);
}
