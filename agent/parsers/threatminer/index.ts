/**
 * ThreatMiner's home page (HTML): the "Recent domains" panel lists the latest domains as links, up to the
 * "Recent hosts" heading. Each link text is one blacklist event; `raw` is the (stripped) line on which the text
 * appears, as in IntelMQ.
 *
 * The page is scanned line by line with a small tag scanner that remembers, across lines, whether it is inside
 * a tag (and inside a quoted attribute value) and inside an `<a>` element — in this page a link's start tag ends
 * on the line after it begins. That is all this panel needs; a general HTML parser (htmlparser2) is not required.
 */
import { pyStrip } from '../../../common/harmonization/text.js';
import { defineParser, NoParams, type Fields } from '../framework/define.js';
import { decodeHTML } from 'entities';

type Phase = 'before-panel' | 'in-panel' | 'after-panel';

interface State {
  phase: Phase;
  /** Inside a tag: the tag text so far (from after "<"), else undefined. */
  tag: string | undefined;
  /** The quote character of the attribute value being read inside a tag, or "". */
  quote: string;
  /** Inside an <a> element. */
  inLink: boolean;
}

const START = 'Recent domains';
const END = 'Recent hosts';
const TAG_NAME = /^\/?([a-zA-Z][^\s/>]*)/;

export default defineParser({
  name: 'threatminer',
  summary: 'ThreatMiner home page (HTML): the recently seen malicious domains, as blacklist events.',
  intelmq: 'intelmq.bots.parsers.threatminer.parser',
  params: NoParams,
  input: { kind: 'lines' },
  mappings: [
    {
      title: 'Fields',
      columns: ['field', 'value'],
      rows: [
        ['source.fqdn', `each link text between the "${START}" and "${END}" lines`],
        ['classification.type', 'blacklist'],
        ['raw', 'the stripped line holding the link text'],
      ],
    },
  ],
  examples: [
    {
      description: 'The recent domains panel',
      input: "<div>\nRecent domains\n</div>\n<table>\n<tr><td><a href='domain.php?q=bad.example.com\n'>bad.example.com\n</a></td></tr> </table>\nRecent hosts\n",
    },
  ],

  begin: (): State => ({ phase: 'before-panel', tag: undefined, quote: '', inLink: false }),

  parse(record, ctx) {
    const state = ctx.state;
    if (state.phase === 'after-panel') return null;
    const line = pyStrip(record.value as string);
    if (state.phase === 'before-panel') {
      if (line === START) state.phase = 'in-panel';
      return null;
    }
    if (line === END) {
      state.phase = 'after-panel';
      return null;
    }
    const events: Fields[] = [];
    for (const text of linkTexts(line, state)) {
      events.push({ 'source.fqdn': text, 'classification.type': 'blacklist', raw: line });
    }
    return events;
  },
});

/** The non-blank text runs of this line that lie inside <a> elements; updates the scanner state. */
function linkTexts(line: string, state: State): string[] {
  const found: string[] = [];
  let text = '';
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (state.tag !== undefined) {
      if (state.quote !== '') {
        if (c === state.quote) state.quote = '';
      } else if (c === '"' || c === "'") {
        state.quote = c;
      } else if (c === '>') {
        const name = TAG_NAME.exec(state.tag);
        if (name !== null && name[1]!.toLowerCase() === 'a') state.inLink = !state.tag.startsWith('/');
        state.tag = undefined;
        continue;
      }
      state.tag += c;
    } else if (c === '<') {
      if (state.inLink && text.trim() !== '') found.push(unescapeHtml(text));
      text = '';
      state.tag = '';
    } else {
      text += c;
    }
  }
  // Text at the end of a line counts as read there, as in IntelMQ's line-fed HTML parser.
  if (state.inLink && text.trim() !== '') found.push(unescapeHtml(text));
  return found;
}

/** Character references, decoded as Python's HTMLParser (html.unescape) decodes them. */
function unescapeHtml(text: string): string {
  return text.includes('&') ? decodeHTML(text) : text;
}
