import type { FastifyPluginAsync } from 'fastify';
import Type from 'typebox';
import type { Hub } from '../index.js';
import { errors, Ok } from './schemas.js';

const Component = Type.Object({
  name: Type.String(),
  kind: Type.String(),
  paused: Type.Boolean(),
  cursor: Type.Integer(),
  received: Type.Integer(),
  sent: Type.Integer(),
  dropped: Type.Integer(),
  rejected: Type.Integer(),
  errors: Type.Record(Type.String(), Type.Integer()),
  lastError: Type.Union([Type.String(), Type.Null()]),
  lastErrorAt: Type.Union([Type.String(), Type.Null()]),
  lagEvents: Type.Number({ description: 'Processed batches not delivered yet' }),
  lagSeconds: Type.Number(),
  batchLatencyMs: Type.Number(),
});
const NameParams = Type.Object({ name: Type.String() });

/** The pipeline: the experts stage and every output, pause/resume an output, reload the configuration. */
export const pipelineRoutes: FastifyPluginAsync<{ hub: Hub }> = async (app, { hub }) => {
  app.get('/pipeline', { config: { role: 'reader' }, schema: { tags: ['pipeline'], response: { 200: Type.Object({ experts: Component, outputs: Type.Array(Component), inbox: Type.Record(Type.String(), Type.Unknown()) }), ...errors } } }, async () => {
    const p = hub.pipeline;
    const row = (name: string, kind: string, cursor: number, paused: boolean, m: ReturnType<typeof p.experts.metrics.toJSON>) => ({
      name,
      kind,
      cursor,
      paused,
      ...m,
      lastError: (m.lastError as string | undefined) ?? null,
      lastErrorAt: m.lastErrorAt ? new Date(m.lastErrorAt as number).toISOString() : null,
    });
    return {
      experts: row('experts', 'experts', p.experts.cursor, false, p.experts.metrics.toJSON()),
      outputs: p.outputs.map((o) => row(o.name, 'output', o.cursor, o.paused, o.metrics.toJSON())),
      inbox: { ...hub.inbox.stats, head: hub.inbox.head },
    };
  });

  for (const action of ['pause', 'resume'] as const) {
    app.post<{ Params: { name: string } }>(`/pipeline/outputs/:name/${action}`, { config: { role: 'operator' }, schema: { tags: ['pipeline'], params: NameParams, response: { 200: Ok, ...errors } } }, async (req, reply) => {
      const output = hub.pipeline.output(req.params.name);
      if (!output) return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: `no output '${req.params.name}'` });
      if (action === 'pause') output.pause();
      else output.resume();
      return { ok: true };
    });
  }

  app.post('/pipeline/reload', { config: { role: 'admin' }, schema: { tags: ['pipeline'], response: { 200: Ok, 422: errors[400], ...errors } } }, async (_req, reply) => {
    try {
      await hub.reload();
      return { ok: true };
    } catch (err) {
      return reply.code(422).send({ statusCode: 422, error: 'Unprocessable Entity', message: `reload refused, the running configuration stays: ${(err as Error).message}` });
    }
  });
};
