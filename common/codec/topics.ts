/**
 * MQTT topics. Everything an agent publishes lives under its own prefix, so the broker's ACL is one prefix test:
 *   vigil/v1/agents/<agentId>/events        msgpack batch (see batch.ts)
 *   vigil/v1/agents/<agentId>/events/json   the same batch as JSON, for third-party publishers
 *   vigil/v1/agents/<agentId>/heartbeat     JSON status document
 */
export const TOPIC_ROOT = 'vigil/v1/agents';

/** Agent ids: what fits safely in a topic level, a file name and a URL path. */
export const AGENT_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export const agentPrefix = (agentId: string): string => `${TOPIC_ROOT}/${agentId}/`;
export const eventsTopic = (agentId: string): string => `${TOPIC_ROOT}/${agentId}/events`;
export const jsonEventsTopic = (agentId: string): string => `${TOPIC_ROOT}/${agentId}/events/json`;
export const heartbeatTopic = (agentId: string): string => `${TOPIC_ROOT}/${agentId}/heartbeat`;

export type TopicKind = 'events' | 'events-json' | 'heartbeat';

export interface ParsedTopic {
  agentId: string;
  kind: TopicKind;
}

/** Parses an agent topic; undefined for anything else (which the broker refuses). */
export function parseTopic(topic: string): ParsedTopic | undefined {
  if (!topic.startsWith(`${TOPIC_ROOT}/`)) return undefined;
  const rest = topic.slice(TOPIC_ROOT.length + 1).split('/');
  const [agentId, ...tail] = rest;
  if (!agentId || !AGENT_ID.test(agentId)) return undefined;
  const suffix = tail.join('/');
  if (suffix === 'events') return { agentId, kind: 'events' };
  if (suffix === 'events/json') return { agentId, kind: 'events-json' };
  if (suffix === 'heartbeat') return { agentId, kind: 'heartbeat' };
  return undefined;
}
