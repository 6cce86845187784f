/**
 * One catalogue of coded errors. Every error Vigil raises on purpose is a VigilError with a code from
 * this table, and every code has one delivery meaning:
 *   - `config`    fatal at start-up: the component cannot run with what it was given;
 *   - `record`    one record/event is rejected and counted, the rest goes on;
 *   - `transient` the operation may succeed later: retry with backoff, never drop.
 */
export type ErrorClass = 'config' | 'record' | 'transient';

export const ERROR_CODES = {
  VIGIL_E_CONFIG: 'config',
  VIGIL_E_USAGE: 'config',
  VIGIL_E_FIELD_UNKNOWN: 'record',
  VIGIL_E_FIELD_INVALID: 'record',
  VIGIL_E_FIELD_EXISTS: 'record',
  VIGIL_E_RECORD: 'record',
  VIGIL_E_WIRE: 'record',
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
  return err instanceof VigilError && err.class === 'record';
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
