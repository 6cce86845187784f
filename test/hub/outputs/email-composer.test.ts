/**
 * The send loop's messages are composed on a worker thread (composer.ts). What it must keep: the bytes `compose`
 * makes on the main thread, a composing error as a rejection with its message, and nothing lost or failed when the
 * worker cannot start or dies — its messages are then composed on the main thread.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import MimeNode from 'nodemailer/lib/mime-node';
import { silentLogger } from '../../../common/log.js';
import { Composer } from '../../../hub/outputs/_notify/composer.js';
import { compose, normaliseHeaderKey, type MessageParts } from '../../../hub/outputs/_notify/send.js';

function parts(i: number): MessageParts {
  return {
    from: 'CERT Bench <cert@cert.example>',
    to: [`abuse@net${i}.example`],
    subject: `[VIGIL#20261208-${String(i).padStart(5, '0')}] Open Redis servers in your network — ${i} hosts`,
    text: `Dear network owner,\n\n${Array.from({ length: 20 + i }, (_, k) => `10.0.${i}.${k} 6379 open-redis é`).join('\n')}\n`,
    messageId: `<vigil.${i}.abc@cert.example>`,
    date: new Date('2026-12-08T10:00:00Z'),
    headers: { 'X-Vigil-Ticket': `VIGIL#20261208-${i}`, 'Auto-Submitted': 'auto-generated' },
    attachment: { filename: 'events_20261208.csv', content: `source.ip,source.port\n${Array.from({ length: 20 + i }, (_, k) => `10.0.${i}.${k},6379`).join('\n')}\n` },
  };
}

/** The message with nodemailer's random MIME boundaries made equal: two compositions of the same parts compare. */
function comparable(raw: Buffer): string {
  return raw.toString('latin1').replace(/--_NmP-[0-9a-f]+-Part_/g, '--_NmP-x-Part_');
}

describe('the composer of notification mails', () => {
  it('composes on its worker the bytes compose makes on the main thread', async () => {
    const composer = new Composer(silentLogger());
    try {
      const got = await Promise.all(Array.from({ length: 40 }, (_, i) => composer.compose(parts(i))));
      got.forEach((raw, i) => assert.equal(comparable(raw), comparable(compose(parts(i))), `message ${i}`));
      assert.deepEqual(composer.composed, { worker: 40, main: 0 });
    } finally {
      await composer.close();
    }
  });

  it('rejects with the error composing gives, and goes on composing', async () => {
    const composer = new Composer(silentLogger());
    try {
      const bad = { ...parts(1), attachment: { filename: 'x.csv', content: 42 as unknown as string } };
      await assert.rejects(composer.compose(bad), /neither a string nor a Buffer/);
      assert.equal(comparable(await composer.compose(parts(2))), comparable(compose(parts(2))));
    } finally {
      await composer.close();
    }
  });

  it('composes on the main thread when its worker cannot start', async () => {
    const composer = new Composer(silentLogger(), { workerUrl: new URL('./no-such-worker.js', import.meta.url) });
    try {
      const got = await Promise.all(Array.from({ length: 5 }, (_, i) => composer.compose(parts(i))));
      got.forEach((raw, i) => assert.equal(comparable(raw), comparable(compose(parts(i)))));
      assert.deepEqual(composer.composed, { worker: 0, main: 5 });
    } finally {
      await composer.close();
    }
  });

  it('loses nothing when its worker dies: what it had not answered is composed on the main thread', async () => {
    const composer = new Composer(silentLogger());
    try {
      await composer.compose(parts(0)); // the worker runs
      const asked = Array.from({ length: 200 }, (_, i) => composer.compose(parts(i % 50)));
      await composer.worker!.terminate();
      const got = await Promise.all(asked);
      got.forEach((raw, i) => assert.equal(comparable(raw), comparable(compose(parts(i % 50))), `message ${i}`));
      assert.ok(composer.composed.main > 0, 'the worker was stopped before it answered every message');
      assert.equal(composer.composed.worker + composer.composed.main, 201);
      // A new worker is started for the next messages.
      assert.equal(comparable(await composer.compose(parts(3))), comparable(compose(parts(3))));
      assert.ok(composer.worker !== undefined);
    } finally {
      await composer.close();
    }
  });

  it('stops its worker once idle, and starts one again for the next message', async () => {
    const composer = new Composer(silentLogger(), { idleStopMs: 50 });
    try {
      await composer.compose(parts(1));
      const first = composer.worker!;
      // Polled: the idle worker and its timer do not keep the event loop up (as in the hub, by design).
      for (let waited = 0; composer.worker !== undefined && waited < 10_000; waited += 10) await new Promise((resolve) => setTimeout(resolve, 10));
      assert.equal(composer.worker, undefined, 'the idle worker stopped');
      assert.equal(comparable(await composer.compose(parts(2))), comparable(compose(parts(2))));
      assert.notEqual(composer.worker, first);
      assert.deepEqual(composer.composed, { worker: 2, main: 0 });
    } finally {
      await composer.close();
    }
  });
});

describe("nodemailer's header names, normalised once per name", () => {
  it('are what nodemailer makes of them', () => {
    const node = new MimeNode('text/plain');
    const names = ['content-type', 'CONTENT-TRANSFER-ENCODING', 'x-smtpapi', 'mime-version', 'dkim-signature', 'arc-seal', 'x-vigil-ticket', 'auto-submitted', 'content-features', 'otp-token', 'x-spf', 'message-id', 'From: ceo@example.com (', ' sp ace ', 'Ünï'];
    for (let round = 0; round < 2; round++) {
      for (const name of names) {
        node.setHeader(name, 'v');
        assert.equal((node as unknown as { _normalizeHeaderKey(k: string): string })._normalizeHeaderKey(name), normaliseHeaderKey.call(node, name), name);
      }
    }
    assert.equal(node.getHeader('x-vigil-ticket'), 'v');
  });
});
