/**
 * What the embedded broker checks on a raw connection before aedes sees its bytes:
 *
 * - Packet size. aedes (through mqtt-packet) buffers a whole packet before it looks at it, so a peer announcing a
 *   200 MB packet would have the hub hold whatever it sends. The guard follows the MQTT framing (a type byte,
 *   then the remaining length as a variable-length integer) in what aedes reads and closes the connection as soon
 *   as a header announces more than the limit — before the payload arrives.
 * - Connections per address that have not authenticated yet. A flood of CONNECT-less sockets from one address
 *   is cut at `maxPendingPerAddress`; aedes' connect timeout closes the rest after 5 s.
 *
 * The framing scan only counts bytes: no copy, no allocation per chunk.
 */
import type { Socket } from 'node:net';

export type GuardRefusal = 'oversized' | 'connectFlood';

export interface GuardOptions {
  /** Largest MQTT packet (remaining length) let through, in bytes. */
  maxPacketBytes: number;
  /** Unauthenticated connections allowed at once from one remote address. */
  maxPendingPerAddress: number;
  refused(reason: GuardRefusal, socket: Socket, detail: string): void;
}

const enum State {
  Type,
  Length,
  Body,
}

/** Follows MQTT packet boundaries across chunks; reports a declared length over the limit. */
export class FrameScanner {
  #state = State.Type;
  #length = 0;
  #multiplier = 1;
  #remaining = 0;
  readonly #max: number;

  constructor(maxPacketBytes: number) {
    this.#max = maxPacketBytes;
  }

  /** Returns the declared length of the first packet over the limit, or -1 when every header is within it. */
  scan(chunk: Uint8Array): number {
    let i = 0;
    while (i < chunk.length) {
      if (this.#state === State.Body) {
        const skip = Math.min(this.#remaining, chunk.length - i);
        i += skip;
        this.#remaining -= skip;
        if (this.#remaining === 0) this.#state = State.Type;
      } else if (this.#state === State.Type) {
        i++;
        this.#state = State.Length;
        this.#length = 0;
        this.#multiplier = 1;
      } else {
        const byte = chunk[i++]!;
        this.#length += (byte & 0x7f) * this.#multiplier;
        this.#multiplier *= 128;
        if (byte & 0x80 && this.#multiplier <= 128 ** 3) continue;
        // A fifth length byte is malformed: treat it as over any limit.
        if (byte & 0x80 || this.#length > this.#max) return byte & 0x80 ? Infinity : this.#length;
        this.#remaining = this.#length;
        this.#state = this.#remaining === 0 ? State.Type : State.Body;
      }
    }
    return -1;
  }
}

export class ConnectionGuard {
  readonly #options: GuardOptions;
  readonly #pending = new Map<string, number>();
  readonly #counted = new WeakSet<Socket>();

  constructor(options: GuardOptions) {
    this.#options = options;
  }

  /** Called for every new socket before aedes takes it; false when the socket was refused (and destroyed). */
  admit(socket: Socket): boolean {
    const address = socket.remoteAddress ?? 'unknown';
    const pending = this.#pending.get(address) ?? 0;
    if (pending >= this.#options.maxPendingPerAddress) {
      this.#options.refused('connectFlood', socket, `${pending} connections from ${address} have not authenticated yet (limit ${this.#options.maxPendingPerAddress})`);
      socket.destroy();
      return false;
    }
    this.#pending.set(address, pending + 1);
    this.#counted.add(socket);
    socket.once('close', () => this.authenticated(socket));
    this.#watchFrames(socket);
    return true;
  }

  /** The socket's client authenticated (or it closed): it no longer counts against its address. */
  authenticated(socket: Socket): void {
    if (!this.#counted.delete(socket)) return;
    const address = socket.remoteAddress ?? 'unknown';
    const left = (this.#pending.get(address) ?? 1) - 1;
    if (left <= 0) this.#pending.delete(address);
    else this.#pending.set(address, left);
  }

  /** Wraps the socket's read(), which aedes calls, so every chunk it takes passes the scanner first. */
  #watchFrames(socket: Socket): void {
    const scanner = new FrameScanner(this.#options.maxPacketBytes);
    const read = socket.read.bind(socket);
    socket.read = (size?: number) => {
      const chunk = read(size) as Buffer | string | null;
      if (chunk === null || typeof chunk === 'string') return chunk;
      const over = scanner.scan(chunk);
      if (over < 0) return chunk;
      this.#options.refused('oversized', socket, Number.isFinite(over) ? `a packet header announces ${over} bytes, over the limit of ${this.#options.maxPacketBytes}` : 'malformed packet length');
      socket.destroy();
      return null;
    };
  }
}
