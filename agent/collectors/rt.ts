/**
 * rt: reports from tickets of a Request Tracker (IntelMQ's rt collector_rt), through RT's REST 1.0 interface
 * (`_rt-rest1.ts`). Each run logs in, searches the tickets of `search_queue` with the given status, owner,
 * requestor, subject pattern and age (oldest first), and takes from each ticket either its first attachment whose
 * name matches `attachment_regex`, or else the first URL in its first message that matches `url_regex` (downloaded).
 * The report carries the ticket as IntelMQ writes it: rtir_id, time.observation the attachment's (or message's)
 * creation, extra.ticket_subject/requestors/queue/status/owner and extra.email_subject/from; an archive is unpacked
 * (extract_attachment, extract_download), one report per member with its extra.file_name.
 *
 * Once a ticket's reports are stored, it is taken (take_ticket) and its status set (set_status), which is what takes
 * it out of the search, as in IntelMQ. Exactly once: the tickets stored are state saved with their last report's
 * events (an archive's members stored so far too, so one cut short resumes after them); a ticket found again (after
 * a kill, or when its update was refused) is only updated, not stored again. An attachment or
 * download that cannot be unpacked is rejected with the reason and counted, and its ticket left for a person.
 */
import { createReadStream, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Type from 'typebox';
import { ConfigError } from '../../common/errors.js';
import { commaList } from '../../common/intelmq-params.js';
import { pyRegex } from '../../common/pyregex.js';
import { parseTimeSpec, resolveTimeSpec } from '../../common/timespec.js';
import { Downloader, isZlibError, memberFilter, PermanentError, removeUnpacked, unpack, type Unpacked } from './_download.js';
import { authHeaders, httpClientOptions, httpParams } from './_http-params.js';
import { Unreadable } from './_listing.js';
import { RtClient, type RtFields } from './_rt-rest1.js';
import { oneAtATime, ScheduleParams, scheduledLife } from './_schedule.js';
import { defineCollector } from './define.js';

/** What the agent remembers between runs (state key `rt`). */
interface RtState {
  /** Ids of tickets whose reports are stored (the most recent REMEMBERED_TICKETS). */
  stored?: number[];
  /** An archive being stored: the members before `members` are in the outbox. */
  partial?: { ticket: number; members: number };
}

const REMEMBERED_TICKETS = 10_000;

/** IntelMQ's extract_attachment/extract_download: a boolean, or names (a list, or a comma-separated string). */
const ExtractSpec = (what: string) =>
  Type.Union([Type.Boolean(), Type.Array(Type.String())], { default: true, description: `Unpack ${what} when it is a zip or tar archive: true every member, a list the members with these names (IntelMQ's comma-separated string is read as such a list); false keeps it as it is (a gzip is always decompressed). Default true, as IntelMQ's.` });

export default defineCollector({
  name: 'rt',
  summary: "Takes reports from Request Tracker tickets (REST 1.0 search): a matching attachment or the download behind a matching URL, then takes the ticket and sets its status once stored.",
  intelmq: 'intelmq.bots.collectors.rt.collector_rt',
  intelmqParams: {
    extract_attachment: { to: 'extract_attachment', convert: commaList, note: "IntelMQ's comma-separated names become a list" },
    extract_download: { to: 'extract_download', convert: commaList, note: "IntelMQ's comma-separated names become a list" },
    ssl_client_certificate: { ignore: 'the rt collector sends no client certificate', only: [] },
  },
  examples: [
    {
      description: "Shadowserver's reports mailed into an RTIR queue: zipped CSV attachments",
      params: {
        type: 'rt',
        uri: 'https://rt.example.org/REST/1.0',
        user: 'vigil',
        password: 'secret',
        search_queue: 'Incident Reports',
        search_requestor: 'autoreports@shadowserver.org',
        search_subject_like: '[AT] Shadowserver AT',
        attachment_regex: '\\.csv\\.zip$',
        extract_attachment: true,
        url_regex: 'https://dl.shadowserver.org/[a-zA-Z0-9?_-]*',
        set_status: 'open',
      },
    },
  ],
  params: Type.Object(
    {
      type: Type.Literal('rt'),
      uri: Type.String({ default: 'http://localhost/rt/REST/1.0', description: "RT's REST 1.0 base URL (IntelMQ: uri)." }),
      user: Type.String({ default: 'intelmq', description: 'The RT user (IntelMQ: user).' }),
      password: Type.String({ default: 'password', description: "The RT user's password (IntelMQ: password)." }),
      search_queue: Type.String({ default: 'Incident Reports', description: 'Only tickets of this queue (IntelMQ: search_queue).' }),
      search_status: Type.Optional(Type.String({ default: 'new', description: 'Only tickets with this status; empty: any (IntelMQ: search_status).' })),
      search_owner: Type.Optional(Type.String({ default: 'nobody', description: 'Only tickets of this owner; empty: any (IntelMQ: search_owner).' })),
      search_requestor: Type.Optional(Type.String({ description: 'Only tickets with this requestor (IntelMQ: search_requestor).' })),
      search_subject_like: Type.Optional(Type.String({ default: 'Report', description: 'Only tickets whose subject contains this (TicketSQL LIKE) (IntelMQ: search_subject_like).' })),
      search_subject_not_like: Type.Optional(Type.String({ description: 'Only tickets whose subject does not contain this (IntelMQ: search_subject_not_like).' })),
      search_not_older_than: Type.Optional(Type.String({ description: "Only tickets created since then: a span before each run ('3 days') or a date (IntelMQ: search_not_older_than)." })),
      attachment_regex: Type.Optional(Type.String({ default: '\\.csv\\.zip$', description: "Python regular expression searched in the attachments' names; the first match is the report; empty: attachments are not looked at (IntelMQ: attachment_regex)." })),
      url_regex: Type.Optional(
        Type.String({ default: 'https://dl.shadowserver.org/[a-zA-Z0-9?_-]*', description: "Python regular expression of the URL in the ticket's first message to download when no attachment matches; empty: none (IntelMQ: url_regex)." }),
      ),
      extract_attachment: ExtractSpec('a matching attachment'),
      extract_download: ExtractSpec('a download'),
      take_ticket: Type.Boolean({ default: true, description: 'Take each ticket (become its owner) once its reports are stored (IntelMQ: take_ticket).' }),
      set_status: Type.Optional(Type.String({ default: 'open', description: "The status each ticket gets once its reports are stored; empty: unchanged (IntelMQ: set_status)." })),
      http_username: Type.Optional(Type.String({ description: 'Basic auth user for the URL downloads (IntelMQ: http_username).' })),
      http_password: Type.Optional(Type.String({ description: 'Basic auth password for the URL downloads (IntelMQ: http_password).' })),
      ...ScheduleParams,
      schedule: Type.String({ default: '0 * * * *', description: "node-cron expression of when RT is searched (default hourly, IntelMQ's rate_limit of 3600 s)." }),
      ...httpParams({ maxBytesIs: 'Largest attachment or download read' }),
      max_extracted_bytes: Type.Integer({ minimum: 1, default: 2 * 1024 ** 3, description: 'Largest decompressed report and archive member, in bytes (a guard against decompression bombs).' }),
    },
    { additionalProperties: false },
  ),
  create(params, ctx) {
    const configError = (key: string, message: string): ConfigError => new ConfigError(undefined, [{ path: `feed '${ctx.feed}': collector.${key}`, message }]);
    if (!URL.canParse(params.uri)) throw configError('uri', `'${params.uri}' is not a URL`);
    const regex = (key: 'attachment_regex' | 'url_regex'): RegExp | undefined => {
      if (!params[key]) return undefined;
      try {
        return pyRegex(params[key]);
      } catch (err) {
        throw configError(key, `not a regular expression: ${(err as Error).message}`);
      }
    };
    const attachmentRe = regex('attachment_regex');
    const urlRe = regex('url_regex');
    const since = params.search_not_older_than ? parseTimeSpec(params.search_not_older_than) : undefined;
    if (params.search_not_older_than && since === undefined) throw configError('search_not_older_than', `'${params.search_not_older_than}' is neither a span such as '3 days' nor a date`);
    const selectAttachment = memberFilter(params.extract_attachment, `feed '${ctx.feed}': collector.extract_attachment`);
    const selectDownload = memberFilter(params.extract_download, `feed '${ctx.feed}': collector.extract_download`);
    const http = httpClientOptions(params, ctx);
    const rt = new RtClient(params.uri, http);
    const downloader = new Downloader({ ...http, headers: { ...http.headers, ...authHeaders({ username: params.http_username, password: params.http_password }) } }, ctx.log);
    let stopping = false;

    /** The TicketSQL of the search parameters (python-rt's spelling: `Field = 'value'` joined by AND). */
    const query = (): string => {
      const q = (v: string): string => `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
      const parts = [`Queue = ${q(params.search_queue)}`];
      if (params.search_owner) parts.push(`Owner = ${q(params.search_owner)}`);
      if (params.search_requestor) parts.push(`Requestor = ${q(params.search_requestor)}`);
      if (params.search_status) parts.push(`Status = ${q(params.search_status)}`);
      if (params.search_subject_like) parts.push(`Subject LIKE ${q(params.search_subject_like)}`);
      if (params.search_subject_not_like) parts.push(`Subject NOT LIKE ${q(params.search_subject_not_like)}`);
      if (since) parts.push(`Created > ${q(new Date(resolveTimeSpec(since, Date.now())).toISOString().slice(0, 19).replace('T', ' '))}`);
      return parts.join(' AND ');
    };

    /** What one ticket gives: the file of its report and where it came from, or undefined when nothing matches. */
    const fetchReport = async (id: number, file: string): Promise<{ fileName: string; created: string | undefined; select: typeof selectAttachment; source: string } | undefined> => {
      if (attachmentRe) {
        const match = (await rt.attachments(id)).find((a) => attachmentRe.test(a.name));
        if (match) {
          writeFileSync(file, await rt.attachmentContent(id, match.id));
          const created = (await rt.attachment(id, match.id)).Created;
          return { fileName: match.name, created, select: selectAttachment, source: `attachment ${match.id} (${match.name})` };
        }
      }
      if (urlRe) {
        const first = await rt.firstHistory(id);
        const url = urlRe.exec(first.Content ?? '')?.[0];
        if (url) {
          const got = await downloader.retrying(url, () => downloader.once(url, file));
          if (got === 304) throw new Error(`unexpected 304 from ${url}`);
          return { fileName: got.fileName, created: first.Created, select: selectDownload, source: url };
        }
      }
      return undefined;
    };

    /** IntelMQ's report fields of a ticket. */
    const ticketFields = (id: number, t: RtFields, created: string | undefined): Record<string, unknown> => {
      const requestors = (t.Requestors ?? '').split(/,\s*/).filter((r) => r !== '').join(',');
      const fields: Record<string, unknown> = {
        rtir_id: id,
        'extra.email_subject': t.Subject,
        'extra.ticket_subject': t.Subject,
        'extra.email_from': requestors,
        'extra.ticket_requestors': requestors,
        'extra.ticket_queue': t.Queue,
        'extra.ticket_status': t.Status,
        'extra.ticket_owner': t.Owner,
      };
      // RT's times are UTC, "2018-01-20 12:00:00".
      if (created && /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/.test(created)) fields['time.observation'] = `${created.replace(' ', 'T')}+00:00`;
      return fields;
    };

    /** Takes the ticket and sets its status, as configured. */
    const update = async (id: number): Promise<void> => {
      if (params.take_ticket) await rt.take(id);
      if (params.set_status) await rt.setStatus(id, params.set_status);
    };

    const run = oneAtATime(async (): Promise<void> => {
      if (stopping) return;
      mkdirSync(ctx.workDir, { recursive: true });
      const rejects: { reason: string; text: string }[] = [];
      const failures: string[] = [];
      let events = 0;
      try {
        const stored = (await ctx.getState<RtState>('rt'))?.stored ?? [];
        await rt.login(params.user, params.password);
        const tickets = await rt.search(query());
        ctx.log.debug({ tickets: tickets.length }, 'RT tickets found.');
        for (const t of tickets) {
          if (stopping) break;
          const id = Number(/^ticket\/(\d+)$/.exec(t.id ?? '')?.[1]);
          if (!Number.isInteger(id)) continue;
          if (!stored.includes(id)) {
            const file = join(ctx.workDir, 'rt.part');
            try {
              const got = await fetchReport(id, file);
              if (!got) {
                ctx.log.info({ ticket: id }, 'No matching attachment or URL in the ticket; left as it is.');
                continue;
              }
              const fields = ticketFields(id, t.Subject === undefined ? await rt.ticket(id) : t, got.created);
              try {
                const unpacked = await unpack(file, got.fileName, got.select, params.max_extracted_bytes);
                events += await storeReports(id, unpacked, fields, stored);
              } catch (err) {
                if (!(err instanceof Unreadable || err instanceof PermanentError || isZlibError(err))) throw err;
                // Left unchanged in RT, so a person sees it; not tried again.
                rejects.push({ reason: `ticket ${id}: ${got.source} cannot be read: ${(err as Error).message}`, text: got.source });
                stored.push(id);
                await ctx.saveState('rt', { stored: stored.slice(-REMEMBERED_TICKETS) } satisfies RtState);
                continue;
              }
              ctx.log.info({ ticket: id, from: got.source }, 'RT ticket stored.');
            } finally {
              await removeUnpacked(file);
            }
          } else {
            ctx.log.info({ ticket: id }, 'RT ticket stored before; updating it now.');
          }
          try {
            await update(id);
          } catch (err) {
            failures.push(`ticket ${id}: ${(err as Error).message}`);
          }
        }
        if (failures.length > 0) ctx.recordRun({ ok: false, events, rejects, error: `${failures.length} stored tickets could not be updated (tried again next run): ${failures.join('; ')}` });
        else ctx.recordRun({ ok: true, events, rejects });
      } catch (err) {
        const hint = /RT answered 401/.test((err as Error).message) ? ' (check user and password)' : '';
        ctx.log.error({ uri: params.uri, err: (err as Error).message }, 'Taking reports from RT failed; the next run tries again.');
        ctx.recordRun({ ok: false, events, rejects, error: `${(err as Error).message}${hint}` });
      }
    });

    /**
     * Stores the report (or each member: one cut short resumes after the members stored), the ticket marked stored
     * with the last one; returns the events.
     */
    const storeReports = async (id: number, unpacked: Unpacked, fields: Record<string, unknown>, stored: number[]): Promise<number> => {
      const done: RtState = { stored: [...stored, id].slice(-REMEMBERED_TICKETS) };
      let events = 0;
      if (unpacked.kind === 'file') {
        events += (await ctx.ingest(createReadStream(unpacked.path), { ...fields, 'extra.file_name': unpacked.fileName }, { state: { rt: done } })).events;
      } else {
        const partial = (await ctx.getState<RtState>('rt'))?.partial;
        const skip = partial?.ticket === id ? partial.members : 0;
        let index = 0;
        for await (const member of unreadable(unpacked.members, 'the archive')) {
          if (index++ < skip) continue;
          const progress: RtState = { stored, partial: { ticket: id, members: index } };
          const body = unreadable(member.body, `archive member '${member.name}'`);
          events += (await ctx.ingest(body, { ...fields, 'extra.file_name': member.name }, { state: { rt: progress } })).events;
        }
        await ctx.saveState('rt', done);
      }
      stored.push(id);
      return events;
    };

    return scheduledLife(params, run, ctx.log, { onStop: () => { stopping = true; }, close: async () => { await Promise.all([rt.close(), downloader.close()]); } });
  },
});

/** `source`, its own failures (a damaged archive, a member that does not inflate) thrown as Unreadable. */
async function* unreadable<T>(source: AsyncIterable<T>, what: string): AsyncGenerator<T> {
  const it = source[Symbol.asyncIterator]();
  for (;;) {
    let next: IteratorResult<T>;
    try {
      next = await it.next();
    } catch (err) {
      throw new Unreadable(`${what}: ${(err as Error).message}`);
    }
    if (next.done) return;
    yield next.value;
  }
}
