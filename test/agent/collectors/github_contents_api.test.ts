/**
 * The github_contents_api collector against a FAKE GitHub REST API and a FAKE raw-content host (HTTP servers on
 * real sockets, on two origins as api.github.com and raw.githubusercontent.com are), answering with the shapes of
 * GitHub's REST docs ("Get repository content": a directory is a list of entries with type, name, path, sha, size,
 * url, html_url, git_url, download_url, _links; errors are {"message", "documentation_url"}). The files are the
 * github_feed parser's recorded DailyIOC sample.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import github, { tokenHeader } from '../../../agent/collectors/github_contents_api.js';
import { closeAll, openHarness, scratch } from '../../helpers/collectors.js';
import { startFakeGithub, type FakeGithub, type Served } from '../../helpers/fake-github.js';
import { ROOT, waitUntil } from '../../helpers/processes.js';

const REPO = 'StrangerealIntel/DailyIOC';
const TOKEN = 'ghp_testtoken';
const IOC = readFileSync(join(ROOT, 'test/parsers/fixtures/github_feed/input'), 'utf8');

let fake: FakeGithub;
let api: Served;
let raw: Served;
before(async () => {
  fake = await startFakeGithub(REPO, TOKEN);
  ({ api, raw } = fake);
});
after(async () => {
  await closeAll();
  await fake.close();
});

const params = (extra: Record<string, unknown> = {}) => ({ repository: REPO, regex: '.*.json', personal_access_token: TOKEN, api_url: api.url, run_at_start: false, max_attempts: 1, ...extra });

describe('github_contents_api collector (against a FAKE GitHub REST API)', () => {
  it('walks the directories, takes each file whose name matches as one report for the parser, with extra.file_metadata; the token goes to the API host only', async () => {
    fake.files = new Map([
      ['README.md', '# DailyIOC'],
      ['2020-01-01/JSON/IOC.json', IOC],
      ['2020-01-01/CSV/IOC.csv', 'Indicator,Description\n'],
    ]);
    const h = await openHarness({ parser: { name: 'github_feed' } });
    const collector = h.create(github, params({ extra_fields: ['sha', 'html_url', 'no_such_field'] }));
    api.requests.length = 0;
    raw.requests.length = 0;
    await collector.runOnce!();
    await collector.stop();
    assert.equal(h.feed.status.lastOutcome, 'ok', h.feed.status.lastError);
    assert.deepEqual(api.requests.map((r) => r.path), [`/repos/${REPO}/contents`, `/repos/${REPO}/contents/2020-01-01?ref=master`, `/repos/${REPO}/contents/2020-01-01/JSON?ref=master`, `/repos/${REPO}/contents/2020-01-01/CSV?ref=master`]);
    assert.ok(api.requests.every((r) => r.authorization === `token ${TOKEN}`));
    assert.deepEqual(raw.requests, [{ path: `/raw/${REPO}/master/2020-01-01/JSON/IOC.json`, authorization: undefined }]);
    const events = await h.events();
    assert.ok(events.length >= 4, `${events.length} events`);
    assert.equal(events[0]!['feed.url'], `${raw.url}/raw/${REPO}/master/2020-01-01/JSON/IOC.json`);
    assert.equal(events[0]!['extra.file_metadata.html_url'], `https://github.com/${REPO}/blob/master/2020-01-01/JSON/IOC.json`);
    assert.match(String(events[0]!['extra.file_metadata.sha']), /^[0-9a-f]{40}$/);
    assert.ok(h.logs.some((l) => l.field === 'no_such_field'), 'a missing extra field is warned about');
  });

  it('takes a file again only when its sha changed, also after a restart; only_changed: false takes every file', async () => {
    fake.files = new Map([['a/IOC.json', IOC]]);
    const dir = scratch();
    let h = await openHarness({ dir, parser: { name: 'github_feed' } });
    let collector = h.create(github, params());
    await collector.runOnce!();
    const first = h.outbox.depth.events;
    assert.ok(first > 0);
    await collector.runOnce!();
    assert.equal(h.outbox.depth.events, first, 'unchanged: not taken again');
    await collector.stop();
    await h.close();

    h = await openHarness({ dir, parser: { name: 'github_feed' } });
    collector = h.create(github, params());
    raw.requests.length = 0;
    await collector.runOnce!();
    assert.equal(raw.requests.length, 0, 'unchanged after a restart: not even downloaded');
    fake.files.set('a/IOC.json', IOC.replace('Loader DLL', 'Loader DLL v2'));
    await collector.runOnce!();
    assert.equal(h.outbox.depth.events, 2 * first, 'changed: taken');
    await collector.stop();

    const all = h.create(github, params({ only_changed: false }));
    await all.runOnce!();
    await all.stop();
    assert.equal(h.outbox.depth.events, 3 * first);
  });

  it('rejects a file over max_bytes with the reason, counted, and takes the others', async () => {
    fake.files = new Map([
      ['big.json', `[${' '.repeat(5000)}]`],
      ['IOC.json', IOC],
    ]);
    const h = await openHarness({ parser: { name: 'github_feed' } });
    const collector = h.create(github, params({ max_bytes: 4096 }));
    await collector.runOnce!();
    await collector.stop();
    assert.equal(h.feed.status.lastOutcome, 'ok');
    assert.ok(h.outbox.depth.events > 0);
    assert.equal(h.feed.status.rejected, 1);
    assert.equal(h.feed.status.recentRejects[0]!.reason, 'the file big.json is 5002 bytes, over max_bytes (4096)');
  });

  it('stop lets the file being taken finish and takes no further one', async () => {
    fake.files = new Map([
      ['a.json', IOC],
      ['b.json', IOC.replace('Loader DLL', 'b')],
      ['c.json', IOC.replace('Loader DLL', 'c')],
    ]);
    fake.rawDelayMs = 300;
    try {
      const h = await openHarness({ parser: { name: 'github_feed' } });
      const collector = h.create(github, params({ run_at_start: true }));
      raw.requests.length = 0;
      await collector.start();
      await waitUntil(() => raw.requests.length === 1, 5000, () => 'the first download asked for');
      await collector.stop();
      assert.equal(raw.requests.length, 1);
      const urls = new Set((await h.events()).map((e) => e['feed.url']));
      assert.deepEqual([...urls], [`${raw.url}/raw/${REPO}/master/a.json`]);
    } finally {
      fake.rawDelayMs = 0;
    }
  });

  it("fails the run with GitHub's message for a refused token or an unknown repository", async () => {
    fake.files = new Map([['IOC.json', IOC]]);
    const h = await openHarness({ parser: { name: 'github_feed' } });
    const refused = h.create(github, params({ personal_access_token: 'wrong' }));
    await refused.runOnce!();
    await refused.stop();
    assert.equal(h.feed.status.lastOutcome, 'error');
    assert.match(h.feed.status.lastError!, /HTTP 401 Unauthorized .*: Bad credentials \(check the token\)$/);
    const unknown = h.create(github, params({ repository: 'someone/else' }));
    await unknown.runOnce!();
    await unknown.stop();
    assert.match(h.feed.status.lastError!, /HTTP 404 Not Found .*: Not Found \(is someone\/else the repository, and may the token read it\?\)$/);
    assert.equal(h.outbox.depth.events, 0);
  });

  it('refuses a regex Python would take but JavaScript cannot, and a repository not owner/name, naming the key', async () => {
    const h = await openHarness();
    assert.throws(() => h.create(github, params({ regex: '(?x) a b' })), /collector\.regex: not a regular expression/);
    assert.throws(() => h.create(github, params({ repository: 'just-a-name' })), /repository/);
    assert.equal(tokenHeader('Bearer x'), 'Bearer x');
    assert.equal(tokenHeader('x'), 'token x');
  });
});
