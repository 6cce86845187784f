/**
 * Team Cymru full bogons lists (fullbogons-ipv4.txt / fullbogons-ipv6.txt): one unallocated or reserved network
 * per line under a `# last updated 1450193702 (Tue Dec 15 15:35:02 2015 GMT)` header, whose date in parentheses
 * becomes every event's time.source. `raw` is the report's first line, then the data line, joined with "\n".
 */
import { VigilError } from '../../../common/errors.js';
import { convert, isValidField, sanitizeField } from '../../../common/harmonization/index.js';
import { pyStrip } from '../../../common/harmonization/text.js';
import { defineParser, NoParams } from '../framework/define.js';

interface State {
  /** The report's first line as IntelMQ keeps it for raw, once seen. */
  first: string | undefined;
  /** time.source from the first line, or the reason it could not be read. */
  updated: string | undefined;
  problem: string | undefined;
}

// Python's str.strip() set (not JavaScript's \s, which also takes the BOM).
const PY_LEADING_SPACE = /^[\t\n\v\f\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/;

const FIXED = { 'classification.type': 'blacklist' } as const;

const isComment = (line: string): boolean => {
  const s = pyStrip(line);
  return s.startsWith('#') || s.startsWith('//');
};

export default defineParser({
  name: 'cymru.full_bogons',
  summary: 'Team Cymru full bogons lists (IPv4 and IPv6): networks that should never appear as sources.',
  intelmq: 'intelmq.bots.parsers.cymru.parser_full_bogons',
  params: NoParams,
  input: { kind: 'lines', comment: isComment },
  examples: [
    {
      description: 'IPv4 list with its header',
      input: '# last updated 1704153600 (Tue Jan  2 00:00:00 2024 GMT)\n0.0.0.0/8\n192.0.2.0/24\n',
    },
  ],

  mappings: [
    {
      title: 'Line → fields',
      columns: ['what', 'field'],
      rows: [
        ['a network', 'source.network'],
        ['a single address', 'source.ip'],
        ['the date in parentheses on the first line', 'time.source'],
      ],
      note: 'Lines starting with `#` or `//` are skipped; raw is the first line and the data line.',
    },
    { title: 'Fixed fields', columns: ['field', 'value'], rows: Object.entries(FIXED) },
  ],

  begin: (): State => ({ first: undefined, updated: undefined, problem: undefined }),

  onComment(line, ctx) {
    if (ctx.state.first === undefined) readHeader(line, ctx.state, ctx.lineEnding);
  },

  parse(record, ctx) {
    const state = ctx.state;
    const line = pyStrip(record.value);
    // IntelMQ takes the date from the report's first line whatever it is; a list without header has none.
    if (state.first === undefined) readHeader(record.value, state, ctx.lineEnding);
    if (state.updated === undefined) throw new VigilError('VIGIL_E_RECORD', `the list's first line has no readable date: ${state.problem}`);
    // A single address (no prefix length) is stored as source.ip, as IntelMQ does.
    const ip = tryField('source.ip', line);
    return {
      [ip === undefined ? 'source.network' : 'source.ip']: ip ?? line,
      'time.source': state.updated,
      ...FIXED,
      raw: `${state.first}\n${line}`,
    };
  },
});

/**
 * IntelMQ cuts the first line at its first "\n" after stripping the report, so a CRLF report keeps the "\r"
 * in raw; the date is the text between the first "(" and ")".
 */
function readHeader(line: string, state: State, lineEnding: string): void {
  const first = line.replace(PY_LEADING_SPACE, '') + (lineEnding === '\r\n' ? '\r' : '');
  state.first = first;
  const open = first.indexOf('(');
  const close = first.indexOf(')');
  const text = first.slice(open + 1, close < 0 ? first.length - 1 : close);
  try {
    state.updated = convert(text);
  } catch (err) {
    state.problem = (err as Error).message;
  }
}

function tryField(key: string, value: string): unknown {
  try {
    const v = sanitizeField(key, value);
    return v !== undefined && isValidField(key, v) ? v : undefined;
  } catch {
    return undefined;
  }
}
