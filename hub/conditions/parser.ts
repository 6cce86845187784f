/**
 * Parser for IntelMQ's sieve language (the grammar of `intelmq/bots/experts/sieve/sieve.tx`, 3.x): statements are
 * `if … { } elif … { } else { }` blocks (nestable) and actions; conditions combine with `&&`, `||`, `!` and
 * parentheses. Syntax errors stop parsing (they are thrown as SieveError); meaning errors — an unknown field, a
 * regular expression that does not compile, a value a field can never hold — are collected as problems so that
 * `vigil check` can list them all.
 */
import { EVENT_FIELDS, isKnownField, sanitizeField } from '../../common/harmonization/index.js';
import { pyRegex } from '../../common/pyregex.js';
import { parseNetwork } from '../../common/networks.js';
import { parseRelative, parseTimeSpec } from '../../common/timespec.js';
import type { Action, Clause, Expr, Literal, Pos, Problem, Statement } from './ast.js';
import { SieveError, tokenize, type Token } from './lexer.js';

const KEY = /^[a-z0-9_.]+$/;
const NUMERIC_TYPES = new Set(['Integer', 'Float', 'Accuracy', 'ASN']);
const STRING_OPS = new Set(['==', '!=', ':contains', '=~', '!~']);
const COMPARE_OPS = new Set(['<', '<=', '>', '>=']);
const MULTI_STRING_OPS = new Set([':in', ':containsany', ':regexin']);
const LIST_OPS = new Set([':equals', ':setequals', ':overlaps', ':subsetof', ':supersetof']);
const ACTIONS = new Set(['keep', 'drop', 'path', 'add', 'add!', 'update', 'remove', 'append', 'append!']);

export interface Parsed<T> {
  result: T;
  problems: Problem[];
}

export function parseProgram(text: string): Parsed<Statement[]> {
  const p = new Parser(tokenize(text));
  const statements: Statement[] = [];
  while (!p.at('eof')) statements.push(p.statement());
  return { result: statements, problems: p.problems };
}

/** Problems of a whole file: the meaning problems found up to a syntax error, then that error. */
export function validateProgram(text: string): Problem[] {
  let p: Parser | undefined;
  try {
    p = new Parser(tokenize(text));
    while (!p.at('eof')) p.statement();
    return p.problems;
  } catch (err) {
    if (!(err instanceof SieveError)) throw err;
    return [...(p?.problems ?? []), { line: err.line, column: err.column, message: err.message.replace(/^line \d+, column \d+: /, '') }];
  }
}

export function parseExpression(text: string): Parsed<Expr> {
  const p = new Parser(tokenize(text));
  const expr = p.expression();
  if (!p.at('eof')) p.fail(p.peek(), `unexpected ${p.describe(p.peek())} after the condition`);
  return { result: expr, problems: p.problems };
}

/** Ontology type of a field, or undefined for extra.* (any JSON value). */
function typeOf(key: string): string | undefined {
  return EVENT_FIELDS[key]?.type;
}

const isExtra = (key: string) => key.startsWith('extra.');

class Parser {
  readonly problems: Problem[] = [];
  readonly #tokens: Token[];
  #i = 0;

  constructor(tokens: Token[]) {
    this.#tokens = tokens;
  }

  peek(offset = 0): Token {
    return this.#tokens[Math.min(this.#i + offset, this.#tokens.length - 1)]!;
  }

  at(type: Token['type'], text?: string): boolean {
    const t = this.peek();
    return t.type === type && (text === undefined || t.text === text);
  }

  next(): Token {
    const t = this.peek();
    if (t.type !== 'eof') this.#i++;
    return t;
  }

  describe(t: Token): string {
    if (t.type === 'eof') return 'end of file';
    if (t.type === 'string') return `string '${t.text}'`;
    return `'${t.text}'`;
  }

  fail(t: Token, message: string): never {
    throw new SieveError(message, t.line, t.column);
  }

  expect(type: Token['type'], text: string | undefined, what: string): Token {
    const t = this.peek();
    if (t.type !== type || (text !== undefined && t.text !== text)) this.fail(t, `expected ${what}, found ${this.describe(t)}`);
    return this.next();
  }

  problem(pos: Pos, message: string): void {
    this.problems.push({ line: pos.line, column: pos.column, message });
  }

  // ---- statements ----

  statement(): Statement {
    const t = this.peek();
    if (t.type === 'word' && t.text === 'if') return this.branching();
    if (t.type === 'word' && (t.text === 'elif' || t.text === 'else')) this.fail(t, `'${t.text}' without a preceding 'if' block`);
    if (t.type === 'word' && ACTIONS.has(t.text)) return this.action();
    return this.fail(t, `expected 'if' or an action (${[...ACTIONS].join(', ')}), found ${this.describe(t)}`);
  }

  branching(): Statement {
    const start = this.next();
    const clauses: Clause[] = [{ cond: this.expression(), body: this.block(), line: start.line, column: start.column }];
    while (this.at('word', 'elif')) {
      const t = this.next();
      clauses.push({ cond: this.expression(), body: this.block(), line: t.line, column: t.column });
    }
    if (this.at('word', 'else')) {
      const t = this.next();
      clauses.push({ cond: undefined, body: this.block(), line: t.line, column: t.column });
    }
    return { kind: 'if', clauses, line: start.line, column: start.column };
  }

  block(): Statement[] {
    this.expect('op', '{', "'{'");
    const body: Statement[] = [];
    while (!this.at('op', '}')) {
      if (this.at('eof')) this.fail(this.peek(), "expected '}' to close the block, found end of file");
      body.push(this.statement());
    }
    this.next();
    return body;
  }

  action(): Action {
    const t = this.next();
    const pos = { line: t.line, column: t.column };
    switch (t.text) {
      case 'keep':
      case 'drop':
        return { kind: t.text, ...pos };
      case 'path': {
        const paths = this.at('op', '[') ? this.list('a path name', (x) => x.type === 'string').map(String) : [this.expect('string', undefined, "a quoted path name, e.g. path 'abuse'").text];
        return { kind: 'path', paths, ...pos };
      }
      case 'remove':
        return { kind: 'remove', key: this.key(), ...pos };
      case 'append':
      case 'append!': {
        const key = this.key();
        if (!isExtra(key)) this.problem(pos, `${t.text} works on lists, which only extra.* fields hold; ${key} is not one`);
        return { kind: t.text, key, value: this.literal('a value to append'), ...pos };
      }
      default: {
        const kind = t.text as 'add' | 'add!' | 'update';
        const key = this.key();
        const opTok = this.peek();
        if (!(opTok.type === 'op' && (opTok.text === '=' || opTok.text === '+=' || opTok.text === '-='))) this.fail(opTok, `expected '=', '+=' or '-=' after ${kind} ${key}, found ${this.describe(opTok)}`);
        this.next();
        const op = opTok.text as '=' | '+=' | '-=';
        const value = this.literal('a value');
        this.checkAssignment(pos, kind, key, op, value);
        return { kind, key, op, value, ...pos };
      }
    }
  }

  checkAssignment(pos: Pos, kind: string, key: string, op: string, value: Literal): void {
    if (!isKnownField(key)) return; // reported by key()
    if (key === 'extra' || EVENT_FIELDS[key]?.type === 'JSONDict') {
      this.problem(pos, `${kind} needs a single field such as extra.<name>, not ${key}`);
      return;
    }
    if (op !== '=') {
      if (typeOf(key) !== 'DateTime') this.problem(pos, `${op} adds a time span and works only on date-time fields (time.source, time.observation), not ${key}`);
      if (typeof value !== 'string' || parseRelative(value) === undefined) this.problem(pos, `${op} needs a time span such as '1 hour' or '10 days', not ${JSON.stringify(value)}`);
      return;
    }
    if (isExtra(key)) return;
    try {
      sanitizeField(key, value);
    } catch (err) {
      this.problem(pos, `${kind} ${key}: ${(err as Error).message}`);
    }
  }

  // ---- conditions ----

  expression(): Expr {
    const first = this.conjunction();
    if (!this.at('op', '||')) return first;
    const items = [first];
    while (this.at('op', '||')) {
      this.next();
      items.push(this.conjunction());
    }
    return { kind: 'or', items, line: first.line, column: first.column };
  }

  conjunction(): Expr {
    const first = this.condition();
    if (!this.at('op', '&&')) return first;
    const items = [first];
    while (this.at('op', '&&')) {
      this.next();
      items.push(this.condition());
    }
    return { kind: 'and', items, line: first.line, column: first.column };
  }

  condition(): Expr {
    const t = this.peek();
    if (t.type === 'op' && t.text === '!') {
      this.next();
      return { kind: 'not', expr: this.condition(), line: t.line, column: t.column };
    }
    if (t.type === 'op' && t.text === '(') {
      this.next();
      const inner = this.expression();
      this.expect('op', ')', "')'");
      return inner;
    }
    if (t.type === 'op' && (t.text === ':exists' || t.text === ':notexists')) {
      this.next();
      return { kind: 'exists', key: this.key(), exists: t.text === ':exists', line: t.line, column: t.column };
    }
    return this.match();
  }

  key(): string {
    const t = this.peek();
    if (t.type !== 'word' || t.text === 'true' || t.text === 'false') this.fail(t, `expected a field name such as source.ip, found ${this.describe(t)}`);
    this.next();
    const key = t.text;
    if (!KEY.test(key)) this.problem(t, `field names are lower case: ${key}`);
    else if (!isKnownField(key)) this.problem(t, `unknown field ${key} (not in the event ontology; data of your own goes under extra.<name>)`);
    return key;
  }

  match(): Expr {
    const keyTok = this.peek();
    const key = this.key();
    const pos = { line: keyTok.line, column: keyTok.column };
    const opTok = this.next();
    const op = opTok.text;
    if (opTok.type !== 'op') this.fail(opTok, `expected an operator after ${key}, found ${this.describe(opTok)}`);
    const type = typeOf(key);
    const v = this.peek();

    if ((op === '==' || op === '!=') && v.type === 'word' && (v.text === 'true' || v.text === 'false')) {
      this.next();
      if (!isExtra(key) && type !== 'Boolean') this.problem(pos, `${key} is not a boolean field (it holds ${type})`);
      return { kind: 'bool', key, op, value: v.text === 'true', ...pos };
    }
    if ((op === '==' || op === '!=' || COMPARE_OPS.has(op)) && v.type === 'number') {
      this.next();
      if (!isExtra(key) && !NUMERIC_TYPES.has(type!)) this.problem(pos, `numeric comparison on ${key}, which holds ${type}, not a number`);
      return { kind: 'number', key, op: op as '==', value: Number(v.text), ...pos };
    }
    if (COMPARE_OPS.has(op)) this.fail(v, `${op} compares numbers; expected a number, found ${this.describe(v)}`);
    if (STRING_OPS.has(op)) {
      if (v.type === 'op' && v.text === '[') {
        const hint = op === '==' ? ':in' : op === '=~' ? ':regexin' : op === ':contains' ? ':containsany' : '! … :in';
        this.fail(v, `${op} takes one value; to test against a list use ${hint} (since IntelMQ 3.0)`);
      }
      const value = this.expect('string', undefined, `a quoted string after ${op}`).text;
      if (op === '=~' || op === '!~') this.checkRegex(v, value);
      if (op === '==' || op === '!=') this.checkValue(v, key, value, op);
      return { kind: 'string', key, op: op as '==', value, ...pos };
    }
    if (op === ':in') {
      const values = this.list('a value', (x) => x.type === 'string' || x.type === 'number');
      if (values.every((x) => typeof x === 'number')) {
        if (!isExtra(key) && !NUMERIC_TYPES.has(type!)) this.problem(pos, `${key} holds ${type}, not a number; quote the values`);
        return { kind: 'numbers', key, values: values as number[], ...pos };
      }
      if (!values.every((x) => typeof x === 'string')) this.fail(v, ':in takes a list of strings or a list of numbers, not both');
      for (const x of values as string[]) this.checkValue(v, key, x, ':in');
      return { kind: 'strings', key, op: ':in', values: values as string[], ...pos };
    }
    if (MULTI_STRING_OPS.has(op)) {
      const values = this.list('a quoted string', (x) => x.type === 'string') as string[];
      if (op === ':regexin') for (const x of values) this.checkRegex(v, x);
      return { kind: 'strings', key, op: op as ':in', values, ...pos };
    }
    if (op === '<<') {
      const ranges = v.type === 'op' && v.text === '[' ? (this.list('a quoted network', (x) => x.type === 'string') as string[]) : [this.expect('string', undefined, "a quoted network such as '10.0.0.0/8'").text];
      if (!isExtra(key) && type !== 'IPAddress') this.problem(pos, `<< tests an IP address, but ${key} holds ${type}`);
      for (const r of ranges) if (parseNetwork(r) === undefined) this.problem(v, `invalid IP network '${r}'`);
      return { kind: 'ip', key, ranges, ...pos };
    }
    if (LIST_OPS.has(op)) {
      if (!isExtra(key)) this.problem(pos, `${op} compares lists, which only extra.* fields hold; ${key} is not one`);
      return { kind: 'list', key, op: op as ':equals', values: this.list('a value', (x) => x.type !== 'op'), ...pos };
    }
    if (op === ':before' || op === ':after') {
      const value = this.expect('string', undefined, `a quoted date or time span after ${op}`).text;
      if (!isExtra(key) && type !== 'DateTime') this.problem(pos, `${op} compares dates, but ${key} holds ${type}`);
      if (parseTimeSpec(value) === undefined) this.problem(v, `'${value}' is neither a date nor a time span such as '1 week'`);
      return { kind: 'date', key, op, value, ...pos };
    }
    if (op === ':notcontains') this.fail(opTok, ":notcontains was removed in IntelMQ 3.0; write ! key :contains '…'");
    return this.fail(opTok, `unknown operator ${JSON.stringify(op)} after ${key}`);
  }

  /** `[v, v, …]` of tokens accepted by `ok`, as literals. */
  list(what: string, ok: (t: Token) => boolean): Literal[] {
    this.expect('op', '[', "'['");
    const values: Literal[] = [];
    for (;;) {
      const t = this.peek();
      if (!ok(t) || (t.type === 'word' && t.text !== 'true' && t.text !== 'false')) this.fail(t, `expected ${what} in the list, found ${this.describe(t)}`);
      values.push(this.literal(what));
      if (this.at('op', ',')) {
        this.next();
        continue;
      }
      this.expect('op', ']', "',' or ']'");
      return values;
    }
  }

  literal(what: string): Literal {
    const t = this.next();
    if (t.type === 'string') return t.text;
    if (t.type === 'number') return Number(t.text);
    if (t.type === 'word' && (t.text === 'true' || t.text === 'false')) return t.text === 'true';
    return this.fail(t, `expected ${what} (a quoted string, a number, true or false), found ${this.describe(t)}`);
  }

  checkRegex(pos: Pos, pattern: string): void {
    try {
      pyRegex(pattern);
    } catch (err) {
      this.problem(pos, (err as Error).message);
    }
  }

  /** A literal compared for equality must be a value the field can hold, written as it is stored. */
  checkValue(pos: Pos, key: string, value: string, op: string): void {
    if (isExtra(key) || !isKnownField(key)) return;
    let canonical: unknown;
    try {
      canonical = sanitizeField(key, value);
    } catch (err) {
      this.problem(pos, `${key} ${op} '${value}' can never match: ${(err as Error).message}`);
      return;
    }
    if (canonical === value || canonical === undefined) return;
    const written = typeof canonical === 'string' ? `'${canonical}'` : `${JSON.stringify(canonical)} (without quotes)`;
    this.problem(pos, `${key} ${op} '${value}' can never match: ${key} is stored as ${written}; write that instead`);
  }
}
