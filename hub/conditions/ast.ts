/** The parsed form of a sieve file. Every node keeps where it was written, for messages. */

export interface Pos {
  line: number;
  column: number;
}

export type Literal = string | number | boolean;

export type Expr =
  | ({ kind: 'or' | 'and'; items: Expr[] } & Pos)
  | ({ kind: 'not'; expr: Expr } & Pos)
  | ({ kind: 'exists'; key: string; exists: boolean } & Pos)
  | ({ kind: 'string'; key: string; op: '==' | '!=' | ':contains' | '=~' | '!~'; value: string } & Pos)
  | ({ kind: 'strings'; key: string; op: ':in' | ':containsany' | ':regexin'; values: string[] } & Pos)
  | ({ kind: 'number'; key: string; op: '==' | '!=' | '<' | '<=' | '>' | '>='; value: number } & Pos)
  | ({ kind: 'numbers'; key: string; values: number[] } & Pos)
  | ({ kind: 'bool'; key: string; op: '==' | '!='; value: boolean } & Pos)
  | ({ kind: 'ip'; key: string; ranges: string[] } & Pos)
  | ({ kind: 'list'; key: string; op: ':equals' | ':setequals' | ':overlaps' | ':subsetof' | ':supersetof'; values: Literal[] } & Pos)
  | ({ kind: 'date'; key: string; op: ':before' | ':after'; value: string } & Pos);

export type Action =
  | ({ kind: 'keep' | 'drop' } & Pos)
  | ({ kind: 'path'; paths: string[] } & Pos)
  | ({ kind: 'add' | 'add!' | 'update'; key: string; op: '=' | '+=' | '-='; value: Literal } & Pos)
  | ({ kind: 'remove'; key: string } & Pos)
  | ({ kind: 'append' | 'append!'; key: string; value: Literal } & Pos);

export interface Clause extends Pos {
  /** undefined for `else`. */
  cond: Expr | undefined;
  body: Statement[];
}

export type Statement = ({ kind: 'if'; clauses: Clause[] } & Pos) | Action;

export interface Problem {
  line: number;
  column: number;
  message: string;
}
