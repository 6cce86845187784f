/**
 * `vigil shadowserver update-schema` against a local HTTP server (127.0.0.1 only): a good schema is installed
 * atomically and the parser uses it; a bad document, an HTTP error or no server leaves the old file alone and
 * says what went wrong.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import command, { updateSchema } from '../../cli/commands/shadowserver.js';
import { BUNDLED_SCHEMA, SCHEMA_ENV, defaultSchemaPath } from '../../agent/parsers/shadowserver/_schema.js';
import { DEFAULT_REPORT, runParser } from './harness.js';

const MINI = {
  _meta: { date_created: '2030-01-01T00:00:00Z' },
  mini: {
    feed_name: 'Mini-Report',
    file_name: 'mini',
    url: 'https://example.org/mini',
    required_fields: [['time.source', 'timestamp', 'add_UTC_to_timestamp'], ['source.ip', 'ip', 'validate_ip']],
    optional_fields: [],
    constant_fields: { 'classification.type': 'scanner' },
  },
};

const routes: Record<string, { status: number; body: string }> = {
  '/schema': { status: 200, body: JSON.stringify(MINI) },
  '/bundled': { status: 200, body: readFileSync(BUNDLED_SCHEMA, 'utf8') },
  '/not-json': { status: 200, body: '<html>maintenance</html>' },
  '/not-schema': { status: 200, body: '{"a": 1}' },
};

let server: Server;
let base: string;
const dir = mkdtempSync(join(tmpdir(), 'vigil-ss-update-'));

before(async () => {
  server = createServer((req, res) => {
    const route = routes[req.url ?? ''];
    res.writeHead(route?.status ?? 404, { 'content-type': 'application/json' });
    res.end(route?.body ?? 'not found');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

describe('vigil shadowserver update-schema', () => {
  it('installs a downloaded schema atomically (no temp file left behind)', async () => {
    const out = join(dir, 'state', 'shadowserver-schema.json');
    const result = await updateSchema({ url: `${base}/bundled`, out });
    assert.equal(result.path, out);
    assert.ok(result.schema.byFileName.size >= 170);
    assert.deepEqual(result.unsupported, []);
    assert.equal(readFileSync(out, 'utf8'), routes['/bundled']!.body);
    assert.deepEqual(readdirSync(join(dir, 'state')), ['shadowserver-schema.json']);
  });

  it('writes to $VIGIL_SHADOWSERVER_SCHEMA by default, and the parser then prefers that file', async () => {
    const target = join(dir, 'env-schema.json');
    const saved = process.env[SCHEMA_ENV];
    process.env[SCHEMA_ENV] = target;
    try {
      await updateSchema({ url: `${base}/schema` });
      assert.ok(existsSync(target));
      assert.equal(defaultSchemaPath(), target);
      const r = await runParser('shadowserver', '"timestamp","ip"\n"2024-01-01 00:00:00","192.0.2.9"\n', {}, { ...DEFAULT_REPORT, 'extra.file_name': 'mini.csv' });
      assert.equal(r.events.length, 1);
      assert.equal(r.events[0]!['feed.documentation'], 'https://example.org/mini');
    } finally {
      if (saved === undefined) delete process.env[SCHEMA_ENV];
      else process.env[SCHEMA_ENV] = saved;
    }
  });

  it('keeps the old file when the download is not a schema', async () => {
    const out = join(dir, 'keep.json');
    writeFileSync(out, 'OLD');
    await assert.rejects(updateSchema({ url: `${base}/not-json`, out }), /is not JSON .*; nothing was written/);
    await assert.rejects(updateSchema({ url: `${base}/not-schema`, out }), /not usable/);
    await assert.rejects(updateSchema({ url: `${base}/missing`, out }), /HTTP 404/);
    assert.equal(readFileSync(out, 'utf8'), 'OLD');
  });

  it('says clearly when the server cannot be reached, and exits 1', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const url = `http://127.0.0.1:${port}/schema`;
    await assert.rejects(updateSchema({ url, out: join(dir, 'never.json') }), (err: Error) => {
      assert.match(err.message, /cannot download the Shadowserver schema from http:\/\/127\.0\.0\.1:\d+\/schema: the connection failed \(ECONNREFUSED\)/);
      return true;
    });
    const write = process.stderr.write;
    let said = '';
    process.stderr.write = ((chunk: string) => ((said += chunk), true)) as typeof process.stderr.write;
    try {
      assert.equal(await command.run(['update-schema', '--url', url, '--out', join(dir, 'never.json'), '--timeout', '5']), 1);
    } finally {
      process.stderr.write = write;
    }
    assert.match(said, /ECONNREFUSED/);
    assert.ok(!existsSync(join(dir, 'never.json')));
  });

  it('refuses unknown subcommands as a usage error', async () => {
    await assert.rejects(command.run(['download']), /unknown subcommand 'download'/);
  });
});
