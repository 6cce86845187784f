/**
 * Building and handing over one message: MIME through nodemailer's MailComposer, SMTP through its transport
 * (STARTTLS, AUTH), or — in dry-run — an `.eml` file written atomically. SMTP answers are classified as
 * RFC 5321 §4.2.1 does: 4yz is a transient failure (retried), 5yz a permanent one (dead-lettered).
 */
import { open, rename } from 'node:fs/promises';
import { join } from 'node:path';
import MailComposer from 'nodemailer/lib/mail-composer';
import addressparser from 'nodemailer/lib/addressparser';
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
export async function compose(parts: MessageParts): Promise<Buffer> {
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
  return canonical(await mail.compile().build());
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
