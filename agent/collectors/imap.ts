/**
 * imap: reports that come by mail (IntelMQ's mail_attach, mail_url and mail_body collectors in one, chosen by
 * `mode`). Each run logs in, takes the unseen mails of a folder (or, read-only, the mails above the last UID taken),
 * and for each mail whose subject matches stores its reports — the attachments whose names match, the first link in
 * its text downloaded (with the http collector's download code), or its bodies. Only once a mail's reports are in
 * the outbox is it marked \Seen (and moved, with mail_move); a mail with nothing for this collector is left as it was,
 * so another collector watching the same folder still sees it.
 *
 * Exactly once across crashes: each report is ingested with a digest of the mail's key (Message-ID and a digest of
 * its bytes) and its MIME part, and the mail's progress (reports stored) is saved atomically with each report's last
 * events. A mail read again after a kill between store and mark resumes after the reports already stored, or, when
 * all were, is only marked. A malformed mail (see _mail.ts), a download that fails for good, or a damaged archive
 * rejects the mail with its reason: counted once, logged, and left in the folder (remembered so it is not counted
 * again) or moved to mail_move_rejected. Any other failure (the server, the outbox) ends the run; the next one
 * resumes where it stopped.
 */
import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ImapFlow, type SearchObject } from 'imapflow';
import { simpleParser } from 'mailparser';
import { ConfigError } from '../../common/errors.js';
import { pyRegex } from '../../common/pyregex.js';
import { Downloader, memberFilter, PermanentError, removeUnpacked, unpack, type Unpacked } from './_download.js';
import { bodyTypes, downloaderOptions, IMAP_EXAMPLES, ImapParams } from './_imap-config.js';
import { checkMime, mailFields, mailKey, unitsOf, type MailUnit } from './_mail.js';
import { oneAtATime, scheduledLife } from './_schedule.js';
import { defineCollector } from './define.js';

/** What the agent remembers of the mailbox (state key `imap`). */
interface ImapState {
  /** The mail being stored: its key, its reports (units) stored completely, and members stored of the next one. */
  current?: { key: string; units: number; members: number };
  /** Mails whose reports are all stored but which may not be marked or moved yet (a kill, a lost connection). */
  stored?: string[];
  /** Mails rejected and left in the folder: counted and logged once. */
  rejected?: string[];
  /** mail_read_only: the folder's UIDVALIDITY and the highest UID taken. */
  uidValidity?: string;
  lastUid?: number;
}

/** How many keys of stored-not-marked and rejected mails are remembered (oldest forgotten first). */
const REMEMBERED_MAILS = 1000;

/** A mail refused for a reason that reading it again does not change. */
class MailRejected extends Error {}

export default defineCollector({
  name: 'imap',
  summary: 'Takes reports from mails in an IMAP folder — matching attachments, the linked download, or the bodies — and marks each mail seen (or moves it) once its reports are stored.',
  intelmq: ['intelmq.bots.collectors.mail.collector_mail_attach', 'intelmq.bots.collectors.mail.collector_mail_url', 'intelmq.bots.collectors.mail.collector_mail_body'],
  examples: IMAP_EXAMPLES,
  params: ImapParams,
  create(params, ctx) {
    const where = (key: string): string => `feed '${ctx.feed}': collector.${key}`;
    const configError = (key: string, message: string): ConfigError => new ConfigError(undefined, [{ path: where(key), message }]);
    const regex = (key: 'subject_regex' | 'attach_regex' | 'url_regex'): RegExp | undefined => {
      if (params[key] === undefined) return undefined;
      try {
        return pyRegex(params[key]!);
      } catch (err) {
        throw configError(key, `not a valid regular expression: ${(err as Error).message}`);
      }
    };
    const subject = regex('subject_regex');
    const unitOptions = { attach: regex('attach_regex')!, url: regex('url_regex')!, bodies: bodyTypes(params.content_types, where('content_types')) };
    const select = memberFilter(params.extract_files, where('extract_files'));
    if (params.mail_read_only && (params.mail_move !== undefined || params.mail_move_rejected !== undefined)) {
      throw configError(params.mail_move !== undefined ? 'mail_move' : 'mail_move_rejected', 'mail_read_only opens the folder read-only: no mail can be moved');
    }
    let ca: Buffer | undefined;
    if (params.ssl_ca_certificate !== undefined) {
      try {
        ca = readFileSync(ctx.resolvePath(params.ssl_ca_certificate));
      } catch (err) {
        throw configError('ssl_ca_certificate', `cannot read the CA bundle: ${(err as Error).message}`);
      }
    }
    if (!params.mail_ssl && !params.mail_starttls) ctx.log.warn({ mail_host: params.mail_host }, 'mail_ssl and mail_starttls are both off: the password crosses the network in cleartext.');
    const port = params.mail_port ?? (params.mail_ssl ? 993 : 143);
    const downloader = params.mode === 'url' ? new Downloader(downloaderOptions(params), ctx.log) : undefined;
    let stopping = false;

    const connect = async (): Promise<ImapFlow> => {
      const client = new ImapFlow({
        host: params.mail_host,
        port,
        secure: params.mail_ssl,
        // mail_starttls: the upgrade is required (a server without it fails the login); off: never tried, as IntelMQ.
        doSTARTTLS: params.mail_ssl ? undefined : params.mail_starttls,
        tls: { rejectUnauthorized: params.http_verify_cert, ca },
        auth: { user: params.mail_user, pass: params.mail_password },
        logger: false,
        disableAutoIdle: true,
        connectionTimeout: params.timeout_seconds * 1000,
        greetingTimeout: params.timeout_seconds * 1000,
        socketTimeout: params.timeout_seconds * 1000,
      });
      // A dropped connection is also reported as an 'error' event; the command in flight fails with it.
      client.on('error', (err: Error) => ctx.log.debug({ err: err.message }, 'IMAP connection error.'));
      await client.connect();
      return client;
    };

    const run = oneAtATime(async (): Promise<void> => {
      if (stopping) return;
      mkdirSync(ctx.workDir, { recursive: true });
      const rejects: { reason: string; text: string }[] = [];
      let events = 0;
      let client: ImapFlow | undefined;
      try {
        client = await connect();
        if (params.mail_move !== undefined) await client.mailboxCreate(params.mail_move);
        if (params.mail_move_rejected !== undefined) await client.mailboxCreate(params.mail_move_rejected);
        const lock = await client.getMailboxLock(params.folder, { readOnly: params.mail_read_only });
        try {
          events = await takeMails(client, rejects);
        } finally {
          lock.release();
        }
        ctx.recordRun({ ok: true, events, rejects });
      } catch (err) {
        const reason = describe(err);
        ctx.log.error({ mail_host: params.mail_host, folder: params.folder, err: reason }, 'Reading the mailbox failed; the next run will try again.');
        ctx.recordRun({ ok: false, error: reason, events, rejects });
      } finally {
        await client?.logout().catch(() => client?.close());
      }
    });

    /** Takes the folder's candidate mails one by one; returns the events stored. */
    const takeMails = async (client: ImapFlow, rejects: { reason: string; text: string }[]): Promise<number> => {
      const state: ImapState = (await ctx.getState<ImapState>('imap')) ?? {};
      const uidValidity = String((client.mailbox as { uidValidity: bigint }).uidValidity);
      if (params.mail_read_only && state.uidValidity !== uidValidity) {
        if (state.uidValidity !== undefined) ctx.log.warn({ folder: params.folder }, 'The folder was recreated (UIDVALIDITY changed); its mails are taken again from the first.');
        Object.assign(state, { uidValidity, lastUid: 0 });
      }
      const query: SearchObject = params.mail_read_only ? { uid: `${(state.lastUid ?? 0) + 1}:*` } : { seen: false };
      if (params.sent_from !== undefined) query.from = params.sent_from;
      if (params.sent_to !== undefined) query.to = params.sent_to;
      const found = await client.search(query, { uid: true });
      if (found === false || found === undefined) throw new Error(`the server refused to search ${params.folder}`);
      // "N:*" always includes the last mail, even below N (RFC 9051 §6.4.8).
      const uids = found.filter((uid) => !params.mail_read_only || uid > (state.lastUid ?? 0)).sort((a, b) => a - b);
      if (uids.length === 0) ctx.log.debug({ folder: params.folder }, 'No mail to check.');
      let events = 0;
      for (const uid of uids) {
        if (stopping) break;
        events += await takeMail(client, uid, state, rejects);
      }
      return events;
    };

    /** One mail: stored and marked, left alone, or rejected. */
    const takeMail = async (client: ImapFlow, uid: number, state: ImapState, rejects: { reason: string; text: string }[]): Promise<number> => {
      const head = await client.fetchOne(String(uid), { uid: true, envelope: true, size: true }, { uid: true });
      if (!head) return 0; // expunged meanwhile
      const title = head.envelope?.subject ?? '';
      const done = async (): Promise<void> => {
        if (params.mail_read_only) {
          state.lastUid = uid;
          await ctx.saveState('imap', state);
        }
      };
      // IntelMQ unfolds the subject before matching it.
      if (subject && !subject.test(title.replace(/\r?\n\s/g, ' '))) {
        ctx.log.debug({ uid, subject: title }, 'Mail skipped: its subject does not match subject_regex.');
        await done();
        return 0;
      }
      let key = `uid ${uid}`;
      try {
        if ((head.size ?? 0) > params.max_mail_bytes) {
          // Not downloaded, so keyed without its bytes.
          key = `${head.envelope?.messageId ?? '(no Message-ID)'} (${head.size} bytes)`;
          if (state.rejected?.includes(key)) return 0;
          throw new MailRejected(`the mail has ${head.size} bytes, over max_mail_bytes (${params.max_mail_bytes})`);
        }
        const full = await client.fetchOne(String(uid), { uid: true, source: true }, { uid: true });
        if (!full || !full.source) return 0;
        const source = full.source;
        key = mailKey(head.envelope?.messageId, source);
        if (state.rejected?.includes(key)) {
          ctx.log.debug({ uid, mail: key }, 'Mail rejected before; left alone.');
          return 0;
        }
        if (!state.stored?.includes(key)) {
          const malformed = checkMime(source);
          if (malformed) throw new MailRejected(`malformed MIME: ${malformed}`);
          const mail = await simpleParser(source, { skipHtmlToText: params.mode !== 'url', skipTextToHtml: true, skipImageLinks: true });
          const units = unitsOf(mail, params.mode, unitOptions);
          if (units.length === 0) {
            ctx.log.debug({ uid, mail: key }, `Mail skipped: ${params.mode === 'attach' ? 'no attachment matches attach_regex' : params.mode === 'url' ? 'no link matches url_regex' : 'no body of the content_types'}.`);
            await done();
            return 0;
          }
          const events = await storeUnits(key, units, { ...mailFields(mail) }, state);
          // All stored: remembered until the mail is marked, so a kill before that does not store it again.
          state.current = undefined;
          if (!params.mail_read_only) state.stored = [...(state.stored ?? []), key].slice(-REMEMBERED_MAILS);
          await ctx.saveState('imap', state);
          await finish(client, uid, key, state);
          ctx.log.info({ uid, mail: key, events, reports: units.length }, params.mail_read_only ? 'Mail stored.' : params.mail_move ? `Mail stored and moved to ${params.mail_move}.` : 'Mail stored and marked as seen.');
          return events;
        }
        ctx.log.info({ uid, mail: key }, 'Mail stored before a restart; marking it now.');
        await finish(client, uid, key, state);
        return 0;
      } catch (err) {
        if (!(err instanceof MailRejected || err instanceof PermanentError)) throw err;
        const reason = err.message;
        rejects.push({ reason, text: `mail ${key} (uid ${uid}, subject ${JSON.stringify(title)})` });
        state.current = undefined;
        if (params.mail_move_rejected !== undefined) {
          ctx.log.warn({ uid, mail: key, reason }, `Mail rejected; moved to ${params.mail_move_rejected}.`);
          await ctx.saveState('imap', state);
          if (!(await client.messageMove(String(uid), params.mail_move_rejected, { uid: true }))) throw new Error(`cannot move the mail (uid ${uid}) to ${params.mail_move_rejected}`);
        } else {
          ctx.log.warn({ uid, mail: key, reason }, 'Mail rejected; left in the folder.');
          if (!params.mail_read_only) state.rejected = [...(state.rejected ?? []), key].slice(-REMEMBERED_MAILS);
          await ctx.saveState('imap', state);
          await done();
        }
        return 0;
      }
    };

    /** Marks (and moves) a stored mail, then forgets it; read-only, advances the last UID taken. */
    const finish = async (client: ImapFlow, uid: number, key: string, state: ImapState): Promise<void> => {
      if (params.mail_read_only) {
        state.lastUid = uid;
      } else {
        if (!(await client.messageFlagsAdd(String(uid), ['\\Seen'], { uid: true }))) throw new Error(`cannot mark the mail (uid ${uid}) as seen`);
        if (params.mail_move !== undefined && !(await client.messageMove(String(uid), params.mail_move, { uid: true }))) throw new Error(`cannot move the mail (uid ${uid}) to ${params.mail_move}`);
        state.stored = state.stored?.filter((k) => k !== key);
      }
      await ctx.saveState('imap', state);
    };

    /** Stores the reports of one mail, resuming after those stored before; returns the events stored. */
    const storeUnits = async (key: string, units: MailUnit[], fields: Record<string, string>, state: ImapState): Promise<number> => {
      const resume = state.current?.key === key ? state.current : { key, units: 0, members: 0 };
      if (resume.units > 0 || resume.members > 0) ctx.log.info({ mail: key, reports: resume.units }, 'Resuming a mail after the reports already stored.');
      let events = 0;
      for (const [u, unit] of units.entries()) {
        if (u < resume.units) continue;
        const skip = u === resume.units ? resume.members : 0;
        let m = 0;
        for await (const report of reportsOf(unit)) {
          if (m < skip) {
            m++;
            continue;
          }
          state.current = { key, units: u, members: m + 1 };
          const digest = createHash('sha256').update(`${key}\0${unit.part}\0${m}`).digest('hex');
          const stats = await ctx.ingest(report.body, { ...fields, ...report.fields }, { digest, state: { imap: state } });
          events += stats.events;
          m++;
        }
        state.current = { key, units: u + 1, members: 0 };
      }
      return events;
    };

    /** The reports one unit gives: an attachment or a download unpacked (members with extract_files), or a body. */
    async function* reportsOf(unit: MailUnit): AsyncGenerator<{ body: AsyncIterable<Buffer> | string; fields: Record<string, string> }> {
      if (unit.kind === 'body') {
        yield { body: unit.text, fields: {} };
        return;
      }
      const file = join(ctx.workDir, unit.kind === 'attachment' ? 'attachment.part' : 'download.part');
      try {
        let fileName = unit.kind === 'attachment' ? unit.fileName : '';
        let fields: Record<string, string> = {};
        if (unit.kind === 'attachment') {
          await writeFile(file, unit.content);
        } else {
          ctx.log.info({ url: unit.url }, 'Downloading the report a mail links to.');
          // Failing after the retries ends the run (the mail is read again next time); a 4xx rejects the mail.
          const dl = await downloader!.retrying(unit.url, () => downloader!.once(unit.url, file));
          if (dl === 304) throw new PermanentError(`unexpected 304 from ${unit.url}`);
          fileName = dl.fileName;
          fields = { 'feed.url': unit.url };
        }
        let unpacked: Unpacked;
        try {
          unpacked = await unpack(file, fileName, select, params.max_extracted_bytes);
        } catch (err) {
          // The bytes are what they are: reading them again fails the same way.
          throw err instanceof PermanentError ? err : new PermanentError(`${unit.part}: ${(err as Error).message}`);
        }
        if (unpacked.kind === 'file') {
          yield { body: createReadStream(unpacked.path), fields: { ...fields, 'extra.file_name': unpacked.fileName } };
        } else {
          for await (const member of permanent(unpacked.members, unit.part)) yield { body: permanent(member.body, `archive member '${member.name}'`), fields: { ...fields, 'extra.file_name': member.name } };
        }
      } finally {
        await removeUnpacked(file);
      }
    }

    return scheduledLife(params, run, ctx.log, { onStop: () => { stopping = true; }, close: async () => { await downloader?.close(); } });
  },
});

/** Errors of an archive's bytes (damaged, truncated, a CRC mismatch) reject the mail instead of failing every run. */
async function* permanent<T>(items: AsyncIterable<T>, what: string): AsyncGenerator<T> {
  try {
    yield* items;
  } catch (err) {
    throw err instanceof PermanentError ? err : new PermanentError(`${what}: ${(err as Error).message}`);
  }
}

/** An IMAP error with the server's answer when there is one (imapflow puts it in responseText). */
function describe(err: unknown): string {
  const e = err as Error & { responseText?: string; authenticationFailed?: boolean; code?: string };
  if (e.authenticationFailed) return `login refused: ${e.responseText ?? e.message}`;
  return e.responseText ? `${e.message}: ${e.responseText}` : (e.message ?? String(err));
}
