/**
 * PGP/MIME signing (RFC 3156 §5): the message's content entity — its Content-* headers and body, CRLF line ends —
 * is signed as it stands, and the message becomes multipart/signed of that entity and an
 * application/pgp-signature part holding the detached, armored signature. The other headers stay outside.
 */
import { randomBytes } from 'node:crypto';
import * as openpgp from 'openpgp';
import { VigilError } from '../../../common/errors.js';

export async function pgpSigner(armoredKey: string, passphrase: string | undefined): Promise<(raw: Buffer) => Promise<Buffer>> {
  let key: openpgp.PrivateKey;
  try {
    key = await openpgp.readPrivateKey({ armoredKey });
    if (!key.isDecrypted()) {
      if (passphrase === undefined) throw new Error('the key is protected by a passphrase and signing.passphrase_file is not set');
      key = await openpgp.decryptKey({ privateKey: key, passphrase });
    }
  } catch (err) {
    throw new VigilError('VIGIL_E_CONFIG', `signing.key_file: ${(err as Error).message}`);
  }
  return async (raw) => {
    const text = raw.toString('latin1'); // the composed message is 7-bit: latin1 maps its bytes one to one
    const split = text.indexOf('\r\n\r\n');
    const head = text.slice(0, split);
    const body = text.slice(split + 4);
    const outer: string[] = [];
    const content: string[] = [];
    for (const field of head.split(/\r\n(?![ \t])/)) (/^content-/i.test(field) ? content : outer).push(field);
    // The CRLF before a boundary belongs to the boundary (RFC 2046 §5.1.1): what is signed ends without it.
    const entity = `${content.join('\r\n')}\r\n\r\n${body}`.replace(/(\r\n)+$/, '');
    const signature = await openpgp.sign({ message: await openpgp.createMessage({ binary: Buffer.from(entity, 'latin1') }), signingKeys: key, detached: true, format: 'armored', config: { preferredHashAlgorithm: openpgp.enums.hash.sha256 } });
    const boundary = `----vigil-signed-${randomBytes(12).toString('hex')}`;
    const signed = [
      ...outer.filter((f) => !/^mime-version:/i.test(f)),
      'MIME-Version: 1.0',
      `Content-Type: multipart/signed; micalg=pgp-sha256; protocol="application/pgp-signature"; boundary="${boundary}"`,
      '',
      'This is an OpenPGP/MIME signed message (RFC 4880 and 3156).',
      `--${boundary}`,
      entity,
      `--${boundary}`,
      'Content-Type: application/pgp-signature; name="signature.asc"',
      'Content-Description: OpenPGP digital signature',
      'Content-Disposition: attachment; filename="signature.asc"',
      '',
      (signature as string).replace(/\r?\n/g, '\r\n').trimEnd(),
      `--${boundary}--`,
      '',
    ].join('\r\n');
    return Buffer.from(signed, 'latin1');
  };
}
