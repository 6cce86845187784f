/**
 * An HTML page as IntelMQ's html_table parser sees it: BeautifulSoup over Python's `html.parser`. The tree comes
 * from node-html-parser, set up to nest as html.parser does (no implied closing of `<td>`, `<p>`, `<li>`); the text
 * of a cell and the markup of a row (IntelMQ's `raw`, `str(row)`) are then written the way BeautifulSoup 4 writes
 * them, so events carry the same `raw` as IntelMQ's.
 */
import { decodeHTML, decodeHTMLStrict } from 'entities';
import { parse, HTMLElement, NodeType, type Node, type Options, type TextNode } from 'node-html-parser';

/** BeautifulSoup's void elements: written `<img …/>`, never with content. */
const VOID = ['area', 'base', 'br', 'col', 'embed', 'hr', 'img', 'input', 'keygen', 'link', 'menuitem', 'meta', 'param', 'source', 'track', 'wbr',
  'basefont', 'bgsound', 'command', 'frame', 'image', 'isindex', 'nextid', 'spacer'];
const VOID_SET = new Set(VOID);

const OPTIONS: Partial<Options> = {
  lowerCaseTagName: true,
  comment: true,
  // html.parser reads only script and style as raw text (node-html-parser's default adds pre and noscript).
  blockTextElements: { script: true, style: true },
  voidTag: { tags: VOID },
  // html.parser closes nothing it was not told to close, and keeps elements left open at the end.
  preserveTagNesting: true,
  closeAllByClosing: true,
  parseNoneClosedTags: true,
};

/** Whose whitespace-only strings BeautifulSoup keeps as they are. */
const PRESERVE_WHITESPACE = new Set(['pre', 'textarea']);
/** Whose strings are not part of `.text` (BeautifulSoup's Script, Stylesheet, TemplateString, Ruby… strings). */
const NOT_TEXT = new Set(['script', 'style', 'template', 'rt', 'rp']);
/** Whose strings are written out unescaped. */
const CDATA = new Set(['script', 'style']);
/** Attributes BeautifulSoup reads as a list of words, and writes back joined by single spaces. */
const WORD_LISTS: Readonly<Record<string, readonly string[]>> = {
  '*': ['class', 'accesskey', 'dropzone'],
  a: ['rel', 'rev'],
  link: ['rel', 'rev'],
  td: ['headers'],
  th: ['headers'],
  form: ['accept-charset'],
  object: ['archive'],
  area: ['rel'],
  icon: ['sizes'],
  iframe: ['sandbox'],
  output: ['for'],
};
/** BeautifulSoup's ASCII_SPACES. */
const ASCII_SPACES = /^[ \n\t\f\r]+$/;
// Python's html.parser `attrfind_tolerant`, one attribute per match from where the last one ended.
const ATTRIBUTE = /((?<=['"\s/])[^\s/>][^\s/=>]*)(\s*=+\s*('[^']*'|"[^"]*"|(?!['"])[^>\s]*))?(?:\s|\/(?!>))*/y;
const LEADING_SPACE = /(?:\s|\/(?!>))*/y;

export function parseHtml(html: string): HTMLElement {
  return parse(html, OPTIONS);
}

/** The elements named `name` under `root`, in document order (BeautifulSoup's `find_all(name)`). */
export function findAll(root: HTMLElement, name: string): HTMLElement[] {
  const found: HTMLElement[] = [];
  const walk = (el: HTMLElement): void => {
    for (const child of el.childNodes) {
      if (!(child instanceof HTMLElement)) continue;
      if (child.rawTagName === name) found.push(child);
      walk(child);
    }
  };
  walk(root);
  return found;
}

/** An element's attributes as html.parser reads them: names in lower case, values unescaped, the last of a repeated name. */
export function attributesOf(el: HTMLElement): Map<string, string> {
  const attrs = new Map<string, string>();
  const text = ` ${el.rawAttrs}`;
  LEADING_SPACE.lastIndex = 0;
  LEADING_SPACE.exec(text);
  let k = LEADING_SPACE.lastIndex;
  while (k < text.length) {
    ATTRIBUTE.lastIndex = k;
    const m = ATTRIBUTE.exec(text);
    if (m === null || ATTRIBUTE.lastIndex === k) break;
    k = ATTRIBUTE.lastIndex;
    let value = m[2] ? m[3]! : '';
    if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.at(-1) === value[0]) value = value.slice(1, -1);
    attrs.set(m[1]!.toLowerCase(), value === '' ? '' : unescape(value));
  }
  const words = [...WORD_LISTS['*']!, ...(WORD_LISTS[el.rawTagName] ?? [])];
  for (const name of words) {
    const value = attrs.get(name);
    if (value !== undefined) attrs.set(name, wordsOf(value).join(' '));
  }
  return attrs;
}

/** BeautifulSoup's `attrs={name: value}` test: equal, or one of the words of a word-list attribute; "" also matches an absent attribute. */
export function hasAttribute(el: HTMLElement, name: string, value: string): boolean {
  const actual = attributesOf(el).get(name);
  if (actual === undefined) return value === '';
  return actual === value || (isWordList(el, name) && wordsOf(actual).includes(value));
}

/** BeautifulSoup's `tag.text`: the element's strings, comments and script/style content left out. */
export function textOf(el: HTMLElement): string {
  let out = '';
  const walk = (node: HTMLElement, inPre: boolean): void => {
    for (const child of node.childNodes) {
      if (child instanceof HTMLElement) {
        if (!NOT_TEXT.has(child.rawTagName)) walk(child, inPre || PRESERVE_WHITESPACE.has(child.rawTagName));
      } else if (child.nodeType === NodeType.TEXT_NODE) {
        out += stringOf(child as TextNode, inPre);
      }
    }
  };
  walk(el, hasAncestor(el, PRESERVE_WHITESPACE) || PRESERVE_WHITESPACE.has(el.rawTagName));
  return out;
}

/** BeautifulSoup's `str(tag)`: its "minimal" formatter, attributes sorted by name. */
export function markupOf(el: HTMLElement): string {
  return writeElement(el, hasAncestor(el, PRESERVE_WHITESPACE));
}

function writeElement(el: HTMLElement, inPre: boolean): string {
  const name = el.rawTagName;
  let out = `<${name}`;
  const attrs = [...attributesOf(el)].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (const [key, value] of attrs) out += ` ${key}=${quoteAttribute(escapeXml(value))}`;
  if (VOID_SET.has(name) && el.childNodes.length === 0) return `${out}/>`;
  out += '>';
  const pre = inPre || PRESERVE_WHITESPACE.has(name);
  for (const child of el.childNodes) out += writeNode(child, el, pre);
  return `${out}</${name}>`;
}

function writeNode(node: Node, parent: HTMLElement, inPre: boolean): string {
  if (node instanceof HTMLElement) return writeElement(node, inPre);
  if (node.nodeType === NodeType.COMMENT_NODE) return `<!--${node.rawText}-->`;
  if (CDATA.has(parent.rawTagName)) return node.rawText;
  return escapeXml(stringOf(node as TextNode, inPre));
}

/**
 * A text node as BeautifulSoup stores it: entities decoded, and a string of nothing but ASCII white space made one
 * "\n" (if it holds a line break) or one " " — except inside <pre> and <textarea>.
 */
function stringOf(node: TextNode, inPre: boolean): string {
  const text = node.parentNode && CDATA.has(node.parentNode.rawTagName) ? node.rawText : decodeText(node.rawText);
  if (inPre || !ASCII_SPACES.test(text)) return text;
  return text.includes('\n') ? '\n' : ' ';
}

function hasAncestor(el: HTMLElement, names: ReadonlySet<string>): boolean {
  for (let p = el.parentNode; p; p = p.parentNode) if (names.has(p.rawTagName)) return true;
  return false;
}

function isWordList(el: HTMLElement, name: string): boolean {
  return WORD_LISTS['*']!.includes(name) || (WORD_LISTS[el.rawTagName]?.includes(name) ?? false);
}

function wordsOf(value: string): string[] {
  return value.split(/\s+/).filter((w) => w !== '');
}

/** Attribute values: html.parser's `unescape`, which decodes as HTML5 does in text (legacy names without ";" too). */
function unescape(value: string): string {
  return value.includes('&') ? decodeHTML(value) : value;
}

// html.parser's `charref` and `entityref`: a reference ends at the first character that cannot continue it (a text
// node ends at a tag), and takes a ";" there with it.
const REFERENCE = /&(?:#(?:([0-9]+)|[xX]([0-9a-fA-F]+))(?=[^0-9a-fA-F]|$)|([a-zA-Z][-.a-zA-Z0-9]*)(?=[^a-zA-Z0-9]|$));?/g;
/** Windows-1252 for 0x80–0x9F, which BeautifulSoup reads numeric references below 256 as (the holes stay as they are). */
const CP1252 =
  '\u20ac\x81\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\x8d\u017d\x8f' +
  '\x90\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\x9d\u017e\u0178';

/**
 * Text as BeautifulSoup receives it from html.parser: a numeric reference is its character (Windows-1252 below
 * 256), a named one its character when HTML5 knows the name, else "&name" as written (without its ";").
 */
function decodeText(raw: string): string {
  if (!raw.includes('&')) return raw;
  return raw.replace(REFERENCE, (ref, dec: string | undefined, hex: string | undefined, name: string | undefined) => {
    if (name !== undefined) {
      const entity = `&${name};`;
      const char = decodeHTMLStrict(entity); // the whole name only: "&ampx;" is no reference to "&amp"
      return char === entity ? `&${name}` : char;
    }
    const n = dec !== undefined ? Number(dec) : Number.parseInt(hex!, 16);
    if (n >= 0x80 && n < 0xa0) return CP1252[n - 0x80]!;
    return n > 0x10ffff ? '\ufffd' : String.fromCodePoint(n);
  });
}

/** The minimal formatter: only &, < and > are escaped. */
function escapeXml(text: string): string {
  return text.replace(/[&<>]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : '&gt;'));
}

/** Double quotes, or single ones when the value holds a double quote, or &quot; when it holds both. */
function quoteAttribute(value: string): string {
  if (!value.includes('"')) return `"${value}"`;
  if (!value.includes("'")) return `'${value}'`;
  return `"${value.replaceAll('"', '&quot;')}"`;
}
