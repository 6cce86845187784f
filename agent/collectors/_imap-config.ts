/**
 * The imap collector's configuration: its parameters, in IntelMQ's names where IntelMQ's mail collectors have the
 * setting (mail_host, mail_ssl, folder, subject_regex, attach_regex, url_regex, content_types, http_* for url mode's
 * downloads, …) and named in the same style where IntelMQ lacks it (read-only, moving, size caps); its examples; and
 * what the parameters become (body types, the downloader's options).
 */
import Type, { type Static } from 'typebox';
import { ConfigError } from '../../common/errors.js';
import type { DownloaderOptions } from './_download.js';
import { authHeaders, intelmqHttpParams } from './_http-params.js';
import type { BodyType } from './_mail.js';
import { ScheduleParams } from './_schedule.js';
import type { CollectorExample } from './define.js';

export const IMAP_EXAMPLES: CollectorExample[] = [
  {
    description: 'CERT-Bund reports: the events.csv attachment of mails whose subject names the report, every 10 minutes',
    params: {
      type: 'imap',
      mode: 'attach',
      mail_host: 'imap.example.org',
      mail_user: 'cert-reports',
      mail_password: 'secret',
      subject_regex: '^\\[CB-Report#.* Malware infections (\\(Avalanche\\) )?in country',
      attach_regex: 'events.csv',
      extract_files: false,
      schedule: '*/10 * * * *',
    },
  },
  {
    description: 'Shadowserver mails with zipped CSVs, over STARTTLS with a private CA; stored mails move to a folder, broken ones to another',
    params: {
      type: 'imap',
      mail_host: 'mail.example.org',
      mail_port: 143,
      mail_ssl: false,
      mail_starttls: true,
      ssl_ca_certificate: '/etc/vigil/mail-ca.pem',
      mail_user: 'shadowserver',
      mail_password: 'secret',
      sent_from: 'shadowserver.org',
      attach_regex: 'csv.zip',
      mail_move: 'Processed',
      mail_move_rejected: 'Rejected',
    },
  },
  {
    description: 'Mails that link to the report: the first link is downloaded',
    params: { type: 'imap', mode: 'url', mail_host: 'imap.example.org', mail_user: 'feeds', mail_password: 'secret', url_regex: 'https://dl\\.example\\.net/\\S+', http_timeout_sec: 60 },
  },
  {
    description: 'The plain-text body is the report; the mailbox is only read (nothing marked), the last UID is remembered',
    params: { type: 'imap', mode: 'body', mail_host: 'imap.example.org', mail_user: 'feeds', mail_password: 'secret', content_types: 'plain', mail_read_only: true },
  },
];

export const ImapParams = Type.Object(
  {
    type: Type.Literal('imap'),
    mode: Type.Union([Type.Literal('attach'), Type.Literal('url'), Type.Literal('body')], {
      default: 'attach',
      description:
        "What of a mail is the report: 'attach', the attachments whose file names match attach_regex (IntelMQ's mail_attach); 'url', the download at the first link in the text matching url_regex (mail_url); 'body', the text and/or HTML body (mail_body).",
    }),
    mail_host: Type.String({ description: 'The IMAP server (IntelMQ: mail_host).' }),
    mail_port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, description: 'The IMAP port (default: 993 with mail_ssl, else 143) (IntelMQ: mail_port).' })),
    mail_user: Type.String({ description: 'The account (IntelMQ: mail_user).' }),
    mail_password: Type.String({ description: 'Its password (IntelMQ: mail_password).' }),
    mail_ssl: Type.Boolean({ default: true, description: 'Speak TLS from the start (imaps) (IntelMQ: mail_ssl).' }),
    mail_starttls: Type.Boolean({
      default: false,
      description: 'Without mail_ssl: upgrade the connection with STARTTLS before logging in, and fail when the server does not offer it (IntelMQ: mail_starttls). With neither, the password goes in cleartext (a warning says so).',
    }),
    ssl_ca_certificate: Type.Optional(Type.String({ description: "CA bundle (PEM) that verifies the IMAP server instead of the system CAs (IntelMQ: ssl_ca_certificate; not used for url mode's downloads, as in IntelMQ)." })),
    http_verify_cert: Type.Boolean({
      default: true,
      description: "Verify the IMAP server's TLS certificate, and in url mode the download server's (IntelMQ uses this one switch for both: http_verify_cert).",
    }),
    timeout_seconds: Type.Number({ minimum: 0.1, default: 60, description: 'Seconds to wait for the IMAP server to connect, greet and answer each command.' }),
    folder: Type.String({ default: 'INBOX', description: 'The folder to read (IntelMQ: folder).' }),
    sent_from: Type.Optional(Type.String({ description: 'Only mails whose From contains this text (the server searches: IMAP SEARCH FROM) (IntelMQ: sent_from).' })),
    sent_to: Type.Optional(Type.String({ description: 'Only mails whose To contains this text (IMAP SEARCH TO) (IntelMQ: sent_to).' })),
    subject_regex: Type.Optional(Type.String({ description: 'Only mails whose subject this Python regular expression finds (re.search); others are left alone (IntelMQ: subject_regex).' })),
    attach_regex: Type.String({ default: 'csv.zip', description: 'attach mode: attachments whose file name this Python regular expression finds (re.search) are reports (IntelMQ: attach_regex).' }),
    url_regex: Type.String({
      default: 'https?://[^\\s<>"]+',
      description: "url mode: the first match in the mail's text is the link downloaded (IntelMQ: url_regex, whose default 'http://' matches no whole link).",
    }),
    content_types: Type.Union([Type.Boolean(), Type.String(), Type.Array(Type.String())], {
      default: true,
      description: "body mode: which bodies are reports, in order: 'plain', 'html', a list or a comma-separated string of them; true (or false) for both (IntelMQ: content_types).",
    }),
    extract_files: Type.Union([Type.Boolean(), Type.Array(Type.String()), Type.String()], {
      default: true,
      description:
        'Unpack a zip, tar or tar.gz attachment or download: true takes every member, a list the members with these names (full path or file name), a string is a regular expression searched in the member path; each member is one report with extra.file_name. A .gz file is always decompressed, a plain file taken as it is (IntelMQ: extract_files).',
    }),
    mail_read_only: Type.Boolean({
      default: false,
      description: 'Open the folder read-only: no mail is marked or moved; the highest UID taken is remembered (with the folder\'s UIDVALIDITY) and only mails above it are read, seen or not.',
    }),
    mail_move: Type.Optional(Type.String({ description: 'Move each stored mail (marked as seen) to this folder, created when missing.' })),
    mail_move_rejected: Type.Optional(Type.String({ description: 'Move each rejected mail (malformed, its download failed for good) to this folder, created when missing, instead of leaving it unseen.' })),
    max_mail_bytes: Type.Integer({ minimum: 1, default: 64 * 1024 * 1024, description: 'Largest mail read, in bytes; a larger one is rejected.' }),
    max_extracted_bytes: Type.Integer({
      minimum: 1,
      default: 2 * 1024 ** 3,
      description: 'Largest decompressed .gz file and largest archive member, in bytes (a guard against decompression bombs).',
    }),
    ...intelmqHttpParams('url mode: ', { maxBytesIs: 'Largest download accepted' }),
    ...ScheduleParams,
    schedule: Type.String({ default: '* * * * *', description: "node-cron expression of when the folder is read, e.g. '*/10 * * * *' (default every minute, IntelMQ's rate_limit of 60 s)." }),
  },
  { additionalProperties: false },
);

/** content_types as IntelMQ reads it: a comma-separated string, a list, or true/false/empty for both. */
export function bodyTypes(spec: boolean | string | string[], where: string): BodyType[] {
  const list = spec === true || spec === false || spec === '' ? ['plain', 'html'] : typeof spec === 'string' ? spec.split(',').map((s) => s.trim()) : spec;
  for (const t of list) {
    if (t !== 'plain' && t !== 'html') throw new ConfigError(undefined, [{ path: where, message: `'${t}' is no body type: use plain and/or html` }]);
  }
  return list.length === 0 ? ['plain', 'html'] : (list as BodyType[]);
}

/** url mode's downloads: the http collector's download code with IntelMQ's http_* parameters. */
export function downloaderOptions(params: Static<typeof ImapParams>): DownloaderOptions {
  const auth = authHeaders({ username: params.http_username, password: params.http_password });
  const headers: Record<string, string> = { 'user-agent': params.http_user_agent, 'accept-encoding': 'gzip, deflate', ...params.http_header, ...auth };
  return {
    timeoutSeconds: params.http_timeout_sec,
    maxAttempts: params.http_timeout_max_tries,
    retryInitialMs: params.retry_initial_ms,
    retryMaxMs: params.retry_max_ms,
    maxBytes: params.max_bytes,
    headers,
    verifyTls: params.http_verify_cert,
    httpProxy: params.http_proxy,
    httpsProxy: params.https_proxy,
  };
}
