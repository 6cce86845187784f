import type { FastifyPluginAsync } from 'fastify';
import Type from 'typebox';
import type { Hub } from '../index.js';
import type { ComponentMetrics } from '../pipeline/metrics.js';
import { errors, Ok } from './schemas.js';

const Component = Type.Object({
  name: Type.String(),
  kind: Type.String({ description: 'experts (the whole stage), expert or output' }),
  paused: Type.Boolean(),
  cursor: Type.Union([Type.Integer(), Type.Null()], { description: 'Log position reached (the stage and outputs)' }),
  received: Type.Integer(),
  sent: Type.Integer(),
  dropped: Type.Integer(),
  rejected: Type.Integer(),
  errors: Type.Record(Type.String(), Type.Integer()),
  lastError: Type.Union([Type.String(), Type.Null()]),
  lastErrorAt: Type.Union([Type.String(), Type.Null()]),
  lagEvents: Type.Number({ description: 'Processed batches not delivered yet (outputs)' }),
  lagSeconds: Type.Number({ description: 'Age of the oldest batch being worked on, in s' }),
  batchLatencyMs: Type.Number({ description: 'Time the last batch took, in ms' }),
  counters: Type.Optional(Type.Record(Type.String(), Type.Number(), { description: "The component's own counters, as its docs declare them (e.g. a lookup expert's hits and misses)" })),
  receivedPerSecond: Type.Union([Type.Number(), Type.Null()], { description: 'Over the last minute; null until measured' }),
  sentPerSecond: Type.Union([Type.Number(), Type.Null()], { description: 'Over the last minute; null until measured' }),
});
const Stage = Type.Object({ ...Component.properties, members: Type.Array(Component, { description: 'Each expert, in pipeline order' }) });
const NameParams = Type.Object({ name: Type.String() });

const SAMPLE_MS = 5000; // rate resolution
const WINDOW_MS = 60_000; // rates are averaged over the last minute

interface Sample {
  at: number;
  counts: Map<string, { received: number; sent: number }>;
}

/** Events per second per component, from counters sampled in the background (a rate needs two points in time). */
class Rates {
  #samples: Sample[] = [];

  sample(now: number, components: Iterable<[string, ComponentMetrics]>): void {
    const counts = new Map<string, { received: number; sent: number }>();
    for (const [key, m] of components) counts.set(key, { received: m.received, sent: m.sent });
    this.#samples.push({ at: now, counts });
    while (this.#samples.length > 0 && this.#samples[0]!.at < now - WINDOW_MS - SAMPLE_MS) this.#samples.shift();
  }

  of(key: string, m: ComponentMetrics, now: number): { receivedPerSecond: number | null; sentPerSecond: number | null } {
    // The oldest sample within the window whose counters are not above now (a reload restarts counters at 0).
    const base = this.#samples.find((s) => {
      const c = s.counts.get(key);
      return c !== undefined && s.at >= now - WINDOW_MS - SAMPLE_MS && c.received <= m.received && c.sent <= m.sent;
    });
    const c = base?.counts.get(key);
    if (!base || !c || now - base.at < 1000) return { receivedPerSecond: null, sentPerSecond: null };
    const seconds = (now - base.at) / 1000;
    const round = (n: number) => Math.round(n * 100) / 100;
    return { receivedPerSecond: round((m.received - c.received) / seconds), sentPerSecond: round((m.sent - c.sent) / seconds) };
  }
}

/** The pipeline: the experts stage, each expert and every output; pause/resume an output; reload the configuration. */
export const pipelineRoutes: FastifyPluginAsync<{ hub: Hub }> = async (app, { hub }) => {
  const components = function* (): Generator<[string, ComponentMetrics]> {
    const p = hub.pipeline;
    yield ['experts', p.experts.metrics];
    for (const e of p.experts.expertMetrics) yield [`expert:${e.name}`, e.metrics];
    for (const o of p.outputs) yield [`output:${o.name}`, o.metrics];
  };
  const rates = new Rates();
  rates.sample(Date.now(), components());
  const timer = setInterval(() => rates.sample(Date.now(), components()), SAMPLE_MS);
  timer.unref();
  app.addHook('onClose', async () => clearInterval(timer));

  app.get(
    '/pipeline',
    { config: { role: 'reader' }, schema: { tags: ['pipeline'], response: { 200: Type.Object({ inbox: Type.Record(Type.String(), Type.Unknown()), experts: Stage, outputs: Type.Array(Component) }), ...errors } } },
    async () => {
      const p = hub.pipeline;
      const now = Date.now();
      const row = (key: string, name: string, kind: string, cursor: number | null, paused: boolean, metrics: ComponentMetrics) => {
        const m = metrics.toJSON() as ReturnType<ComponentMetrics['toJSON']> & { received: number; sent: number; dropped: number; rejected: number; errors: Record<string, number>; lagEvents: number; lagSeconds: number; batchLatencyMs: number };
        return {
          ...m,
          name,
          kind,
          cursor,
          paused,
          lastError: metrics.lastError ?? null,
          lastErrorAt: metrics.lastErrorAt ? new Date(metrics.lastErrorAt).toISOString() : null,
          ...rates.of(key, metrics, now),
        };
      };
      return {
        inbox: { ...hub.inbox.stats, head: hub.inbox.head },
        experts: { ...row('experts', 'experts', 'experts', p.experts.cursor, false, p.experts.metrics), members: p.experts.expertMetrics.map((e) => row(`expert:${e.name}`, e.name, 'expert', null, false, e.metrics)) },
        outputs: p.outputs.map((o) => row(`output:${o.name}`, o.name, 'output', o.cursor, o.paused, o.metrics)),
      };
    },
  );

  for (const action of ['pause', 'resume'] as const) {
    app.post<{ Params: { name: string } }>(`/pipeline/outputs/:name/${action}`, { config: { role: 'operator' }, schema: { tags: ['pipeline'], params: NameParams, response: { 200: Ok, ...errors } } }, async (req, reply) => {
      const output = hub.pipeline.output(req.params.name);
      if (!output) return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: `no output '${req.params.name}' (outputs: ${hub.pipeline.outputs.map((o) => o.name).join(', ')})` });
      if (action === 'pause') output.pause();
      else output.resume();
      return { ok: true };
    });
  }

  app.post('/pipeline/reload', { config: { role: 'admin' }, schema: { tags: ['pipeline'], response: { 200: Ok, 422: errors[400], ...errors } } }, async (_req, reply) => {
    // Pausing is runtime state of the runners a reload replaces; an operator's pause must survive a reload.
    const paused = hub.pipeline.outputs.filter((o) => o.paused).map((o) => o.name);
    try {
      await hub.reload();
      for (const name of paused) hub.pipeline.output(name)?.pause();
      return { ok: true };
    } catch (err) {
      return reply.code(422).send({ statusCode: 422, error: 'Unprocessable Entity', message: `reload refused, the running configuration stays: ${(err as Error).message}` });
    }
  });
};
