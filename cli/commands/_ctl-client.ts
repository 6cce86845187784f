/**
 * What every `vigil ctl` command shares: the call to the hub's API (its refusal becomes an ApiError carrying the
 * API's message), usage errors, and plain-text tables.
 */

export class UsageError extends Error {}
export class ApiError extends Error {}

export interface Ctx {
  url: string;
  token: string;
  json: boolean;
  values: { limit?: string; after?: string; format?: string; status?: string; recipient?: string; ticket?: string; output?: string; reason?: string };
  out(text: string): void;
  print(value: unknown): void;
  raw(text: string): void;
}

export type Json = any; // the API's answers, as documented at /docs

export async function call(ctx: Ctx, method: string, path: string, body?: unknown, as: 'json' | 'text' = 'json'): Promise<Json> {
  const headers: Record<string, string> = { authorization: `Bearer ${ctx.token}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(`${ctx.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(30_000) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new ApiError(`cannot reach the hub API at ${ctx.url}: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
  }
  const text = await res.text();
  if (!res.ok) {
    let message = text.trim() || res.statusText;
    try {
      const e = JSON.parse(text) as { error?: string; message?: string };
      if (e.message) message = e.message;
    } catch {
      // not JSON: the text itself
    }
    throw new ApiError(`${method} ${path}: ${res.status} ${res.statusText}: ${message}`);
  }
  if (as === 'text') return text;
  try {
    return text === '' ? {} : JSON.parse(text);
  } catch {
    throw new ApiError(`${method} ${path}: the answer is not JSON (is ${ctx.url} a Vigil hub?)`);
  }
}

export function noMore(args: string[], allowed: number): void {
  if (args.length > allowed) throw new UsageError(`unexpected argument '${args[allowed]}'`);
}

/** Columns padded to their widest cell; the last column is not padded. */
export function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')).join('\n');
}

export function clip(text: string, max: number): string {
  const line = text.replace(/\s+/g, ' ');
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}
