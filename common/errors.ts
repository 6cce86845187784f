/**
 * One catalogue of coded errors. Every error Vigil raises on purpose is a VigilError with a code from
 * this table, and every code has one delivery meaning:
 *   - `config`    fatal at start-up: the component cannot run with what it was given;
 *   - `record`    one record/event is bad: it is rejected (or dead-lettered) with its reason and counted, the rest
 *                 goes on — never retried, the same data fails the same way;
 *   - `permanent` the operation cannot succeed as it stands (a destination refusing the batch or the credentials,
 *                 a malformed request): dead-lettered at once, or answered 4xx — never retried;
 *   - `transient` the operation may succeed later: retried with backoff, never dropped.
 * Every `VIGIL_E_*` code used anywhere in the source is in this table (test/common/errors.test.ts greps for them).
 */
export type ErrorClass = 'config' | 'record' | 'permanent' | 'transient';

export const ERROR_CODES = {
  VIGIL_E_CONFIG: 'config',
  VIGIL_E_USAGE: 'config',
  VIGIL_E_FIELD_UNKNOWN: 'record',
  VIGIL_E_FIELD_INVALID: 'record',
  VIGIL_E_FIELD_EXISTS: 'record',
  VIGIL_E_RECORD: 'record',
  /** An event or batch over a limit of common/limits.ts. */
  VIGIL_E_LIMIT: 'record',
  /** A payload or stored value that cannot be decoded as a batch. */
  VIGIL_E_WIRE: 'record',
  /** An API request that is malformed as sent (answered 400). */
  VIGIL_E_REQUEST: 'permanent',
  /** A destination refused the batch for a reason retrying cannot change (authentication, a missing table, 404…). */
  VIGIL_E_REFUSED: 'permanent',
  VIGIL_E_IO: 'transient',
  VIGIL_E_UNAVAILABLE: 'transient',
} as const satisfies Record<string, ErrorClass>;

export type ErrorCode = keyof typeof ERROR_CODES;

export class VigilError extends Error {
  readonly code: ErrorCode;
  readonly class: ErrorClass;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}, options?: ErrorOptions) {
    super(message, options);
    this.name = 'VigilError';
    this.code = code;
    this.class = ERROR_CODES[code];
    this.details = details;
  }
}

/** Raised by the harmonisation layer: names the field, the offending value and the rule it broke. */
export class FieldError extends VigilError {
  readonly field: string;
  readonly value: unknown;
  readonly rule: string;

  constructor(code: 'VIGIL_E_FIELD_UNKNOWN' | 'VIGIL_E_FIELD_INVALID' | 'VIGIL_E_FIELD_EXISTS', field: string, value: unknown, rule: string) {
    super(code, `${field}: ${describeValue(value)} ${rule}`, { field, value, rule });
    this.name = 'FieldError';
    this.field = field;
    this.value = value;
    this.rule = rule;
  }
}

/** A configuration problem: which file, which key path, what was expected. */
export class ConfigError extends VigilError {
  readonly file: string | undefined;
  readonly problems: readonly ConfigProblem[];

  constructor(file: string | undefined, problems: readonly ConfigProblem[]) {
    const where = file ?? '<config>';
    const lines = problems.map((p) => `  ${where}: ${p.path || '(root)'}: ${p.message}`);
    super('VIGIL_E_CONFIG', `invalid configuration in ${where}:\n${lines.join('\n')}`, { file, problems });
    this.name = 'ConfigError';
    this.file = file;
    this.problems = problems;
  }
}

export interface ConfigProblem {
  /** Dotted key path, e.g. `feeds[2].parser.params.columns`. */
  path: string;
  message: string;
}

/**
 * A component's own config errors name only its parameter (`file`); seen from the config file they sit under the
 * component's key (`pipeline.experts[2].params`). Other errors become one problem at that key.
 */
export function configErrorAt(err: unknown, file: string | undefined, prefix: string): ConfigError {
  if (err instanceof ConfigError) {
    return new ConfigError(file ?? err.file, err.problems.map((p) => ({ path: p.path.startsWith(prefix) ? p.path : p.path ? `${prefix}.${p.path}` : prefix, message: p.message })));
  }
  return new ConfigError(file, [{ path: prefix, message: err instanceof Error ? err.message : String(err) }]);
}

export function isRecordError(err: unknown): boolean {
  return errorClass(err) === 'record';
}

/** Node's error codes for failures that may pass: the network, a full disk, too many open files. */
const TRANSIENT_SYSTEM_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'EAI_AGAIN', 'ENOSPC', 'EDQUOT', 'EIO', 'EMFILE', 'ENFILE', 'EBUSY', 'EAGAIN']);

/**
 * The delivery class of any thrown value: a VigilError's own; an error carrying a catalogued code (the API's
 * request errors) that code's; a network or disk error of Node's `transient`; anything else `unclassified`. The
 * caller chooses that: an output takes `transient` (nothing says the write cannot succeed, and its attempt limit
 * still ends the retries), an expert `permanent` (a bug in it does not heal by waiting).
 */
export function errorClass(err: unknown, unclassified: ErrorClass = 'transient'): ErrorClass {
  if (err instanceof VigilError) return err.class;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') {
    if (Object.hasOwn(ERROR_CODES, code)) return ERROR_CODES[code as ErrorCode];
    if (TRANSIENT_SYSTEM_CODES.has(code)) return 'transient';
  }
  return unclassified;
}

/** True when retrying may help: only transient failures are retried, with backoff. */
export function isTransient(err: unknown): boolean {
  return errorClass(err) === 'transient';
}

function describeValue(value: unknown): string {
  let text: string;
  try {
    text = typeof value === 'string' ? JSON.stringify(value) : JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}
