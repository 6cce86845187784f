/**
 * Turns the parsed sieve into closures, once, at start-up: regular expressions, networks and dates are compiled
 * here, so evaluating an event allocates nothing but the list of paths. Semantics follow IntelMQ's sieve expert:
 * a missing field matches only `!=`, `!~` and `:notexists`; `:contains`/`=~` see non-string values as text.
 */
import { add, fromDate } from '../../common/harmonization/index.js';
import type { Event } from '../pipeline/define.js';
import { inNetwork, parseAddress, parseNetwork, type Network } from '../../common/networks.js';
import { pyRegex } from '../../common/pyregex.js';
import { parseRelative, parseTimeSpec, resolveTimeSpec, timeOf } from '../../common/timespec.js';
import type { Action, Expr, Literal, Statement } from './ast.js';

export type Condition = (event: Event) => boolean;

export const enum Verdict {
  Continue,
  Keep,
  Drop,
}

/** What running the rules did to one event. */
export interface SieveOutcome {
  drop: boolean;
  /** Set by `path` actions (the last one wins); undefined when none ran. */
  paths: string[] | undefined;
}

interface State {
  paths: string[] | undefined;
}

type Step = (event: Event, state: State) => Verdict;

/** An action that cannot be applied to this event (a value the field refuses); names the rule's line. */
export class SieveActionError extends Error {
  readonly line: number;
  constructor(message: string, line: number) {
    super(`sieve line ${line}: ${message}`);
    this.name = 'SieveActionError';
    this.line = line;
  }
}

/** Text of a value for `:contains` and regular expressions (Python's str(), JSON for lists and objects). */
function text(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'number') return String(v);
  return JSON.stringify(v);
}

const has = (event: Event, key: string) => event[key] !== undefined;

/** Set semantics for list operators: values of different JSON types never equal each other. */
const setKey = (v: unknown) => `${typeof v}:${String(v)}`;

export function compileExpr(expr: Expr): Condition {
  switch (expr.kind) {
    case 'or': {
      const items = expr.items.map(compileExpr);
      return (e) => items.some((c) => c(e));
    }
    case 'and': {
      const items = expr.items.map(compileExpr);
      return (e) => items.every((c) => c(e));
    }
    case 'not': {
      const inner = compileExpr(expr.expr);
      return (e) => !inner(e);
    }
    case 'exists': {
      const { key, exists } = expr;
      return (e) => has(e, key) === exists;
    }
    case 'string': {
      const { key, value } = expr;
      switch (expr.op) {
        case '==':
          return (e) => e[key] === value;
        case '!=':
          return (e) => e[key] !== value;
        case ':contains':
          return (e) => has(e, key) && text(e[key]).includes(value);
        case '=~': {
          const re = pyRegex(value);
          return (e) => has(e, key) && re.test(text(e[key]));
        }
        case '!~': {
          const re = pyRegex(value);
          return (e) => !has(e, key) || !re.test(text(e[key]));
        }
      }
      break;
    }
    case 'strings': {
      const { key, values } = expr;
      if (expr.op === ':in') {
        const set = new Set(values);
        return (e) => typeof e[key] === 'string' && set.has(e[key] as string);
      }
      if (expr.op === ':containsany') return (e) => has(e, key) && values.some((s) => text(e[key]).includes(s));
      const res = values.map((v) => pyRegex(v));
      return (e) => has(e, key) && res.some((re) => re.test(text(e[key])));
    }
    case 'number': {
      const { key, value } = expr;
      const cmp = {
        '==': (a: number) => a === value,
        '!=': (a: number) => a !== value,
        '<': (a: number) => a < value,
        '<=': (a: number) => a <= value,
        '>': (a: number) => a > value,
        '>=': (a: number) => a >= value,
      }[expr.op];
      return (e) => typeof e[key] === 'number' && cmp(e[key] as number);
    }
    case 'numbers': {
      const { key } = expr;
      const set = new Set(expr.values);
      return (e) => typeof e[key] === 'number' && set.has(e[key] as number);
    }
    case 'bool': {
      const { key, value, op } = expr;
      return (e) => typeof e[key] === 'boolean' && (e[key] === value) === (op === '==');
    }
    case 'ip': {
      const { key } = expr;
      const nets = expr.ranges.map((r) => parseNetwork(r)).filter((n): n is Network => n !== undefined);
      return (e) => {
        const v = e[key];
        if (typeof v !== 'string') return false;
        const addr = parseAddress(v);
        return addr !== undefined && nets.some((n) => inNetwork(addr, n));
      };
    }
    case 'list': {
      const { key, values } = expr;
      const right = new Set(values.map(setKey));
      const test: (left: unknown[]) => boolean = {
        ':equals': (l: unknown[]) => l.length === values.length && l.every((x, i) => x === values[i]),
        ':setequals': (l: unknown[]) => {
          const s = new Set(l.map(setKey));
          return s.size === right.size && [...s].every((x) => right.has(x));
        },
        ':overlaps': (l: unknown[]) => l.some((x) => right.has(setKey(x))),
        ':subsetof': (l: unknown[]) => l.every((x) => right.has(setKey(x))),
        ':supersetof': (l: unknown[]) => {
          const s = new Set(l.map(setKey));
          return [...right].every((x) => s.has(x));
        },
      }[expr.op];
      return (e) => Array.isArray(e[key]) && test(e[key] as unknown[]);
    }
    case 'date': {
      const { key } = expr;
      const spec = parseTimeSpec(expr.value)!;
      const before = expr.op === ':before';
      return (e) => {
        const t = timeOf(e[key]);
        if (Number.isNaN(t)) return false;
        const base = resolveTimeSpec(spec, Date.now());
        return before ? t < base : t > base;
      };
    }
  }
  throw new Error(`unhandled condition ${(expr as Expr).kind}`);
}

function apply(fn: () => void, line: number): void {
  try {
    fn();
  } catch (err) {
    throw new SieveActionError((err as Error).message, line);
  }
}

/** `+=` / `-=`: the field's date moved by a time span. */
function shifted(event: Event, key: string, op: '+=' | '-=', span: string, line: number): string {
  const t = timeOf(event[key]);
  if (Number.isNaN(t)) throw new SieveActionError(`${op} needs ${key} to hold a date, and it ${event[key] === undefined ? 'is not set' : 'does not'}`, line);
  const ms = parseRelative(span)! * 1000;
  return fromDate(new Date(op === '+=' ? t + ms : t - ms))!;
}

function compileAction(a: Action): Step {
  const line = a.line;
  switch (a.kind) {
    case 'keep':
      return () => Verdict.Keep;
    case 'drop':
      return () => Verdict.Drop;
    case 'path': {
      const paths = a.paths;
      return (_e, state) => {
        state.paths = paths;
        return Verdict.Continue;
      };
    }
    case 'remove': {
      const { key } = a;
      const prefix = `${key}.`;
      // A dict field (`extra`) stands for all its entries.
      return (e) => {
        delete e[key];
        if (key === 'extra') for (const k of Object.keys(e)) if (k.startsWith(prefix)) delete e[k];
        return Verdict.Continue;
      };
    }
    case 'append':
    case 'append!': {
      const { key, value } = a;
      const force = a.kind === 'append!';
      return (e) => {
        const old = e[key];
        if (old === undefined) e[key] = [value];
        else if (Array.isArray(old)) e[key] = [...old, value];
        // append leaves a single (non-list) value alone; append! turns it into a list first.
        else if (force) e[key] = [old, value];
        return Verdict.Continue;
      };
    }
    default: {
      const { key, op, value, kind } = a;
      const valueOf = (e: Event): Literal => (op === '=' ? value : shifted(e, key, op, value as string, line));
      if (kind === 'add') {
        return (e) => {
          if (!has(e, key)) apply(() => add(e, key, valueOf(e)), line);
          return Verdict.Continue;
        };
      }
      if (kind === 'add!') {
        return (e) => {
          apply(() => add(e, key, valueOf(e), { overwrite: true }), line);
          return Verdict.Continue;
        };
      }
      return (e) => {
        if (has(e, key)) apply(() => add(e, key, valueOf(e), { overwrite: true }), line);
        return Verdict.Continue;
      };
    }
  }
}

function compileBlock(statements: Statement[]): Step {
  const steps = statements.map(compileStatement);
  return (e, state) => {
    for (const step of steps) {
      const v = step(e, state);
      if (v !== Verdict.Continue) return v;
    }
    return Verdict.Continue;
  };
}

function compileStatement(s: Statement): Step {
  if (s.kind !== 'if') return compileAction(s);
  const clauses = s.clauses.map((c) => ({ cond: c.cond === undefined ? undefined : compileExpr(c.cond), body: compileBlock(c.body) }));
  return (e, state) => {
    for (const c of clauses) if (c.cond === undefined || c.cond(e)) return c.body(e, state);
    return Verdict.Continue;
  };
}

/** Runs the rules on one event (changing it in place); throws SieveActionError when an action cannot apply. */
export function compileProgram(statements: Statement[]): (event: Event) => SieveOutcome {
  const run = compileBlock(statements);
  return (event) => {
    const state: State = { paths: undefined };
    const verdict = run(event, state);
    return { drop: verdict === Verdict.Drop, paths: state.paths };
  };
}
