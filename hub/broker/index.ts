/**
 * How agents' batches reach the hub: one of three front doors, each handing every publish to the same intake
 * (hub/broker/intake.ts: topic check, decoding, limits, the durable write to the inbox, the counters).
 *
 * - embedded (default, hub/broker/embedded.ts): the hub runs its own MQTT broker (aedes) and authenticates agents.
 * - external (hub/broker/external.ts): agents publish to an MQTT 5 broker and several hub workers consume through
 *   a shared subscription, each acknowledging a batch only once it is in its own inbox.
 * - nats (hub/broker/nats.ts): agents publish to a NATS JetStream cluster's MQTT listener; workers share one durable
 *   JetStream consumer, each acknowledging a batch only once it is in its own inbox.
 */
import { ConfigError } from '../../common/errors.js';
import type { HubConfig } from '../config.js';
import { startEmbedded } from './embedded.js';
import { Intake, type BrokerContext, type HubBroker } from './intake.js';

export type { BrokerContext, BrokerStats, HubBroker } from './intake.js';

/** Starts the front door the configuration names. */
export async function startBroker(config: HubConfig['broker'], ctx: BrokerContext): Promise<HubBroker> {
  const intake = new Intake(ctx.inbox, ctx.agents, config.max_payload_bytes, ctx.log);
  if (config.mode === 'external') {
    if (!config.external) throw new ConfigError(ctx.file, [{ path: 'broker.external', message: "mode 'external' needs broker.external (url, client_id, …)" }]);
    if (config.tls) throw new ConfigError(ctx.file, [{ path: 'broker.tls', message: "applies to the embedded broker only; with mode 'external' put TLS settings in broker.external" }]);
    // Loaded only here, so an embedded hub does not pay for the MQTT client.
    const { ExternalBroker } = await import('./external.js');
    return ExternalBroker.start(config.external, intake, ctx);
  }
  if (config.mode === 'nats') {
    if (!config.nats) throw new ConfigError(ctx.file, [{ path: 'broker.nats', message: "mode 'nats' needs broker.nats (servers, …)" }]);
    const { NatsBroker } = await import('./nats.js');
    return NatsBroker.start(config.nats, intake, ctx);
  }
  return startEmbedded(config, intake, ctx);
}
