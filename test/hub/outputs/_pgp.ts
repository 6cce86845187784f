/**
 * OpenPGP for the email output's tests, with GnuPG (Debian's gnupg): a signing key made in a temp GNUPGHOME, and
 * `gpg --verify` of a PGP/MIME message's signature (RFC 3156: the first part as it stands, without the CRLF
 * before the boundary, against the detached signature in the second).
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../../helpers/processes.js';

export interface GpgKey {
  home: string;
  /** The armored secret key (for signing.key_file). */
  keyFile: string;
  fingerprint: string;
}

/** A key made by GnuPG; with `passphrase`, the exported secret key is protected by it. */
export function makeSigningKey(uid = 'CERT Test <cert@cert.example>', passphrase = ''): GpgKey {
  const home = tempDir('vigil-gpg-');
  const gpg = (...args: string[]): string => execFileSync('gpg', ['--homedir', home, '--batch', '--pinentry-mode', 'loopback', '--passphrase', passphrase, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  gpg('--quick-gen-key', uid, 'ed25519', 'sign', '1d');
  const fingerprint = /^fpr:+([0-9A-F]{40}):/m.exec(gpg('--with-colons', '--list-secret-keys'))![1]!;
  const keyFile = join(home, 'secret.asc');
  writeFileSync(keyFile, gpg('--armor', '--export-secret-keys', fingerprint));
  // The secret key is out: the agent gpg started for it is not needed again (verifying takes none); not left behind.
  spawnSync('gpgconf', ['--homedir', home, '--kill', 'gpg-agent'], { stdio: 'ignore' });
  return { home, keyFile, fingerprint };
}

/** Verifies a multipart/signed message with gpg; returns gpg's status lines (throws when the signature is bad). */
export function gpgVerify(raw: Buffer, key: GpgKey): string {
  const res = spawnSync('gpg', verifyArgs(raw, key));
  return checked(res.status, res.stdout.toString(), res.stderr.toString());
}

/** gpgVerify without blocking: a test checking hundreds of mails runs several gpg at once. */
export function gpgVerifyAsync(raw: Buffer, key: GpgKey): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('gpg', verifyArgs(raw, key), (err, stdout, stderr) => {
      try {
        resolve(checked(err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr));
      } catch (failed) {
        reject(failed as Error);
      }
    });
  });
}

function checked(code: number | null, status: string, stderr: string): string {
  if (code !== 0 || !/\[GNUPG:\] GOODSIG/.test(status)) throw new Error(`gpg --verify failed (${code}):\n${status}\n${stderr}`);
  return status;
}

/** gpg's arguments to verify the message's first part against its detached signature (both written to a temp dir). */
function verifyArgs(raw: Buffer, key: GpgKey): string[] {
  const text = raw.toString('latin1');
  const head = text.slice(0, text.indexOf('\r\n\r\n'));
  const ct = /^content-type:\s*multipart\/signed;([^]*?)(?=\r\n(?![ \t]))/im.exec(`${head}\r\n`);
  if (!ct) throw new Error('not a multipart/signed message');
  const boundary = /boundary="?([^";\r\n]+)"?/i.exec(ct[1]!)![1]!;
  const parts = text.split(`\r\n--${boundary}`);
  // parts[0] is the preamble up to the first delimiter (which starts the body, without a CRLF before it there).
  const first = text.indexOf(`--${boundary}\r\n`) + boundary.length + 4;
  const end = text.indexOf(`\r\n--${boundary}`, first);
  const signed = text.slice(first, end);
  const sigPart = parts.find((p) => /application\/pgp-signature/i.test(p.slice(0, 300)))!;
  const signature = sigPart.slice(sigPart.indexOf('\r\n\r\n') + 4);
  const dir = tempDir('vigil-gpgv-');
  writeFileSync(join(dir, 'signed'), Buffer.from(signed, 'latin1'));
  writeFileSync(join(dir, 'sig.asc'), signature);
  return ['--homedir', key.home, '--batch', '--status-fd', '1', '--verify', join(dir, 'sig.asc'), join(dir, 'signed')];
}
