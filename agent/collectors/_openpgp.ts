/**
 * Detached OpenPGP signatures (RFC 9580 §5.2, signature over binary data), checked with openpgp.js against the
 * public keys of a key file — IntelMQ's `verify_pgp_signatures`, which asks GnuPG and its keyring. The report is
 * streamed through the check, so a large report is not held in memory; the verdict comes once it is read.
 */
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { createMessage, readKeys, readSignature, verify, type PublicKey } from 'openpgp';

/**
 * The public keys in `path`: ASCII-armored or binary (`gpg --export [--armor] KEYID`, a legacy `.gpg` keyring);
 * GnuPG's keybox format (`pubring.kbx`) is not OpenPGP and is refused with a hint.
 */
export async function readPublicKeys(path: string): Promise<PublicKey[]> {
  const bytes = await readFile(path);
  if (bytes.subarray(8, 12).toString('latin1') === 'KBXf') throw new Error(`${path} is a GnuPG keybox; export the keys with 'gpg --export --armor KEYID > FILE' and name that file`);
  const text = bytes.toString('latin1');
  const keys = text.includes('-----BEGIN PGP PUBLIC KEY BLOCK-----') ? await readKeys({ armoredKeys: text }) : await readKeys({ binaryKeys: new Uint8Array(bytes) });
  return keys.map((k) => k.toPublic());
}

/**
 * Checks `signature` (armored or binary) over the bytes of `file`. Resolves with the id of the key that made it;
 * rejects with the reason when the signature is damaged, made by none of `keys`, or does not match the data.
 */
export async function verifyDetached(file: string, signature: Buffer, keys: PublicKey[]): Promise<string> {
  const text = signature.toString('latin1');
  const sig = text.includes('-----BEGIN PGP SIGNATURE-----') ? await readSignature({ armoredSignature: text }) : await readSignature({ binarySignature: new Uint8Array(signature) });
  const message = await createMessage({ binary: Readable.toWeb(createReadStream(file)) as unknown as ReadableStream<Uint8Array> });
  const result = await verify({ message, signature: sig, verificationKeys: keys, format: 'binary' });
  // The data has to be read through for the digest to be complete; only then is the verdict known.
  const reader = (result.data as ReadableStream<Uint8Array>).getReader();
  while (!(await reader.read()).done);
  const reasons: string[] = [];
  for (const s of result.signatures) {
    try {
      await s.verified;
      return s.keyID.toHex();
    } catch (err) {
      reasons.push(`key ${s.keyID.toHex()}: ${(err as Error).message}`);
    }
  }
  throw new Error(reasons.length ? reasons.join('; ') : 'the signature file holds no signature');
}
