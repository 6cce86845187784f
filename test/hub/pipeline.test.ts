/** The pipeline in-process: experts in order, an output's `when` filter, per-event expert errors dead-lettered. */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { silentLogger } from '../../common/log.js';
import { Inbox } from '../../hub/inbox/index.js';
import { Pipeline } from '../../hub/pipeline/index.js';
import { openHubDb } from '../../hub/store/index.js';
import { countLines, readJsonLines, tempDir, waitUntil } from '../helpers/processes.js';

const ev = (ip: string, type: string) => ({ 'source.ip': ip, 'classification.type': type, 'feed.name': 'F', raw: 'eA==' });

describe('pipeline', () => {
  it("runs the experts, gives each output what its 'when' selects, and dead-letters an event an expert spoils", async () => {
    const dir = tempDir();
    const db = await openHubDb(join(dir, 'db'));
    const inbox = await Inbox.open(db);
    const pipeline = await Pipeline.create(db, inbox, {
      config: {
        experts: [{ type: 'taxonomy', params: {} }, { type: 'format_field', params: { replace_column: 'source.ip', old_value: '.66', new_value: '.666' } }],
        outputs: [
          { type: 'file', name: 'all', params: { path: join(dir, 'all.jsonl') }, retry: { max_attempts: 3, initial_backoff_ms: 10, max_backoff_ms: 10 } },
          { type: 'file', name: 'phishing', when: "classification.taxonomy == 'fraud'", params: { path: join(dir, 'phish.jsonl') }, retry: { max_attempts: 3, initial_backoff_ms: 10, max_backoff_ms: 10 } },
        ],
      } as never,
      file: undefined,
      dataDir: dir,
      resolvePath: (p) => p,
      log: silentLogger(),
    });
    await pipeline.start();
    await inbox.accept({}, { v: 1, agent: 'a', epoch: 'e', seq: 1, sent: Date.now(), events: [ev('192.0.2.1', 'phishing'), ev('192.0.2.2', 'scanner'), ev('192.0.2.66', 'scanner')] });
    await waitUntil(() => countLines(join(dir, 'all.jsonl')) >= 2 && countLines(join(dir, 'phish.jsonl')) >= 1, 10_000, () => 'outputs');
    assert.deepEqual(readJsonLines(join(dir, 'all.jsonl')).map((e) => e['source.ip']), ['192.0.2.1', '192.0.2.2']);
    assert.deepEqual(readJsonLines(join(dir, 'phish.jsonl')).map((e) => [e['source.ip'], e['classification.taxonomy']]), [['192.0.2.1', 'fraud']]);
    const letters = await pipeline.dead.list();
    assert.equal(letters.length, 1);
    assert.equal(letters[0]!.stage, 'expert:format_field');
    assert.equal(letters[0]!.events[0]!['source.ip'], '192.0.2.66');
    assert.equal(pipeline.output('phishing')!.metrics.dropped, 1, 'the filtered-out event is counted as dropped');
    await pipeline.stop();
    await db.close();
  });
});
