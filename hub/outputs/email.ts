/**
 * email: the notifier. Groups events per recipient (`source.abuse_contact`, as the contact experts set it) and
 * group keys over a window, and sends each group one mail: a subject and body rendered from nunjucks templates
 * (Jinja's syntax, as IntelMQ's templated_smtp) chosen per classification, feed or contact, the events attached as
 * CSV or included as a table, a ticket number in the subject, an OpenPGP signature where a key is configured.
 * A host and identifier notified to a recipient is not notified again within the contact's interval
 * (`extra.ttl`), and `extra.notify: false` suppresses. Every step is kept in a durable ledger (_notify/ledger.ts):
 * through kill -9 no event is notified twice and none is forgotten, except that a mail the server accepted just
 * before the hub died is sent once more with the same Message-ID (docs/notifications.md).
 *
 * `write` resolves once a batch is in the ledger; sending runs in the output's own loop, which retries SMTP 4xx
 * and network failures with backoff. A mail refused with 5xx (or whose template fails) sends its events to the
 * output's dead letters with the answer, and events whose recipient is not a mail address go there at once; the
 * rest goes on (in a bare context without dead letters, invalid addresses fail the batch as a record error).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import cron from 'node-cron';
import Type from 'typebox';
import type nunjucks from 'nunjucks';
import { ConfigError, VigilError } from '../../common/errors.js';
import { defineOutput } from '../pipeline/define.js';
import { METRICS, Notifier } from './_notify/notifier.js';
import { checkTicketFormat, compile, DEFAULT_BODY, DEFAULT_SUBJECT, environment, type TemplatePair } from './_notify/render.js';
import { dryRunSender, smtpSender } from './_notify/send.js';
import { pgpSigner } from './_notify/sign.js';

const PRUNE_INTERVAL_MS = 6 * 3600_000; // 6 h: a ledger day's growth is small, a scan is not free

const DEFAULT_FIELDS = ['time.source', 'source.ip', 'source.port', 'source.asn', 'source.fqdn', 'classification.taxonomy', 'classification.type', 'classification.identifier', 'protocol.transport', 'protocol.application'];

const TemplateFiles = Type.Object(
  {
    subject: Type.Optional(Type.String({ description: 'A nunjucks template file for the subject (relative to the config file).' })),
    body: Type.Optional(Type.String({ description: 'A nunjucks template file for the body.' })),
  },
  { additionalProperties: false },
);

/** IntelMQ smtp output's default body text (accepted as "use the bundled template"). */
const SMTP_DEFAULT_TEXT = 'Dear network owner,\\n\\nWe have been informed that the following device might have security problems.\\n\\nYour localhost CERT';

/** IntelMQ smtp_batch output's default CSV header translation (accepted: Vigil's CSV header is IntelMQ's field names). */
const SMTP_BATCH_DEFAULT_TRANSLATION = {
  'time.source': 'time_detected',
  'source.ip': 'ip',
  'classification.taxonomy': 'class',
  'classification.type': 'type',
  'time.observation': 'time_delivered',
  'source.geolocation.cc': 'country_code',
  'source.asn': 'asn',
  'event_description.text': 'description',
  'malware.name': 'malware',
  'feed.name': 'feed_name',
  'feed.url': 'feed_url',
  raw: 'raw',
};

/**
 * The settings a start needs and `vigil check` verifies: the schedule, the ticket format, the tester address, and
 * every template compiled (a syntax error is a config error naming the key, the file and the line).
 */
function checkedTemplates(params: { schedule?: string; ticket_format: string; tester_address?: string; templates: Record<string, { subject?: string; body?: string }> }, resolvePath: (p: string) => string): Map<string, TemplatePair> {
  if (params.schedule !== undefined && !cron.validate(params.schedule)) throw new VigilError('VIGIL_E_CONFIG', `schedule: '${params.schedule}' is not a cron schedule`);
  checkTicketFormat(params.ticket_format);
  if (params.tester_address !== undefined && !/^[^\s@]+@[^\s@]+$/.test(params.tester_address)) throw new VigilError('VIGIL_E_CONFIG', `tester_address: '${params.tester_address}' is not a mail address`);
  const env = environment();
  const one = (key: string, what: 'subject' | 'body', file: string | undefined, fallback: [nunjucks.Template, string] | undefined): [nunjucks.Template, string] => {
    if (file === undefined) return fallback ?? compile(env, undefined, what === 'subject' ? DEFAULT_SUBJECT : DEFAULT_BODY, what);
    try {
      return compile(env, resolvePath(file), '', what);
    } catch (err) {
      throw new ConfigError(undefined, [{ path: `templates.${key}.${what}`, message: (err as Error).message }]);
    }
  };
  const pair = (key: string, files: { subject?: string; body?: string } | undefined, fallback?: TemplatePair): TemplatePair => {
    const [subject, subjectName] = one(key, 'subject', files?.subject, fallback && [fallback.subject, fallback.subjectName]);
    const [body, bodyName] = one(key, 'body', files?.body, fallback && [fallback.body, fallback.bodyName]);
    return { subject, body, subjectName, bodyName };
  };
  const base = pair('default', params.templates.default);
  const templates = new Map<string, TemplatePair>([['', base]]);
  for (const [key, files] of Object.entries(params.templates)) if (key !== 'default') templates.set(key, pair(key, files, base));
  return templates;
}

export default defineOutput({
  name: 'email',
  summary: 'Sends each recipient one mail per window about their hosts: templated, CSV attached, ticket number, OpenPGP-signed, inhibited within the contact\'s interval; a durable ledger; dry-run and tester modes.',
  delivery: 'at-least-once',
  intelmq: ['intelmq.bots.outputs.smtp.output', 'intelmq.bots.outputs.templated_smtp.output', 'intelmq.bots.outputs.smtp_batch.output'],
  intelmqParams: {
    smtp_host: 'smtp_host',
    smtp_server: { to: 'smtp_host', note: "smtp_batch's smtp_server" },
    smtp_username: 'username',
    smtp_password: 'password',
    email_from: { to: 'mail_from', convert: (v) => (v === '' ? undefined : v), note: "smtp_batch's email_from ('' is not set)" },
    testing_to: { to: 'tester_address', note: "smtp_batch's testing_to" },
    fieldnames: { to: 'fields', convert: (v) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()) : v), note: 'a comma-separated string becomes a list' },
    allowed_fieldnames: { to: 'fields', note: "smtp_batch's allowed_fieldnames" },
    // smtp_batch's send: false prints the mails instead of sending them; here they are written as .eml files.
    send: { to: 'dry_run_dir', convert: (v) => (v === false ? 'notifications-dry-run' : undefined), note: "smtp_batch's send: false writes the mails to notifications-dry-run/ (beside the config) instead of sending them" },
    gpg_key: { ignore: 'signing is signing.key_file, an armored secret key file read by OpenPGP.js, not a GnuPG key id', only: [] },
    gpg_pass: { ignore: "the key's passphrase is signing.passphrase_file", only: [] },
    mail_to: { ignore: 'the recipient is recipient_field (source.abuse_contact), every event of a group goes to the same addresses', only: ['{ev[source.abuse_contact]}'] },
    // IntelMQ's own default texts are accepted (the bundled template says the same); any other text belongs in a template file.
    subject: { ignore: 'the subject is a nunjucks template file (templates); IntelMQ\'s default subjects give the bundled template', only: ['Incident in your AS {ev[source.asn]}', 'IntelMQ event', 'IntelMQ warning (%Y-%m-%d)'] },
    text: { ignore: 'the body is a nunjucks template file (templates); IntelMQ\'s default text gives the bundled template', only: [SMTP_DEFAULT_TEXT] },
    body: { ignore: 'the body is a nunjucks template file (templates)', only: [] },
    mail_template: { ignore: 'the body is a nunjucks template file (templates)', only: [''] },
    attachments: { ignore: 'the events are attached as CSV (format, fields, attachment_name)', only: [[]] },
    fieldnames_translation: { ignore: 'the CSV header uses IntelMQ\'s field names', only: [SMTP_BATCH_DEFAULT_TRANSLATION] },
    alternative_mail: { ignore: 'the recipient comes from recipient_field (set it with the contacts expert)', only: [{}] },
    alternative_mails: { ignore: 'the recipient comes from recipient_field (set it with the contacts expert)', only: [] },
    bcc: { ignore: 'no Bcc: the ledger records every notification', only: [] },
    cli: { ignore: 'the API and vigil ctl show and send the notifications', only: [false] },
    ignore_older_than_days: { ignore: 'every event that reaches the output is notified (filter older ones with the filter expert)', only: [] },
    limit_results: { ignore: 'every event of a group is attached', only: [] },
    redis_cache_db: { ignore: 'the ledger lives in the hub\'s LevelDB' },
    redis_cache_host: { ignore: 'the ledger lives in the hub\'s LevelDB' },
    redis_cache_port: { ignore: 'the ledger lives in the hub\'s LevelDB' },
    redis_cache_ttl: { ignore: 'the window is window_seconds or schedule' },
  },
  metrics: METRICS,
  examples: [
    {
      description: 'One mail a day per network owner and identifier, CSV attached, signed, ticket numbers like VIGIL#20260101-0001',
      params: {
        smtp_host: 'mail.example.net', smtp_port: 587, username: 'cert', password: 'secret', mail_from: 'CERT Example <cert@example.net>',
        group_by: ['classification.identifier'], schedule: '0 8 * * *', templates: { default: { subject: 'templates/subject.njk', body: 'templates/body.njk' } },
        signing: { key_file: 'keys/cert-signing.asc' }, ticket_format: 'VIGIL#{date:%Y%m%d}-{seq:4}',
      },
    },
    { description: 'Dry run: write the mails as .eml files and send nothing', params: { mail_from: 'cert@example.net', dry_run_dir: '/var/lib/vigil/notifications', window_seconds: 600 } },
    { description: 'Tester mode: every mail goes to one address, the intended recipient in X-Vigil-Original-To', params: { mail_from: 'cert@example.net', smtp_host: 'localhost', tester_address: 'tester@example.net', window_seconds: 0 } },
  ],
  params: Type.Object(
    {
      mail_from: Type.String({ minLength: 3, default: 'cert@localhost', description: 'The From: address (also the envelope sender), e.g. `CERT Example <cert@example.net>` (IntelMQ\'s default: cert@localhost).' }),
      reply_to: Type.Optional(Type.String({ description: 'A Reply-To: address.' })),
      smtp_host: Type.String({ default: 'localhost', description: 'The SMTP server.' }),
      smtp_port: Type.Integer({ minimum: 1, maximum: 65535, default: 25, description: 'Its port (587 for submission, 465 with ssl).' }),
      ssl: Type.Boolean({ default: false, description: 'TLS from the first byte (port 465).' }),
      starttls: Type.Boolean({ default: true, description: 'Require STARTTLS (RFC 3207) before anything is sent; false sends in plain text.' }),
      verify_cert: Type.Boolean({ default: true, description: "Verify the server's certificate." }),
      ca_file: Type.Optional(Type.String({ description: 'A PEM file of CA certificates to verify the server with.' })),
      username: Type.Optional(Type.String({ description: 'SMTP AUTH user.' })),
      password: Type.Optional(Type.String({ description: 'SMTP AUTH password.' })),
      timeout_ms: Type.Integer({ minimum: 1, default: 30000, description: 'Deadline for connecting and for each SMTP reply, in ms.' }),
      recipient_field: Type.String({ default: 'source.abuse_contact', description: 'The field holding the recipient addresses (comma-separated).' }),
      group_by: Type.Array(Type.String(), { default: ['classification.identifier'], description: 'Fields that, with the recipient, make a group: one mail per group and window.' }),
      window_seconds: Type.Integer({ minimum: 0, default: 3600, description: 'How long a group collects events before its mail is sent, in seconds; 0 sends at once.' }),
      schedule: Type.Optional(Type.String({ description: 'A cron schedule (node-cron, e.g. `0 8 * * *`, UTC of the host clock) at which every open group is sent; replaces window_seconds.' })),
      templates: Type.Record(Type.String(), TemplateFiles, { default: {}, description: 'Template files per classification.identifier, classification.type, feed.name or a contact\'s extra.contact.template; `default` for the rest (else the bundled default).' }),
      format: Type.Union([Type.Literal('csv'), Type.Literal('table')], { default: 'csv', description: 'Events as a CSV attachment or as a text table in the body (a contact\'s extra.contact.format overrides).' }),
      fields: Type.Array(Type.String(), { default: DEFAULT_FIELDS, description: 'The fields (IntelMQ names) of the CSV or table, in order.' }),
      attachment_name: Type.String({ default: 'events_%Y%m%d.csv', description: 'The CSV file name (%Y %m %d %H %M %S, {ticket}).' }),
      ticket_format: Type.String({ default: 'VIGIL#{date:%Y%m%d}-{seq:4}', description: 'The ticket number: {date:%Y%m%d} (UTC), {seq} or {seq:N} (the day\'s sequence, zero-padded to N), {id} (the notification id).' }),
      inhibition_seconds: Type.Integer({ minimum: 0, default: 86400, description: 'No second mail about a host and identifier to a recipient within this, in seconds, where the event has no ttl_field.' }),
      ttl_field: Type.String({ default: 'extra.ttl', description: 'The field holding the contact\'s interval, in seconds (the contacts expert writes extra.ttl).' }),
      dry_run_dir: Type.Optional(Type.String({ description: 'Dry-run: write every mail as an .eml file to this directory and send nothing.' })),
      tester_address: Type.Optional(Type.String({ description: 'Tester mode: send every mail to this address only (the intended recipients in X-Vigil-Original-To).' })),
      max_attempts: Type.Integer({ minimum: 1, default: 10, description: 'Attempts per mail on SMTP 4xx and network failures before its events are dead-lettered.' }),
      initial_backoff_ms: Type.Integer({ minimum: 1, default: 5000, description: 'The first wait after a transient failure, doubled each attempt, in ms.' }),
      max_backoff_ms: Type.Integer({ minimum: 1, default: 600000, description: 'The longest wait between attempts, in ms.' }),
      ledger_days: Type.Integer({ minimum: 1, default: 90, description: 'How long sent, suppressed and failed notifications (and their events) stay in the ledger, in days; pruned at start and every 6 hours.' }),
      signing: Type.Optional(
        Type.Object(
          {
            key_file: Type.String({ description: 'An armored OpenPGP secret key; mails are signed PGP/MIME (RFC 3156, multipart/signed).' }),
            passphrase_file: Type.Optional(Type.String({ description: 'A file holding the key\'s passphrase.' })),
          },
          { additionalProperties: false, description: 'OpenPGP signing.' },
        ),
      ),
    },
    { additionalProperties: false },
  ),
  check(params, ctx) {
    checkedTemplates(params, ctx.resolvePath);
  },
  async create(params, ctx) {
    const templates = checkedTemplates(params, ctx.resolvePath);
    const sign = params.signing ? await pgpSigner(readFileSync(ctx.resolvePath(params.signing.key_file), 'utf8'), params.signing.passphrase_file ? readFileSync(ctx.resolvePath(params.signing.passphrase_file), 'utf8').trim() : undefined) : undefined;
    let sender;
    if (params.dry_run_dir !== undefined) {
      const dir = ctx.resolvePath(params.dry_run_dir);
      const { mkdirSync } = await import('node:fs');
      mkdirSync(dir, { recursive: true });
      sender = dryRunSender(dir);
    } else {
      sender = smtpSender({
        host: params.smtp_host, port: params.smtp_port, ssl: params.ssl, starttls: params.starttls, username: params.username, password: params.password,
        ca: params.ca_file ? readFileSync(ctx.resolvePath(params.ca_file), 'utf8') : undefined, verifyCert: params.verify_cert, timeoutMs: params.timeout_ms, from: params.mail_from,
      });
    }
    const notifier = new Notifier(
      {
        recipientField: params.recipient_field, groupBy: params.group_by, windowMs: params.window_seconds * 1000, cron: params.schedule !== undefined,
        fields: params.fields, format: params.format, attachmentName: params.attachment_name, ticketFormat: params.ticket_format,
        inhibitionMs: params.inhibition_seconds * 1000, ttlField: params.ttl_field, from: params.mail_from, replyTo: params.reply_to, tester: params.tester_address,
        maxAttempts: params.max_attempts, initialBackoffMs: params.initial_backoff_ms, maxBackoffMs: params.max_backoff_ms, retentionMs: params.ledger_days * 86_400_000, templates, sign,
      },
      ctx,
      join(ctx.dataDir, 'notifications', ctx.name.replace(/^output:/, '').replace(/[^A-Za-z0-9._-]/g, '_')),
      sender,
    );
    let timer: NodeJS.Timeout | undefined;
    let pruneTimer: NodeJS.Timeout | undefined;
    let task: ReturnType<typeof cron.schedule> | undefined;
    const loopError = (err: unknown): void => ctx.log.error({ err }, 'The notification loop failed; it goes on at the next tick.');
    return {
      /** The ledger's view and an operator's orders, for the API (hub/hub-services.ts). */
      notifier,
      async open() {
        await notifier.open();
        // The send loop: a tick a second finds the windows that ended and the retries that are due.
        timer = setInterval(() => void notifier.kick().catch(loopError), 1000);
        timer.unref();
        if (params.schedule !== undefined) task = cron.schedule(params.schedule, () => notifier.scheduleTick());
        void notifier.kick().catch(loopError);
        const prune = (): void => void notifier.prune().catch((err: unknown) => ctx.log.warn({ err }, 'Pruning the notification ledger failed; it is tried again later.'));
        prune();
        pruneTimer = setInterval(prune, PRUNE_INTERVAL_MS);
        pruneTimer.unref();
      },
      async write(events, ids) {
        await notifier.write(events, ids);
      },
      async close() {
        clearInterval(timer);
        clearInterval(pruneTimer);
        await task?.stop();
        await notifier.close();
      },
    };
  },
});
