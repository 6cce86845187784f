/**
 * PostgreSQL connection parameters of the experts that read a table (generic_db_lookup, contacts): IntelMQ's
 * names (`host`, `port`, `database`, `user`, `password`, `sslmode`) and libpq's meaning for `sslmode`.
 */
import { readFileSync } from 'node:fs';
import pg from 'pg';
import Type from 'typebox';
import type { ComponentContext } from '../pipeline/define.js';
import { configError } from './_config.js';

export function pgParams(defaults: { database: string }) {
  return {
    host: Type.String({ default: 'localhost', description: 'Server host name or IP, or the directory of its Unix socket.' }),
    port: Type.Integer({ minimum: 1, maximum: 65535, default: 5432, description: 'Server port.' }),
    database: Type.String({ default: defaults.database, description: 'Database name.' }),
    user: Type.String({ default: 'intelmq', description: 'User name.' }),
    password: Type.Union([Type.String(), Type.Null()], { default: null, description: 'Password (null: none, or PGPASSWORD / ~/.pgpass as libpq would).' }),
    sslmode: Type.Union([Type.Literal('disable'), Type.Literal('require'), Type.Literal('verify-ca'), Type.Literal('verify-full')], {
      default: 'require',
      description: "As libpq: disable; require (encrypted, certificate not checked); verify-ca (signed by sslrootcert); verify-full (and the host name matches). IntelMQ's default is require.",
    }),
    sslrootcert: Type.Union([Type.String(), Type.Null()], { default: null, description: 'PEM file of the CA for verify-ca / verify-full (default: the system CAs).' }),
  };
}

export interface PgSettings {
  host: string;
  port: number;
  database: string;
  user: string;
  password: string | null;
  sslmode: 'disable' | 'require' | 'verify-ca' | 'verify-full';
  sslrootcert: string | null;
}

/** A pool of at most `max` connections; an idle connection the server drops is logged, not fatal. */
export function pgPool(params: PgSettings, ctx: ComponentContext, max: number, timeoutMs: number): pg.Pool {
  const pool = new pg.Pool({
    host: params.host,
    port: params.port,
    database: params.database,
    user: params.user,
    ...(params.password === null ? {} : { password: params.password }),
    ssl: sslOptions(params.sslmode, params.sslrootcert === null ? undefined : ctx.resolvePath(params.sslrootcert)),
    max,
    connectionTimeoutMillis: timeoutMs,
    query_timeout: timeoutMs,
    idleTimeoutMillis: 60_000,
    application_name: `vigil ${ctx.name}`,
  });
  pool.on('error', (err) => ctx.log.warn({ err: err.message }, 'A PostgreSQL connection was lost; the next lookup reconnects.'));
  return pool;
}

function sslOptions(mode: PgSettings['sslmode'], rootcert: string | undefined): pg.PoolConfig['ssl'] {
  if (mode === 'disable') return false;
  let ca: Buffer | undefined;
  if (rootcert !== undefined) {
    try {
      ca = readFileSync(rootcert);
    } catch (err) {
      throw configError('sslrootcert', `cannot read ${rootcert}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  if (mode === 'require') return { rejectUnauthorized: false };
  // verify-ca checks the chain but not the name (libpq semantics).
  return { rejectUnauthorized: true, ...(ca ? { ca } : {}), ...(mode === 'verify-ca' ? { checkServerIdentity: () => undefined } : {}) };
}

/** `"schema"."table"` from `table` or `schema.table`, each part quoted as an identifier. */
export function quoteTable(table: string): string {
  return table.split('.').map(quoteIdent).join('.');
}

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** SQLSTATE classes that say the table or a column is missing or unreadable: a configuration problem. */
export function isSchemaError(err: unknown): boolean {
  const code = (err as { code?: string }).code ?? '';
  return code === '42P01' || code === '42703' || code === '3F000' || code === '42501';
}
