/**
 * The collectors of issue #18 read a feed written with IntelMQ's parameter names, as the agent loads it
 * (common/config/component-ref.ts: the collector's own `intelmqParams`, then the tables all collectors share):
 * each IntelMQ bot's parameters, as its runtime.yaml gives them, become the Vigil parameters that mean the same.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { collectors } from '../../../agent/collectors/registry.js';
import { loadComponent } from '../../../common/config/component-ref.js';

/** Each collector's IntelMQ parameters (strings where runtime.yaml files often have them) and what they must become. */
const CASES: { type: string; intelmq: Record<string, unknown>; expect: Record<string, unknown>; ignored?: string[] }[] = [
  {
    type: 'http_stream',
    intelmq: { http_url: 'https://prod.cyberfeed.net/stream?key=k', strip_lines: 'false', http_timeout_sec: 60, http_username: 'u', http_password: 'p', http_header: { 'x-a': 'b' }, http_verify_cert: false, rate_limit: 3600 },
    expect: { url: 'https://prod.cyberfeed.net/stream?key=k', strip_lines: false, timeout_seconds: 60, username: 'u', password: 'p', headers: { 'x-a': 'b' }, verify_tls: false },
    ignored: ['rate_limit'],
  },
  {
    type: 'shodan_stream',
    intelmq: { api_key: 'k', countries: 'AT, DE', http_timeout_sec: 120, error_retry_delay: 0 },
    expect: { api_key: 'k', countries: ['AT', 'DE'], timeout_seconds: 120 },
    ignored: ['error_retry_delay'],
  },
  {
    type: 'api',
    intelmq: { port: '5001', use_socket: true, socket_path: '/run/x.sock', socket_perms: 660, socket_group: '' },
    expect: { port: 5001, use_socket: true, socket_path: '/run/x.sock', socket_perms: '660', socket_group: '' },
  },
  {
    type: 'rsync',
    intelmq: { rsync_path: 'blacksync.prolocation.net::surbl-wild/', file: 'wild.surbl.org.rbldnsd', rsync_file_path_formatting: false, extra_params: '', strict_host_key_checking: false, temp_directory: '/var/lib/x', rate_limit: 1200 },
    expect: { rsync_path: 'blacksync.prolocation.net::surbl-wild/', file: 'wild.surbl.org.rbldnsd', rsync_file_path_formatting: false, extra_params: [], strict_host_key_checking: false, temp_directory: '/var/lib/x', schedule: '*/20 * * * *' },
  },
  {
    type: 'github_contents_api',
    intelmq: { basic_auth_username: 'u', basic_auth_password: 'p', repository: 'StrangerealIntel/DailyIOC', regex: '.*.json', extra_fields: 'sha, size', rate_limit: 86400 },
    expect: { basic_auth_username: 'u', basic_auth_password: 'p', repository: 'StrangerealIntel/DailyIOC', regex: '.*.json', extra_fields: ['sha', 'size'] },
  },
  {
    type: 'alienvault_otx',
    intelmq: { api_key: 'k', modified_pulses_only: true, interval: 12, https_proxy: 'http://proxy:3128', rate_limit: 3600 },
    expect: { api_key: 'k', modified_pulses_only: true, interval: 12, https_proxy: 'http://proxy:3128' },
  },
  { type: 'calidog_certstream', intelmq: { rate_limit: 3600 }, expect: { url: 'wss://certstream.calidog.io/' }, ignored: ['rate_limit'] },
];

describe("the issue #18 collectors read IntelMQ's parameter names", () => {
  for (const c of CASES) {
    it(c.type, async () => {
      const loaded = await loadComponent(collectors, { type: c.type, params: c.intelmq }, { file: 'agent.yaml', path: 'feeds[0].collector' });
      const params = loaded.params as Record<string, unknown>;
      for (const [key, value] of Object.entries(c.expect)) assert.deepEqual(params[key], value, key);
      for (const key of c.ignored ?? []) assert.ok(loaded.warnings.some((w) => w.includes(`${key} is IntelMQ's parameter and is ignored`)), `${key} ignored with a warning: ${loaded.warnings.join('; ')}`);
    });
  }

  it('a typo is refused naming the file and the key, not ignored', async () => {
    await assert.rejects(loadComponent(collectors, { type: 'http_stream', params: { http_url: 'https://x/', strip_line: true } }, { file: 'agent.yaml', path: 'feeds[0].collector' }), /agent\.yaml.*strip_line/s);
  });
});
