/**
 * SURBL zone data in rbldnsd format. After a nine-line header, a `:127.0.0.x:Blocked, … on lists [xx][yy], …`
 * line says which lists the following `.domain` lines are on; the list codes give the type: `mw` malware
 * distribution, else `ph` phishing, else blacklist. `raw` is the domain line. As in IntelMQ, the file's last two
 * lines (a trailer) are not read.
 */
import { VigilError } from '../../../common/errors.js';
import { defineParser, NoParams } from '../framework/define.js';

interface State {
  /** Type of the domains that follow; undefined before the first (readable) list line. */
  type: string | undefined;
}

/** List code → type, the first code found (in this order) wins; a list line with neither is blacklist. */
const LIST_TYPES: ReadonlyMap<string, string> = new Map([
  ['mw', 'malware-distribution'],
  ['ph', 'phishing'],
]);
const OTHER_LISTS = 'blacklist';

const HEADER_LINES = 9;
const TRAILER_LINES = 2;

export default defineParser({
  name: 'surbl',
  summary: 'SURBL domain block lists (rbldnsd zone data): malware, phishing and other listed domains.',
  intelmq: 'intelmq.bots.parsers.surbl.parser',
  params: NoParams,
  // IntelMQ counts the header and trailer lines blank ones included (lines[9:-2]), so blank lines must reach the count.
  input: { kind: 'lines', skipBlank: false, skipLines: HEADER_LINES, skipLast: TRAILER_LINES },
  mappings: [
    {
      title: 'List codes → classification.type',
      columns: ['code in "on lists [..]"', 'classification.type'],
      rows: [...LIST_TYPES, ['any other', OTHER_LISTS]],
      note: 'For the `.domain` lines after the list line; source.fqdn is the domain without its leading dot.',
    },
  ],
  examples: [
    {
      description: 'Header, one list line and a domain',
      input: `${'#\n'.repeat(9)}:127.0.0.64:Blocked, $ on lists [mw], See: http://www.surbl.org/lists.html\n.bad.example.com\n\n#\n`,
    },
  ],

  begin: (): State => ({ type: undefined }),

  parse(record, ctx) {
    const line = record.value as string;
    if (line.startsWith(':')) {
      ctx.state.type = undefined; // a list line that cannot be read must not leave the previous type in force
      const words = line.split(/\s+/).filter((w) => w !== '');
      if (words.length < 3) throw new VigilError('VIGIL_E_RECORD', 'list line without "on lists [..]," part');
      // "[mw][ph]," → ["mw", "ph"]
      const lists = words[words.length - 3]!.slice(1, -2).split('][');
      ctx.state.type = OTHER_LISTS;
      for (const [code, type] of LIST_TYPES) {
        if (lists.includes(code)) {
          ctx.state.type = type;
          break;
        }
      }
      return null;
    }
    if (!line.startsWith('.')) return null;
    if (ctx.state.type === undefined) throw new VigilError('VIGIL_E_RECORD', 'domain line before any readable list line');
    return { 'source.fqdn': line.slice(1), 'classification.type': ctx.state.type, raw: line };
  },
});
