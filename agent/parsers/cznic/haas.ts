/**
 * CZ.NIC HaaS (Honeypot as a Service) daily export: a JSON list of SSH sessions on the honeypot with `time`, `ip`,
 * `country`, `login_successful`, `commands` and `time_closed`. A session that logged in is a system compromise
 * attempt, one that did not is a brute-force attempt.
 */
import { defineParser, NoParams, type Fields } from '../framework/define.js';

interface Session {
  time?: unknown;
  ip?: unknown;
  country?: unknown;
  login_successful?: unknown;
  commands?: unknown;
  time_closed?: unknown;
}

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

  parse(record) {
    const s = record.value as Session;
    const extra: Record<string, unknown> = {};
    if ('time_closed' in s) extra.time_closed = s.time_closed;
    if ('commands' in s) extra.commands = s.commands;
    const fields: Fields = {
      'source.ip': s.ip,
      'time.source': s.time,
      'protocol.transport': 'tcp',
      'protocol.application': 'ssh',
      'destination.port': 22,
      // Given as one object so empty values stay, as in IntelMQ; before extra.count, which it would replace.
      extra,
      'source.geolocation.cc': s.country || undefined,
    };
    if (s.login_successful) {
      fields['classification.type'] = 'system-compromise';
    } else {
      fields['classification.type'] = 'brute-force';
      fields['extra.count'] = 1;
    }
    return fields;
  },
});
