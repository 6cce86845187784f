/**
 * Mails as reports, for the imap collector: a structural MIME check, and what of a parsed mail (mailparser) is a
 * report in each of IntelMQ's three mail collectors — an attachment whose file name matches (mail_attach), the
 * first link in the text (mail_url; in the HTML of a mail without text), or the text and HTML bodies (mail_body).
 *
 * The check exists because mailparser reads anything and never fails: a multipart without its boundary, or one cut
 * off before its closing delimiter, would silently give a mail with fewer (or truncated) attachments, and base64
 * with foreign characters would give garbage bytes. Such a mail is rejected with the reason instead.
 */
import { createHash } from 'node:crypto';
import type { ParsedMail } from 'mailparser';

export type MailMode = 'attach' | 'url' | 'body';
export type BodyType = 'plain' | 'html';

/** One source of reports in a mail, keyed by its MIME part (`part`). */
export type MailUnit =
  | { kind: 'attachment'; part: string; fileName: string; content: Buffer }
  | { kind: 'url'; part: string; url: string }
  | { kind: 'body'; part: string; text: string };

export interface UnitOptions {
  /** attach mode: attachments whose file name this finds (re.search). */
  attach: RegExp;
  /** url mode: the first match in the text is the link. */
  url: RegExp;
  /** body mode: which bodies, in this order. */
  bodies: readonly BodyType[];
}

/** The reports of `mail` in `mode`; none means the mail is not for this collector (it is left alone). */
export function unitsOf(mail: ParsedMail, mode: MailMode, options: UnitOptions): MailUnit[] {
  const units: MailUnit[] = [];
  if (mode === 'attach') {
    mail.attachments.forEach((a, i) => {
      // IntelMQ skips an attachment without a file name, and strips quotes older imbox versions left on it.
      let name = a.filename;
      if (!name) return;
      if (name.startsWith('"') && name.endsWith('"')) name = name.slice(1, -1);
      if (options.attach.test(name)) units.push({ kind: 'attachment', part: `part ${a.partId ?? i + 1}`, fileName: name, content: a.content });
    });
  } else if (mode === 'url') {
    // IntelMQ takes the first match of url_regex in the plain-text body, stripped. A mail without one (HTML only,
    // where IntelMQ finds nothing) is searched in its HTML.
    const text = typeof mail.text === 'string' && mail.text !== '' ? mail.text : typeof mail.html === 'string' ? mail.html : '';
    const match = options.url.exec(text);
    const url = match?.[0].trim();
    if (url) units.push({ kind: 'url', part: `link ${url}`, url });
  } else {
    for (const type of options.bodies) {
      const text = type === 'plain' ? mail.text : mail.html;
      if (typeof text === 'string' && text !== '') units.push({ kind: 'body', part: `${type} body`, text });
    }
  }
  return units;
}

/** IntelMQ's report fields of a mail: extra.email_subject, _from (addresses, comma-separated), _message_id, _date. */
export function mailFields(mail: ParsedMail): Record<string, string> {
  const fields: Record<string, string> = {};
  if (mail.subject !== undefined) fields['extra.email_subject'] = mail.subject;
  const from = (mail.from?.value ?? []).map((a) => a.address ?? '').filter((a) => a !== '');
  if (from.length > 0) fields['extra.email_from'] = from.join(',');
  if (mail.messageId !== undefined) fields['extra.email_message_id'] = mail.messageId;
  // The Date header as written (IntelMQ hands on imbox's raw string), unfolded.
  const date = mail.headerLines.find((h) => h.key === 'date');
  if (date) fields['extra.email_date'] = date.line.slice(date.line.indexOf(':') + 1).replace(/\r?\n[ \t]+/g, ' ').trim();
  return fields;
}

/**
 * What identifies a mail across reads, moves and restarts: its Message-ID with a digest of its bytes (a message's
 * content never changes on an IMAP server, RFC 9051 §2.3.1; the digest keeps two mails that share a Message-ID apart).
 */
export function mailKey(messageId: string | undefined, source: Buffer): string {
  return `${messageId ?? '(no Message-ID)'} ${createHash('sha256').update(source).digest('hex').slice(0, 24)}`;
}

const FIELD = /^[\x21-\x39\x3b-\x7e]+[ \t]*:/;
const BASE64 = /^[A-Za-z0-9+/=\s]*$/;
const MAX_DEPTH = 32;

/** Why `source` is not a well-formed MIME message, or undefined when it is. */
export function checkMime(source: Buffer): string | undefined {
  if (source.length === 0) return 'the message is empty';
  return checkEntity(source.toString('latin1'), 'the message', 0);
}

function checkEntity(text: string, where: string, depth: number): string | undefined {
  if (depth > MAX_DEPTH) return `${where} nests multiparts more than ${MAX_DEPTH} deep`;
  // A body part may have no header at all: then it starts with the empty line (RFC 2046 §5.1.1).
  const split = /^\r?\n/.exec(text) ?? /\r?\n\r?\n/.exec(text);
  const head = split ? text.slice(0, split.index) : text;
  const body = split ? text.slice(split.index + split[0].length) : '';
  const lines = head === '' ? [] : head.split(/\r?\n/);
  if (depth === 0 && lines.length === 0) return 'the message has no header';
  const fields: string[] = [];
  for (const [i, line] of lines.entries()) {
    if (FIELD.test(line)) fields.push(line);
    else if (/^[ \t]/.test(line) && fields.length > 0) fields[fields.length - 1] += line;
    else return `line ${i + 1} of the header of ${where} is neither a header field nor its continuation (RFC 5322 §2.2)`;
  }
  const header = (name: string): string | undefined => {
    const line = fields.find((f) => f.slice(0, f.indexOf(':')).trim().toLowerCase() === name);
    return line?.slice(line.indexOf(':') + 1).trim();
  };
  const type = (header('content-type') ?? '').toLowerCase();
  if (type.startsWith('multipart/')) {
    const boundary = /;\s*boundary\s*=\s*(?:"([^"]+)"|([^\s;]+))/i.exec(header('content-type')!);
    if (!boundary) return `${where} is ${type.split(';')[0]} without a boundary parameter (RFC 2046 §5.1.1)`;
    return checkMultipart(body, boundary[1] ?? boundary[2]!, where, depth);
  }
  const encoding = (header('content-transfer-encoding') ?? '').toLowerCase();
  if (encoding === 'base64' && !BASE64.test(body)) return `${where} is declared base64 but holds other characters`;
  return undefined;
}

function checkMultipart(body: string, boundary: string, where: string, depth: number): string | undefined {
  const delimiter = `--${boundary}`;
  const parts: string[] = [];
  let current: string[] | undefined;
  let closed = false;
  for (const line of body.split(/\r?\n/)) {
    if (line.startsWith(delimiter)) {
      const rest = line.slice(delimiter.length);
      if (rest.startsWith('--')) {
        if (current) parts.push(current.join('\r\n'));
        closed = true;
        break;
      }
      // A delimiter line may carry trailing white space only (RFC 2046 §5.1.1); "--b2" is another boundary.
      if (/^[ \t]*$/.test(rest)) {
        if (current) parts.push(current.join('\r\n'));
        current = [];
        continue;
      }
    }
    current?.push(line);
  }
  if (parts.length === 0 && !current) return `${where} has no part: its boundary "${boundary}" never appears (RFC 2046 §5.1.1)`;
  if (!closed) return `${where} is truncated: the closing boundary "${delimiter}--" is missing (RFC 2046 §5.1.1)`;
  for (const [i, part] of parts.entries()) {
    const reason = checkEntity(part, `part ${i + 1} of ${where}`, depth + 1);
    if (reason) return reason;
  }
  return undefined;
}
