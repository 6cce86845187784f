/**
 * Building and handing over one message: MIME through nodemailer's MailComposer, SMTP through its transport
 * (STARTTLS, AUTH), or — in dry-run — an `.eml` file written atomically. SMTP answers are classified as
 * RFC 5321 §4.2.1 does: 4yz is a transient failure (retried), 5yz a permanent one (dead-lettered).
 */
import { open, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { Transform } from 'node:stream';
import MailComposer from 'nodemailer/lib/mail-composer';
import MimeNode from 'nodemailer/lib/mime-node';
import addressparser from 'nodemailer/lib/addressparser';
import * as base64 from 'nodemailer/lib/base64';
import * as qp from 'nodemailer/lib/qp';
import nodemailer from 'nodemailer';
import { VigilError } from '../../../common/errors.js';

export interface MessageParts {
  from: string;
  to: string[];
  replyTo?: string;
  subject: string;
  text: string;
  messageId: string;
  date: Date;
  headers: Record<string, string>;
  attachment?: { filename: string; content: string };
}

/** The message as RFC 5322 bytes (CRLF line ends). */
export function compose(parts: MessageParts): Buffer {
  const mail = new MailComposer({
    from: parts.from,
    to: parts.to,
    replyTo: parts.replyTo,
    subject: parts.subject,
    text: parts.text,
    messageId: parts.messageId,
    date: parts.date,
    headers: parts.headers,
    attachments: parts.attachment ? [{ filename: parts.attachment.filename, content: parts.attachment.content, contentType: 'text/csv; charset=utf-8' }] : [],
  });
  // Canonical CRLF everywhere (a 7bit text part keeps the template's bare LFs): SMTP would convert them on the
  // wire, and a signature over the bytes before that would no longer match (RFC 3156 §5).
  return canonical(build(mail.compile()));
}

/**
 * nodemailer normalises a header name with three regular expressions at every `setHeader` and `getHeader` of a
 * node (about forty a message: a tenth of composing one, bench/notifications). The result depends on the name
 * alone, and a message uses a dozen names: each is normalised once, by nodemailer's own function.
 */
const headerKeys = new Map<string, string>();
/** nodemailer's own normalisation, uncached. @internal (tests) */
export const normaliseHeaderKey = (MimeNode.prototype as unknown as { _normalizeHeaderKey(key: unknown): string })._normalizeHeaderKey;
(MimeNode.prototype as unknown as { _normalizeHeaderKey(key: unknown): string })._normalizeHeaderKey = function (key: unknown): string {
  if (typeof key !== 'string') return normaliseHeaderKey.call(this, key);
  let normal = headerKeys.get(key);
  if (normal === undefined) {
    if (headerKeys.size >= 1000) headerKeys.clear(); // names come from code and configuration; bounded all the same
    headerKeys.set(key, (normal = normaliseHeaderKey.call(this, key)));
  }
  return normal;
};

/** A MIME node's fields that `build` reads besides its public methods (nodemailer's MimeNode keeps them public). */
interface NodeParts {
  content?: unknown;
  contentType?: string;
  multipart?: string | false;
  boundary?: string;
  childNodes: MimeNode[];
}

/**
 * The bytes MimeNode's `build()` makes, made at once: nodemailer decides every header, encoding and boundary (its
 * `buildHeaders`, `getTransferEncoding`, base64 and quoted-printable encoders); only the stream plumbing of
 * `build()` — a pipeline, encoder streams and a setImmediate hop for each part — is left out. It was half of what
 * a notification's message cost (0.8 of 1.7 ms: bench/notifications). The content here is always a string or a
 * Buffer; test/hub/outputs/email-compose.test.ts holds the two builds to the same bytes.
 */
export function build(root: MimeNode): Buffer {
  const out: Buffer[] = [];
  const text = (s: string): void => void out.push(Buffer.from(s));
  const serialise = (node: MimeNode): void => {
    text(`${node.buildHeaders()}\r\n\r\n`); // first: it sets the part's multipart and boundary
    const { content, contentType, multipart, boundary, childNodes } = node as unknown as NodeParts;
    if (content) {
      if (typeof content !== 'string' && !Buffer.isBuffer(content)) throw new Error('compose: a MIME part whose content is neither a string nor a Buffer');
      const encoding = node.getTransferEncoding();
      if (encoding === 'base64') text(wrapLines(base64.encode(content), 76));
      else if (encoding === 'quoted-printable') {
        // build() encodes a part that is not text with CR and LF as data (its `binary` mode): never one of ours.
        if (!/^text\//i.test(contentType ?? '')) throw new Error(`compose: quoted-printable ${contentType} part`);
        out.push(...drive(new qp.Encoder(), typeof content === 'string' ? Buffer.from(content) : content));
      }
      else out.push(typeof content === 'string' ? Buffer.from(content) : content);
    }
    if (multipart) {
      childNodes.forEach((child, i) => {
        text(`${i > 0 ? '\r\n' : ''}--${boundary}\r\n`);
        serialise(child);
      });
      text(`\r\n--${boundary}--\r\n`);
    }
  };
  serialise(root);
  const raw = Buffer.concat(out);
  // As build() ends: with a line break.
  const last = raw.at(-1);
  return last === 0x0a ? raw : Buffer.concat([raw, Buffer.from(last === 0x0d ? '\n' : '\r\n')]);
}

/**
 * nodemailer's base64 `wrap` without its regular expression: the text cut into lines of `width`, joined by CRLF,
 * no line break after the last (base64 has no whitespace for its `trim` to take).
 */
function wrapLines(b64: string, width: number): string {
  if (b64.length <= width) return b64;
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += width) lines.push(b64.slice(i, i + width));
  return lines.join('\r\n');
}

/**
 * What a Transform stream makes of `input` written to it as one chunk, run synchronously: its `_transform` and
 * `_flush` called directly, its pushes collected. The quoted-printable encoder's wrapping depends on where its
 * input ends (it holds back a chunk's last line and the whitespace that ends it), so the one-shot `wrap(encode())`
 * gives other bytes than the stream for some bodies; driving the encoder itself gives the same ones.
 */
function drive(encoder: Transform, input: Buffer): Buffer[] {
  const out: Buffer[] = [];
  encoder.push = (chunk: string | Buffer | null): boolean => {
    if (chunk !== null) out.push(typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk);
    return true;
  };
  const fail = (err?: Error | null): void => {
    if (err) throw err;
  };
  encoder._transform(input, 'buffer' as BufferEncoding, fail); // as a Buffer chunk arrives
  encoder._flush(fail);
  return out;
}

function canonical(raw: Buffer): Buffer {
  return Buffer.from(raw.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');
}

const MAILBOX = /^[^\s@<>(),;:"[\]\\]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$/;

/**
 * The addresses of a recipient field (comma-separated, as the contact experts write them), lower-cased, sorted
 * and deduplicated; throws a record error naming the first address that is not one.
 */
export function parseRecipients(value: string): string[] {
  const found = new Set<string>();
  for (const part of value.split(/[,;]/)) {
    const text = part.trim();
    if (text === '') continue;
    const parsed = addressparser(text, { flatten: true }) as { address?: string }[];
    const address = parsed[0]?.address?.trim().toLowerCase();
    if (parsed.length !== 1 || !address || !MAILBOX.test(address)) throw new VigilError('VIGIL_E_RECORD', `'${text}' is not a mail address`);
    found.add(address);
  }
  return [...found].sort();
}

export interface Sender {
  /** Messages may be handed over at once (files); otherwise one after another (one SMTP connection, in order). */
  readonly concurrent?: boolean;
  /** Hands over the message; resolves with the server's answer (or the file written). */
  send(to: readonly string[], raw: Buffer, name: string): Promise<string>;
  close(): void;
}

export interface SmtpOptions {
  host: string;
  port: number;
  ssl: boolean;
  starttls: boolean;
  username?: string;
  password?: string;
  ca?: string;
  verifyCert: boolean;
  timeoutMs: number;
  from: string;
}

export function smtpSender(o: SmtpOptions): Sender {
  const transport = nodemailer.createTransport({
    // One connection reused for the mails of a flush (up to 100 each): a TLS handshake and AUTH per mail would
    // bound a run for 10,000 recipients by the handshakes. Mails go one after another anyway (the ledger's order).
    pool: true,
    maxConnections: 1,
    maxMessages: 100,
    host: o.host,
    port: o.port,
    secure: o.ssl,
    requireTLS: !o.ssl && o.starttls, // STARTTLS required, never silently plain text
    ignoreTLS: !o.ssl && !o.starttls,
    auth: o.username !== undefined ? { user: o.username, pass: o.password ?? '' } : undefined,
    tls: { ca: o.ca, rejectUnauthorized: o.verifyCert },
    connectionTimeout: o.timeoutMs,
    greetingTimeout: o.timeoutMs,
    socketTimeout: o.timeoutMs,
  });
  const envelopeFrom = addressparser(o.from, { flatten: true })[0]?.address ?? o.from;
  return {
    async send(to, raw) {
      try {
        const info = await transport.sendMail({ envelope: { from: envelopeFrom, to: [...to] }, raw });
        if (info.rejected.length > 0 && info.accepted.length === 0) throw smtpError({ responseCode: 550, response: info.response ?? 'every recipient was rejected' });
        const refused = info.rejected.length > 0 ? ` (refused: ${info.rejected.join(', ')})` : '';
        return `${info.response}${refused}`;
      } catch (err) {
        throw smtpError(err);
      }
    },
    close() {
      transport.close();
    },
  };
}

/** A nodemailer error as a VigilError of the class its SMTP reply code says (none: the network, transient). */
export function smtpError(err: unknown): VigilError {
  if (err instanceof VigilError) return err;
  const e = err as { responseCode?: number; response?: string; message?: string; code?: string; rejectedErrors?: { responseCode?: number; response?: string }[] };
  const code = e.responseCode ?? e.rejectedErrors?.[0]?.responseCode;
  const text = e.response ?? e.rejectedErrors?.[0]?.response ?? e.message ?? String(err);
  if (code !== undefined && code >= 500) return new VigilError('VIGIL_E_REFUSED', `SMTP ${text}`, { smtpCode: code });
  if (e.code === 'EAUTH') return new VigilError('VIGIL_E_REFUSED', `SMTP authentication failed: ${text}`, { smtpCode: code });
  return new VigilError('VIGIL_E_UNAVAILABLE', code !== undefined ? `SMTP ${text}` : `SMTP: ${text}`, { smtpCode: code });
}

/** Dry-run: every message becomes `<dir>/<name>.eml` (written to a temp name, fsync'd, renamed: never half a file). */
export function dryRunSender(dir: string): Sender {
  return {
    concurrent: true, // a group's files are written and fsync'd together: the disk coalesces their flushes
    async send(_to, raw, name) {
      const path = join(dir, `${name}.eml`);
      const tmp = `${path}.tmp`;
      const fh = await open(tmp, 'w');
      try {
        await fh.writeFile(raw);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, path);
      return `written to ${path}`;
    },
    close() {},
  };
}
