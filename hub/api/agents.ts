import type { FastifyPluginAsync } from 'fastify';
import type { Hub } from '../index.js';

const agentSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    connected: { type: 'boolean' },
    disabled: { type: 'boolean' },
    lastSeen: { type: ['string', 'null'], description: 'ISO time the hub last heard from the agent' },
    version: { type: ['string', 'null'] },
    uptimeSeconds: { type: ['number', 'null'] },
    outboxDepth: { type: ['object', 'null'], additionalProperties: true },
    feeds: { type: ['object', 'array', 'null'], additionalProperties: true },
    eventsReceived: { type: 'integer' },
    batchesReceived: { type: 'integer' },
    duplicateBatches: { type: 'integer' },
    refused: { type: 'integer' },
  },
} as const;

/** The agents the hub knows: credentials and the status their heartbeats report. */
export const agentRoutes: FastifyPluginAsync<{ hub: Hub }> = async (app, { hub }) => {
  app.get('/agents', { schema: { response: { 200: { type: 'object', properties: { agents: { type: 'array', items: agentSchema } } } } } }, async () => ({
    agents: hub.agents.list().map((a) => ({ ...a, lastSeen: a.lastSeen ? new Date(a.lastSeen).toISOString() : null })),
  }));
};
