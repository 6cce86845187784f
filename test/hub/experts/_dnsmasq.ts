/**
 * A real DNS server for the DNS experts' tests: dnsmasq on 127.0.0.1 and a free port, answering A/AAAA and PTR
 * from a hosts file, NXDOMAIN for other names under `.test`, and REFUSED for anything else (no upstream).
 * TXT records (`txt`: name and text) are served too, and names under the domain of a TXT record (its last two
 * labels, e.g. `cymru.com`) that have no record do not exist (NXDOMAIN), as in the real zone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as dns } from 'node:dns';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../../helpers/processes.js';
import { tempFiles } from './_harness.js';

export interface Dnsmasq {
  /** "127.0.0.1:port", for the experts' dns_servers parameter. */
  server: string;
  stop(): Promise<void>;
}

export interface DnsmasqOptions {
  /** TXT records: [name, text]; a name given twice has two records. */
  txt?: readonly (readonly [string, string])[];
}

/** TXT records in the fixture format: `<name> <text>` per line (the text is the rest of the line), `#` comments. */
export function parseTxtRecords(text: string): [string, string][] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const space = line.search(/\s/);
      return [line.slice(0, space), line.slice(space).trim()];
    });
}

export async function startDnsmasq(hosts: string, options: DnsmasqOptions = {}): Promise<Dnsmasq> {
  const dir = tempFiles({ hosts });
  const port = await freePort();
  const args = [
    '--no-daemon',
    '--no-resolv',
    '--no-hosts',
    `--addn-hosts=${join(dir, 'hosts')}`,
    `--port=${port}`,
    '--listen-address=127.0.0.1',
    '--bind-interfaces',
    '--pid-file=',
    '--local=/test/',
    '--log-facility=-',
  ];
  if (options.txt !== undefined && options.txt.length > 0) {
    // In a configuration file, where dnsmasq reads a quoted text as one string (commas included); on the command
    // line it would split the text at every comma and keep the quotes.
    const zones = new Set(options.txt.map(([name]) => name.split('.').slice(-2).join('.')));
    const lines = options.txt.map(([name, text]) => `txt-record=${name},"${text.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`);
    for (const zone of zones) lines.push(`local=/${zone}/`);
    writeFileSync(join(dir, 'txt.conf'), `${lines.join('\n')}\n`);
    args.push(`--conf-file=${join(dir, 'txt.conf')}`);
  }
  const child: ChildProcess = spawn('dnsmasq', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const server = `127.0.0.1:${port}`;
  const probe = new dns.Resolver({ timeout: 200, tries: 1 });
  probe.setServers([server]);
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`dnsmasq exited (${child.exitCode}): ${stderr}`);
    try {
      await probe.resolve4('probe.invalid.test');
    } catch (err) {
      // NXDOMAIN means the server is up and answering.
      if ((err as NodeJS.ErrnoException).code === 'ENOTFOUND') break;
      if (i > 50) throw new Error(`dnsmasq did not answer on ${server}: ${(err as Error).message} ${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    server,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    },
  };
}
