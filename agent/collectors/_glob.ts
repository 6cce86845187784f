/**
 * Shell-style globs for the file collectors (spool, tail): `*`, `?`, `[abc]`/`[!abc]` and `{a,b}` within one path
 * segment. `**` is not supported on purpose — a tail over a whole tree is a configuration mistake more often than
 * not, and walking it every poll is costly. Dot files match only a pattern segment that starts with a dot.
 */
import { readdir } from 'node:fs/promises';
import { isAbsolute, join, parse, sep } from 'node:path';

const MAGIC = /[*?[{]/;

export function hasMagic(pattern: string): boolean {
  return MAGIC.test(pattern);
}

/** One path segment's glob as an anchored regular expression. */
export function segmentRegExp(glob: string): RegExp {
  let re = '';
  let braces = 0;
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end < 0) {
        re += '\\[';
        continue;
      }
      let body = glob.slice(i + 1, end);
      if (body.startsWith('!')) body = `^${body.slice(1)}`;
      re += `[${body.replace(/\\/g, '\\\\')}]`;
      i = end;
    } else if (c === '{') {
      braces++;
      re += '(?:';
    } else if (c === '}' && braces > 0) {
      braces--;
      re += ')';
    } else if (c === ',' && braces > 0) re += '|';
    else re += c.replace(/[.+^$()|\\\]}]/g, '\\$&');
  }
  if (braces > 0) throw new Error(`unbalanced '{' in glob '${glob}'`);
  return new RegExp(`^${re}$`);
}

/** Whether a file name matches one segment's glob (dot files only when the glob starts with a dot). */
export function matchSegment(glob: string | RegExp, name: string, dotGlob = false): boolean {
  if (name.startsWith('.') && !dotGlob) return false;
  return typeof glob === 'string' ? glob === name : glob.test(name);
}

/** The paths that currently match an absolute glob (directories and files alike; callers stat them). */
export async function expandGlob(pattern: string): Promise<string[]> {
  if (!isAbsolute(pattern)) throw new Error(`glob '${pattern}' must be an absolute path`);
  const { root } = parse(pattern);
  const segments = pattern.slice(root.length).split(sep).filter((s) => s !== '');
  let bases = [root];
  for (const [i, segment] of segments.entries()) {
    const last = i === segments.length - 1;
    if (!hasMagic(segment)) {
      bases = bases.map((b) => join(b, segment));
      continue;
    }
    const re = segmentRegExp(segment);
    const next: string[] = [];
    for (const base of bases) {
      let entries: import('node:fs').Dirent[];
      try {
        entries = await readdir(base, { withFileTypes: true });
      } catch {
        continue; // a directory that vanished or cannot be read simply has no matches
      }
      for (const e of entries) {
        if (!matchSegment(re, e.name, segment.startsWith('.'))) continue;
        if (!last && !e.isDirectory() && !e.isSymbolicLink()) continue;
        next.push(join(base, e.name));
      }
    }
    bases = next;
  }
  return bases.sort();
}

/** The directories a glob reads (to watch them): the longest prefix without magic, and every expanded parent. */
export function globDirectory(pattern: string): string {
  const parts = pattern.split(sep);
  const fixed: string[] = [];
  for (const p of parts.slice(0, -1)) {
    if (hasMagic(p)) break;
    fixed.push(p);
  }
  return fixed.join(sep) || sep;
}
