/**
 * The worker thread a Composer (composer.ts) hands messages to: each request's parts composed as send.ts's
 * `compose` does on the main thread, the bytes sent back, or the error's message.
 */
import { parentPort } from 'node:worker_threads';
import { compose, type MessageParts } from './send.js';

export interface ComposeRequest {
  id: number;
  parts: MessageParts;
}

export type ComposeAnswer = { id: number; raw: Uint8Array } | { id: number; error: string };

parentPort!.on('message', ({ id, parts }: ComposeRequest) => {
  let answer: ComposeAnswer;
  try {
    answer = { id, raw: compose(parts) };
  } catch (err) {
    answer = { id, error: (err as Error).message };
  }
  parentPort!.postMessage(answer);
});
