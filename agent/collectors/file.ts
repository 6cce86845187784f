/**
 * file: reads one local file as a report, at start and on a schedule. A file whose content is unchanged since
 * its last complete run is not parsed again (the digest is kept with the outbox state), and a run interrupted by
 * a crash resumes after the records already stored.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { basename } from 'node:path';
import { pathToFileURL } from 'node:url';
import { pipeline } from 'node:stream/promises';
import Type from 'typebox';
import { defineCollector } from './define.js';
import { oneAtATime, schedule, ScheduleParams, type Scheduled } from './_schedule.js';

export default defineCollector({
  name: 'file',
  summary: 'Reads a local file as one report, at start-up and on a cron schedule; unchanged content is skipped.',
  intelmq: 'intelmq.bots.collectors.file.collector_file',
  examples: [
    { description: 'A local list read at start-up and every hour', params: { type: 'file', path: 'feeds/drop.txt', schedule: '0 * * * *' } },
    { description: 'Read once, at start-up only', params: { type: 'file', path: '/srv/feeds/blocklist.txt' } },
  ],
  params: Type.Object(
    {
      type: Type.Literal('file'),
      path: Type.String({ description: 'The file to read (relative to the config file).' }),
      ...ScheduleParams,
    },
    { additionalProperties: false },
  ),
  create(params, ctx) {
    const path = ctx.resolvePath(params.path);
    let scheduled: Scheduled | undefined;
    const runOnce = oneAtATime(async (): Promise<void> => {
      try {
        const digest = await fileDigest(path);
        // feed.url names where the data came from; parsers that tell lists apart by URL (spamhaus.drop) use it.
        const report = { 'feed.url': pathToFileURL(path).href.replace('file:///', 'file://localhost/'), 'extra.file_name': basename(path) };
        const stats = await ctx.ingest(createReadStream(path), report, { digest });
        ctx.recordRun({ ok: true, events: stats.events });
      } catch (err) {
        ctx.log.error({ path, err: (err as Error).message }, 'Reading the file failed.');
        ctx.recordRun({ ok: false, error: (err as Error).message });
      }
    });
    return {
      async start() {
        scheduled = await schedule(params, runOnce, ctx.log);
      },
      runOnce,
      async stop() {
        await scheduled?.stop();
      },
    };
  },
});

async function fileDigest(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}
