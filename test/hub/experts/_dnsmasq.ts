/**
 * A real DNS server for the DNS experts' tests: dnsmasq on 127.0.0.1 and a free port, answering A/AAAA and PTR
 * from a hosts file, NXDOMAIN for other names under `.test`, and REFUSED for anything else (no upstream).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as dns } from 'node:dns';
import { once } from 'node:events';
import { join } from 'node:path';
import { freePort } from '../../helpers/processes.js';
import { tempFiles } from './_harness.js';

export interface Dnsmasq {
  /** "127.0.0.1:port", for the experts' dns_servers parameter. */
  server: string;
  stop(): Promise<void>;
}

export async function startDnsmasq(hosts: string): Promise<Dnsmasq> {
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
