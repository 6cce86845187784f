/**
 * A small TCP proxy that puts faults on one link (toxiproxy's shape, only what the chaos run needs):
 *   forward    — every connection is piped to the target (the normal state)
 *   cut()      — destroys every open connection on both sides at once (a cable pulled, a NAT table flushed)
 *   refuse()   — new connections are reset as soon as they arrive (the peer is unreachable); open ones stay
 *   stall()    — stops moving bytes in both directions without closing anything (a half-open, black-holed link)
 *   restore()  — back to forwarding; stalled bytes flow again
 * A connection whose target cannot be reached (the hub is down) is closed, as a router would reset it.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { once } from 'node:events';

export type ProxyMode = 'forward' | 'refuse' | 'stall';

export interface ProxyStats {
  accepted: number;
  refused: number;
  cuts: number;
  /** Connections destroyed by cut(). */
  cutConnections: number;
  upstreamErrors: number;
}

interface Pair {
  client: Socket;
  upstream: Socket;
  /** Bytes held while the link is stalled, per direction. */
  toUpstream?: Buffer[];
  toClient?: Buffer[];
  held?: boolean;
}

export class ChaosProxy {
  readonly stats: ProxyStats = { accepted: 0, refused: 0, cuts: 0, cutConnections: 0, upstreamErrors: 0 };
  readonly #server: Server;
  readonly #targetPort: number;
  readonly #targetHost: string;
  readonly #pairs = new Set<Pair>();
  #mode: ProxyMode = 'forward';

  private constructor(server: Server, targetPort: number, targetHost: string) {
    this.#server = server;
    this.#targetPort = targetPort;
    this.#targetHost = targetHost;
  }

  static async start(targetPort: number, options: { port?: number; host?: string; targetHost?: string } = {}): Promise<ChaosProxy> {
    let proxy!: ChaosProxy;
    const server = createServer({ pauseOnConnect: true }, (client) => proxy.#accept(client));
    proxy = new ChaosProxy(server, targetPort, options.targetHost ?? '127.0.0.1');
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1');
    await once(server, 'listening');
    return proxy;
  }

  get port(): number {
    return (this.#server.address() as { port: number }).port;
  }

  get mode(): ProxyMode {
    return this.#mode;
  }

  get connections(): number {
    return this.#pairs.size;
  }

  #accept(client: Socket): void {
    if (this.#mode === 'refuse') {
      this.stats.refused++;
      client.resetAndDestroy();
      return;
    }
    this.stats.accepted++;
    const upstream = connect({ port: this.#targetPort, host: this.#targetHost });
    const pair: Pair = { client, upstream };
    this.#pairs.add(pair);
    const close = (): void => {
      if (!this.#pairs.delete(pair)) return;
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close).on('close', close);
    upstream.on('error', () => {
      this.stats.upstreamErrors++;
      close();
    });
    upstream.on('close', close);
    // Bytes are moved by hand (not pipe()), so a stalled link holds them however the streams' flow control acts.
    const forward = (from: Socket, to: Socket, held: Buffer[]): void => {
      from.on('data', (chunk: Buffer) => {
        if (this.#mode === 'stall' || pair.held) held.push(chunk);
        else to.write(chunk);
      });
    };
    pair.toUpstream = [];
    pair.toClient = [];
    upstream.once('connect', () => {
      forward(client, upstream, pair.toUpstream!);
      forward(upstream, client, pair.toClient!);
      pair.held = this.#mode === 'stall';
      client.resume();
    });
  }

  /** Destroys every open connection (both sides, no FIN: an RST where the kernel can). */
  cut(): number {
    this.stats.cuts++;
    const n = this.#pairs.size;
    for (const pair of [...this.#pairs]) {
      this.#pairs.delete(pair);
      pair.client.resetAndDestroy();
      pair.upstream.resetAndDestroy();
    }
    this.stats.cutConnections += n;
    return n;
  }

  /** Resets new connections until restore(). */
  refuse(): void {
    this.#mode = 'refuse';
  }

  /** Moves no more bytes on any connection, old or new, until restore(). */
  stall(): void {
    this.#mode = 'stall';
    for (const pair of this.#pairs) pair.held = true;
  }

  restore(): void {
    this.#mode = 'forward';
    for (const pair of this.#pairs) {
      pair.held = false;
      for (const chunk of pair.toUpstream?.splice(0) ?? []) pair.upstream.write(chunk);
      for (const chunk of pair.toClient?.splice(0) ?? []) pair.client.write(chunk);
    }
  }

  async close(): Promise<void> {
    this.cut();
    this.#server.close();
    await once(this.#server, 'close').catch(() => {});
  }
}
