/**
 * A collector in a process of its own, for crash tests: the parent kills it with SIGKILL at a random moment and
 * starts it again on the same data directory. Usage:
 *   node --import tsx test/agent/collectors/_crash-child.ts '{"dir": "...", "collector": {"type": "tail", ...}, "batchEvents": 20}'
 * Prints READY once started, then "EVENTS <n>" (events in the outbox) every 10 ms. SIGTERM stops it cleanly.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CollectorDefinition } from '../../../agent/collectors/define.js';
import { openHarness, type ChildConfig } from '../../helpers/collectors.js';

const config = JSON.parse(process.argv[2]!) as ChildConfig;
const here = dirname(fileURLToPath(import.meta.url));
const { type, ...params } = config.collector;
const def = ((await import(join(here, '../../../agent/collectors', `${type}.ts`))) as { default: CollectorDefinition }).default;
const h = await openHarness({ dir: config.dir, batchEvents: config.batchEvents, parser: config.parser, logCopy: process.stderr });
if (config.stallAfterIngest !== undefined) {
  // Between "stored" and whatever the collector does next (mark a mail, move a file): the parent kills us here.
  const ingest = h.ctx.ingest;
  let ingests = 0;
  h.ctx.ingest = async (...args) => {
    const stats = await ingest(...args);
    if (++ingests === config.stallAfterIngest) {
      process.stdout.write(`STORED ${h.outbox.depth.events}\n`);
      await new Promise(() => {});
    }
    return stats;
  };
}
const collector = h.create(def, params);
await collector.start();
process.stdout.write('READY\n');
const report = setInterval(() => process.stdout.write(`EVENTS ${h.outbox.depth.events}\n`), 10);
process.on('SIGTERM', () => {
  clearInterval(report);
  void collector
    .stop()
    .then(() => h.close())
    .then(() => process.exit(0));
});
