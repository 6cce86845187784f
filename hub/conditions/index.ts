/**
 * IntelMQ's sieve language for Vigil: the sieve expert's rules, output `when:` conditions and `vigil check`.
 *
 *   compileSieve(text)      → (event) => { drop, paths }   rules of a sieve file (throws SieveError)
 *   compileCondition(text)  → (event) => boolean           one bare condition, e.g. "source.ip << '10.0.0.0/8'"
 *   validateSieve(text)     → [{ line, column, message }]  every problem of a sieve file; [] when it is valid
 */
import type { Event } from '../pipeline/define.js';
import type { Problem } from './ast.js';
import { compileExpr, compileProgram, type SieveOutcome } from './compile.js';
import { SieveError } from './lexer.js';
import { parseExpression, parseProgram, validateProgram, type Parsed } from './parser.js';

export type { Problem } from './ast.js';
export { SieveActionError, type SieveOutcome } from './compile.js';
export { SieveError } from './lexer.js';

function parsed<T>(parse: () => Parsed<T>): T {
  const { result, problems } = parse();
  if (problems.length > 0) {
    const first = problems[0]!;
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more problem${problems.length > 2 ? 's' : ''})` : '';
    throw new SieveError(`${first.message}${more}`, first.line, first.column);
  }
  return result;
}

/** Compiles a sieve file; throws SieveError (with line and column) on the first problem. */
export function compileSieve(text: string): (event: Event) => SieveOutcome {
  return compileProgram(parsed(() => parseProgram(text)));
}

/** Compiles one condition (the part between `if` and `{`); throws SieveError on a problem. */
export function compileCondition(text: string): (event: Event) => boolean {
  return compileExpr(parsed(() => parseExpression(text)));
}

/** Every problem of a sieve file, in file order; a syntax error ends the list (nothing after it can be read). */
export function validateSieve(text: string): Problem[] {
  return validateProgram(text);
}
