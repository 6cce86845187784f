import { createReadStream, createWriteStream, statSync, type WriteStream } from 'node:fs';
import { parseArgs } from 'node:util';
import { eventToJson } from '../../common/codec/json.js';
import { VigilError } from '../../common/errors.js';
import { BoundParser, type Reject } from '../../agent/parsers/framework/runner.js';
import { loadParser } from '../../agent/parsers/registry.js';

const usage = `usage: vigil parse PARSER [FILE|-] [--params JSON] [--report JSON] [--rejects FILE]

Runs one parser over FILE (or standard input) as one report and prints the events as JSON lines.
  --params JSON    parser parameters, e.g. '{"columns": ["source.ip"], "type": "scanner"}'
  --report JSON    report fields, e.g. '{"feed.name": "x", "feed.url": "https://…", "time.observation": "…"}'
  --rejects FILE   write each rejected record with its reason as a JSON line to FILE
Exit status 0 when it ran (even with rejects); 2 for usage or configuration errors.`;

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

    const rejects = values.rejects ? createWriteStream(values.rejects) : undefined;
    const progress = Progress.forFile(file);
    let out = '';
    const seen = { records: 0, events: 0, rejected: 0 };
    const stats = await bound.run(report, file === '-' ? process.stdin : createReadStream(file), {
      event(event) {
        seen.events++;
        out += `${eventToJson(event)}\n`;
      },
      reject(reject: Reject) {
        seen.rejected++;
        rejects?.write(`${JSON.stringify(reject)}\n`);
      },
      async flush() {
        if (out.length > 0 && !process.stdout.write(out)) await new Promise((r) => process.stdout.once('drain', r));
        out = '';
        progress?.tick(seen);
      },
    });
    progress?.done();
    await closeStream(rejects);
    if (stats.rejected > 0) process.stderr.write(`vigil parse: ${stats.events} events, ${stats.rejected} rejected${values.rejects ? ` (see ${values.rejects})` : ''}\n`);
    return 0;
  },
};

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
