import { closeSync, createReadStream, createWriteStream, fstatSync, openSync, statSync, type WriteStream } from 'node:fs';
import { unreadable } from '../../common/config/files.js';
import { parseArgs } from 'node:util';
import { eventToJson } from '../../common/codec/json.js';
import { VigilError } from '../../common/errors.js';
import { BoundParser, type Reject } from '../../agent/parsers/framework/runner.js';
import { loadParser } from '../../agent/parsers/registry.js';

/** Rejects printed with their reasons on stderr (all of them go to --rejects FILE). */
const SHOWN_REJECTS = 5;

const usage = `usage: vigil parse PARSER [FILE|-] [--params JSON] [--report JSON] [--rejects FILE]

Runs one parser over FILE (or standard input) as one report and prints the events as JSON lines.
  --params JSON    parser parameters, e.g. '{"columns": ["source.ip"], "type": "scanner"}'
  --report JSON    report fields, e.g. '{"feed.name": "x", "feed.url": "https://…", "time.observation": "…"}'
  --rejects FILE   write each rejected record with its reason as a JSON line to FILE
The first ${SHOWN_REJECTS} rejects and their reasons are printed on standard error either way.
Exit status 0 when it ran (even with rejects); 2 for usage or configuration errors and a FILE that cannot be read.`;


export default {
  summary: 'run one parser over a file',
  usage,
  async run(argv: string[]): Promise<number> {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { params: { type: 'string' }, report: { type: 'string' }, rejects: { type: 'string' } },
    });
    const [name, file = '-'] = positionals;
    if (!name || positionals.length > 2) throw new VigilError('VIGIL_E_USAGE', `expected a parser name and at most one file\n${usage}`);
    const params = jsonOption('--params', values.params);
    const report = jsonOption('--report', values.report);
    const bound = new BoundParser(await loadParser(name), params, undefined, '--params');

    const input = file === '-' ? process.stdin : openInput(file);
    const rejects = values.rejects ? createWriteStream(values.rejects) : undefined;
    const progress = Progress.forFile(file);
    let out = '';
    const seen = { records: 0, events: 0, rejected: 0 };
    const shown: Reject[] = [];
    // A read error (EIO, a file cut short) ends the run as a usage error naming the file, like a file not found.
    const stats = await bound.run(report, input, {
      event(event) {
        seen.events++;
        out += `${eventToJson(event)}\n`;
      },
      reject(reject: Reject) {
        seen.rejected++;
        if (shown.length < SHOWN_REJECTS) shown.push(reject);
        rejects?.write(`${JSON.stringify(reject)}\n`);
      },
      async flush() {
        if (out.length > 0 && !process.stdout.write(out)) await new Promise((r) => process.stdout.once('drain', r));
        out = '';
        progress?.tick(seen);
      },
    }).catch((err: NodeJS.ErrnoException) => {
      if (err.syscall === undefined) throw err;
      throw new VigilError('VIGIL_E_USAGE', `FILE: ${unreadable(err, file)}`);
    });
    // The parser may refuse the report before reading it (a --report field it needs): the file is not read then.
    if (input !== process.stdin) input.destroy();
    progress?.done();
    await closeStream(rejects);
    if (stats.rejected > 0) process.stderr.write(rejectSummary(stats, shown, values.rejects));
    return 0;
  },
};

/** A readable stream of FILE, or a usage error naming it (missing, unreadable, a directory). */
function openInput(file: string): ReturnType<typeof createReadStream> {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    throw new VigilError('VIGIL_E_USAGE', `FILE: ${unreadable(err, file)}`);
  }
  // open(2) takes a directory for reading; read(2) would then fail with EISDIR.
  if (fstatSync(fd).isDirectory()) {
    closeSync(fd);
    throw new VigilError('VIGIL_E_USAGE', `FILE: ${file} is a directory, not a file [EISDIR]`);
  }
  return createReadStream('', { fd });
}

/** `N events, M rejected`, then the first rejects with their reasons, and how many more there are. */
function rejectSummary(stats: { events: number; rejected: number }, shown: Reject[], rejectsFile: string | undefined): string {
  const lines = [`vigil parse: ${stats.events} event${stats.events === 1 ? '' : 's'}, ${stats.rejected} rejected${rejectsFile ? ` (all in ${rejectsFile})` : ''}:`];
  for (const r of shown) {
    const text = r.text.length > 80 ? `${r.text.slice(0, 77)}...` : r.text;
    lines.push(r.index < 0 ? `  the report: ${r.reason}` : `  record ${r.index + 1} ${JSON.stringify(text)}: ${r.reason}`);
  }
  const more = stats.rejected - shown.length;
  if (more > 0) lines.push(`  ... and ${more} more${rejectsFile ? '' : " (--rejects FILE writes every one with its reason)"}`);
  return `${lines.join('\n')}\n`;
}

function jsonOption(flag: string, text: string | undefined): Record<string, unknown> {
  if (text === undefined) return {};
  try {
    const value = JSON.parse(text) as unknown;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('not a JSON object');
    return value as Record<string, unknown>;
  } catch (err) {
    throw new VigilError('VIGIL_E_USAGE', `${flag}: expected a JSON object (${(err as Error).message})`);
  }
}

function closeStream(stream: WriteStream | undefined): Promise<void> {
  return new Promise((resolve, reject) => (stream ? stream.end((err?: Error | null) => (err ? reject(err) : resolve())) : resolve()));
}

/** A one-line progress report on a terminal, for inputs large enough to wait for. */
class Progress {
  static readonly MIN_BYTES = 8 * 1024 * 1024;
  readonly #started = Date.now();
  #last = 0;

  static forFile(file: string): Progress | undefined {
    if (!process.stderr.isTTY || file === '-') return undefined;
    try {
      return statSync(file).size >= Progress.MIN_BYTES ? new Progress() : undefined;
    } catch {
      return undefined;
    }
  }

  tick(stats: { events: number; rejected: number }): void {
    const now = Date.now();
    if ( now - this.#last < 250) return;
    this.#last = now;
    const secs = (now - this.#started) / 1000;
    process.stderr.write(`\r${stats.events} events, ${stats.rejected} rejected, ${Math.round(stats.events / Math.max(secs, 0.001))} events/s `);
  }

  done(): void {
    process.stderr.write('\n');
  }
}
