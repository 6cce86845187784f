/**
 * CZ.NIC HaaS (Honeypot as a Service) daily export: a JSON list of SSH sessions on the honeypot with `time`, `ip`,
 * `country`, `login_successful`, `commands` and `time_closed`. A session that logged in is a system compromise
 * attempt, one that did not is a brute-force attempt.
 */
import { VigilError } from '../../../common/errors.js';
import { defineParser, NoParams, type Fields } from '../framework/define.js';

interface Session {
  time?: unknown;
  ip?: unknown;
  country?: unknown;
  login_successful?: unknown;
  commands?: unknown;
  time_closed?: unknown;
}

const FIXED = { 'protocol.transport': 'tcp', 'protocol.application': 'ssh', 'destination.port': 22 } as const;
/** Session key → field. */
const KEYS: ReadonlyMap<string, string> = new Map([
  ['ip', 'source.ip'],
  ['time', 'time.source'],
  ['country', 'source.geolocation.cc'],
  ['commands', 'extra.commands'],
  ['time_closed', 'extra.time_closed'],
]);
/** login_successful → classification.type (and what comes with it). */
const OUTCOMES: ReadonlyMap<boolean, Fields> = new Map<boolean, Fields>([
  [true, { 'classification.type': 'system-compromise' }],
  [false, { 'classification.type': 'brute-force', 'extra.count': 1 }],
]);
/** Keys IntelMQ reads from every session: one without them fails there, so it is rejected here. */
const REQUIRED = ['ip', 'time', 'country', 'login_successful'];

export default defineParser({
  name: 'cznic.haas',
  summary: 'CZ.NIC HaaS honeypot sessions (JSON): SSH logins and login attempts seen by the honeypot.',
  intelmq: 'intelmq.bots.parsers.cznic.parser_haas',
  params: NoParams,
  input: { kind: 'json' },
  examples: [
    {
      description: 'a failed login',
      input: '[{"time": "2020-06-29T00:00:01.064095+00:00", "ip": "192.0.2.1", "country": "CZ", "login_successful": false, "commands": [], "time_closed": "2020-06-29T00:00:02.076715+00:00"}]',
    },
  ],

  mappings: [
    { title: 'Session key → field', columns: ['key', 'field'], rows: KEYS, note: 'A session without `ip`, `time`, `country` or `login_successful` (or a login without `commands`) is rejected, as in IntelMQ.' },
    { title: 'login_successful → classification', columns: ['login_successful', 'fields'], rows: OUTCOMES, note: 'Any true value counts as true.' },
    { title: 'Fixed fields', columns: ['field', 'value'], rows: Object.entries(FIXED) },
  ],

  parse(record) {
    const s = record.value as Session;
    if (typeof s !== 'object' || s === null || Array.isArray(s)) throw new VigilError('VIGIL_E_RECORD', 'a session is not a JSON object');
    const missing = REQUIRED.filter((key) => !(key in s));
    if (s.login_successful && !('commands' in s)) missing.push('commands'); // IntelMQ reads them for a login
    if (missing.length > 0) throw new VigilError('VIGIL_E_RECORD', `the session has no ${missing.join(', ')}`);
    if (typeof s.time !== 'string') throw new VigilError('VIGIL_E_RECORD', `time ${JSON.stringify(s.time)} is not a date-time text`);
    // Given as one object so empty values stay, as in IntelMQ; before extra.count, which it would replace.
    const extra: Record<string, unknown> = {};
    if ('time_closed' in s) extra.time_closed = s.time_closed;
    if ('commands' in s) extra.commands = s.commands;
    return {
      'source.ip': s.ip,
      'time.source': s.time,
      ...FIXED,
      extra,
      'source.geolocation.cc': s.country || undefined,
      ...OUTCOMES.get(Boolean(s.login_successful)),
    };
  },
});
