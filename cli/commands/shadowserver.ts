/**
 * `vigil shadowserver update-schema`: downloads the report schema Shadowserver publishes for IntelMQ and installs it
 * where the shadowserver parser looks first, so new report types work without a new Vigil release. The file is
 * checked (JSON, report entries of the expected shape) before it replaces the old one, and replaced atomically,
 * so a running agent never reads half a file; the parser picks the new file up when its modification time changes.
 */
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { VigilError } from '../../common/errors.js';
import { compileSchema, SCHEMA_ENV, SCHEMA_STATE_FILE, updateTargetPath, type Schema } from '../../agent/parsers/shadowserver/_schema.js';

/** Where IntelMQ's Shadowserver parser downloads the schema from. */
export const DEFAULT_SCHEMA_URL = 'https://interchange.shadowserver.org/intelmq/v1/schema';
const DEFAULT_TIMEOUT_S = 60;

const usage = `usage: vigil shadowserver update-schema [--url URL] [--out FILE] [--timeout SECONDS]

Downloads the Shadowserver report schema, checks it and installs it atomically.
  --url URL          where to download from (default: ${DEFAULT_SCHEMA_URL})
  --out FILE         where to write it (default: $${SCHEMA_ENV} if set, else ${SCHEMA_STATE_FILE});
                     the shadowserver parser reads that file when it exists and has no schema_file parameter
  --timeout SECONDS  give up after this long (default: ${DEFAULT_TIMEOUT_S} s)
Exit status 0 when the schema was installed, 1 when it could not be downloaded or is not usable, 2 for usage errors.
Schedule it daily (cron, systemd timer); on a machine without internet, download the file elsewhere and copy it
to the --out location.`;

export interface UpdateResult {
  path: string;
  schema: Schema;
  /** Report types the new schema has whose conversion functions this version lacks (they will be refused). */
  unsupported: string[];
}

/** Downloads, checks and installs the schema; throws VigilError (VIGIL_E_UNAVAILABLE or VIGIL_E_CONFIG) saying what failed. */
export async function updateSchema(options: { url?: string; out?: string; timeoutMs?: number } = {}): Promise<UpdateResult> {
  const url = options.url ?? DEFAULT_SCHEMA_URL;
  const out = options.out ?? updateTargetPath();
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(options.timeoutMs ?? DEFAULT_TIMEOUT_S * 1000), headers: { accept: 'application/json' } });
  } catch (err) {
    throw new VigilError('VIGIL_E_UNAVAILABLE', `cannot download the Shadowserver schema from ${url}: ${describeFetchError(err)}`, { url });
  }
  if (!response.ok) {
    throw new VigilError('VIGIL_E_UNAVAILABLE', `cannot download the Shadowserver schema from ${url}: the server answered HTTP ${response.status} ${response.statusText}`.trimEnd(), { url });
  }
  const text = await response.text();
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new VigilError('VIGIL_E_CONFIG', `the document at ${url} is not JSON (${(err as Error).message}); nothing was written`, { url });
  }
  const schema = compileSchema(doc, url); // throws when it is not a schema; nothing is written then
  const unsupported = [...schema.byFileName.values()].filter((t) => t.unknownFunctions.length > 0).map((t) => `${t.fileName} (${t.unknownFunctions.join(', ')})`);

  // Write beside the target and rename: readers see the old file or the new one, never a partial one.
  mkdirSync(dirname(out), { recursive: true });
  const temp = `${out}.${process.pid}.${Date.now()}.tmp`;
  try {
    writeFileSync(temp, text);
    renameSync(temp, out);
  } catch (err) {
    rmSync(temp, { force: true });
    throw new VigilError('VIGIL_E_IO', `cannot write the Shadowserver schema to ${out}: ${(err as Error).message}`, { path: out });
  }
  return { path: out, schema: { ...schema, path: out }, unsupported };
}

function describeFetchError(err: unknown): string {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) return 'no answer in time';
  const cause = err instanceof Error ? (err.cause as { code?: string; message?: string } | undefined) : undefined;
  const code = cause?.code;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `the host name cannot be resolved (${code}): is this machine offline?`;
  if (code === 'ECONNREFUSED' || code === 'ENETUNREACH' || code === 'EHOSTUNREACH' || code === 'ECONNRESET') {
    return `the connection failed (${code}): is this machine offline or behind a firewall?`;
  }
  return cause?.message ?? (err instanceof Error ? err.message : String(err));
}

export default {
  summary: 'Shadowserver helpers: update-schema downloads the current report schema',
  usage,
  async run(argv: string[]): Promise<number> {
    const [sub, ...rest] = argv;
    if (sub !== 'update-schema') throw new VigilError('VIGIL_E_USAGE', `${sub ? `unknown subcommand '${sub}'` : 'a subcommand is needed'}\n${usage}`);
    const { values, positionals } = parseArgs({
      args: rest,
      allowPositionals: true,
      options: { url: { type: 'string' }, out: { type: 'string' }, timeout: { type: 'string' } },
    });
    if (positionals.length > 0) throw new VigilError('VIGIL_E_USAGE', `unexpected argument '${positionals[0]}'\n${usage}`);
    const timeout = values.timeout === undefined ? DEFAULT_TIMEOUT_S : Number(values.timeout);
    if (!(timeout > 0)) throw new VigilError('VIGIL_E_USAGE', `--timeout must be a positive number of seconds, not '${values.timeout}'`);
    try {
      const result = await updateSchema({ url: values.url, out: values.out, timeoutMs: timeout * 1000 });
      const created = result.schema.created ? ` (schema of ${result.schema.created})` : '';
      process.stdout.write(`vigil shadowserver: installed ${result.schema.byFileName.size} report types${created} at ${result.path}\n`);
      if (result.unsupported.length > 0) {
        process.stderr.write(`vigil shadowserver: these report types need conversion functions this version lacks and will be refused: ${result.unsupported.join('; ')}\n`);
      }
      return 0;
    } catch (err) {
      if (!(err instanceof VigilError)) throw err;
      process.stderr.write(`vigil shadowserver: ${err.message}\n`);
      return 1;
    }
  },
};
