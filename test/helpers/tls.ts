/**
 * A throw-away PKI for TLS tests, made with the `openssl` command: a CA and certificates it signs, each a PEM
 * certificate and an unencrypted PEM key in a temp dir. Keys are EC P-256 (fast to make). Every certificate is
 * valid for TLS servers and clients, for `localhost` and 127.0.0.1, so the same kind of certificate serves the hub
 * and identifies an agent (CN = agent id).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface CertFiles {
  cert: string;
  key: string;
}

export interface CertificateAuthority extends CertFiles {
  dir: string;
  /** Issues a certificate with this CN (file names are derived from `name`, default the CN). */
  issue(cn: string, options?: { name?: string; days?: number }): CertFiles;
}

const openssl = (args: string[]): void => {
  execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
};

/** Creates a CA named `name` in `dir` (default: a new temp dir). */
export function createCa(name = 'vigil-test-ca', dir = mkdtempSync(join(tmpdir(), 'vigil-tls-'))): CertificateAuthority {
  const ca = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  openssl([
    'req', '-x509', '-new', '-nodes', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-sha256', '-days', '2',
    '-subj', `/CN=${name}`, '-keyout', ca.key, '-out', ca.cert,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  let serial = 1;
  return {
    dir,
    ...ca,
    issue(cn, options = {}) {
      const base = join(dir, options.name ?? cn);
      const files = { cert: `${base}.crt`, key: `${base}.key` };
      const csr = `${base}.csr`;
      const ext = `${base}.ext`;
      writeFileSync(
        ext,
        [
          'basicConstraints=critical,CA:FALSE',
          'keyUsage=critical,digitalSignature,keyEncipherment',
          'extendedKeyUsage=serverAuth,clientAuth',
          'subjectAltName=DNS:localhost,IP:127.0.0.1',
          '',
        ].join('\n'),
      );
      openssl(['req', '-new', '-nodes', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-subj', `/CN=${cn}`, '-keyout', files.key, '-out', csr]);
      openssl(['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-set_serial', String(serial++), '-days', String(options.days ?? 2), '-sha256', '-extfile', ext, '-out', files.cert]);
      return files;
    },
  };
}
