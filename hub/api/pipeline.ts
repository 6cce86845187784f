import type { FastifyPluginAsync } from 'fastify';
import Type from 'typebox';
import type { ComponentTelemetry, HubServices, OutputTelemetry, PipelineTelemetry } from '../services.js';
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

type Counts = { received: number; sent: number };

interface Sample {
  at: number;
  counts: Map<string, Counts>;
}

/** Events per second per component, from counters sampled in the background (a rate needs two points in time). */
class Rates {
  #samples: Sample[] = [];

  sample(now: number, components: Iterable<[string, Counts]>): void {
    const counts = new Map<string, Counts>();
    for (const [key, m] of components) counts.set(key, { received: m.received, sent: m.sent });
    this.#samples.push({ at: now, counts });
    while (this.#samples.length > 0 && this.#samples[0]!.at < now - WINDOW_MS - SAMPLE_MS) this.#samples.shift();
  }

  of(key: string, m: Counts, now: number): { receivedPerSecond: number | null; sentPerSecond: number | null } {
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

/** Each component of a pipeline status by its rate key: the stage, `expert:<name>`, `output:<name>`. */
function* components(p: PipelineTelemetry): Generator<[string, ComponentTelemetry]> {
  yield ['experts', p.experts];
  for (const [name, e] of Object.entries(p.experts.byExpert)) yield [`expert:${name}`, e];
  for (const [name, o] of Object.entries(p.outputs)) yield [`output:${name}`, o];
}

/** The pipeline: the experts stage, each expert and every output; pause/resume an output; reload the configuration. */
export const pipelineRoutes: FastifyPluginAsync<{ services: HubServices }> = async (app, { services }) => {
  const { pipeline } = services;
  const rates = new Rates();
  rates.sample(Date.now(), components(pipeline.status()));
  const timer = setInterval(() => rates.sample(Date.now(), components(pipeline.status())), SAMPLE_MS);
  timer.unref();
  app.addHook('onClose', async () => clearInterval(timer));

  app.get(
    '/pipeline',
    { config: { role: 'reader' }, schema: { tags: ['pipeline'], response: { 200: Type.Object({ inbox: Type.Record(Type.String(), Type.Unknown()), experts: Stage, outputs: Type.Array(Component) }), ...errors } } },
    async () => {
      const p = pipeline.status();
      const now = Date.now();
      const row = (key: string, name: string, kind: string, cursor: number | null, m: ComponentTelemetry & Partial<OutputTelemetry>) => ({
        name,
        kind,
        cursor,
        paused: m.paused ?? false,
        received: m.received,
        sent: m.sent,
        dropped: m.dropped,
        rejected: m.rejected,
        errors: m.errors,
        counters: m.counters,
        lastError: m.lastError ?? null,
        lastErrorAt: m.lastErrorAt ? new Date(m.lastErrorAt).toISOString() : null,
        // Lag and latency are the outputs' (the experts stage reads its inbox as batches commit).
        lagEvents: m.lagEvents ?? 0,
        lagSeconds: m.lagSeconds ?? 0,
        batchLatencyMs: m.batchLatencyMs ?? 0,
        ...rates.of(key, m, now),
      });
      return {
        inbox: p.inbox,
        experts: { ...row('experts', 'experts', 'experts', p.experts.cursor, p.experts), members: Object.entries(p.experts.byExpert).map(([name, e]) => row(`expert:${name}`, name, 'expert', null, e)) },
        outputs: Object.entries(p.outputs).map(([name, o]) => row(`output:${name}`, name, 'output', o.cursor, o)),
      };
    },
  );

  for (const action of ['pause', 'resume'] as const) {
    app.post<{ Params: { name: string } }>(`/pipeline/outputs/:name/${action}`, { config: { role: 'operator' }, schema: { tags: ['pipeline'], params: NameParams, response: { 200: Ok, ...errors } } }, async (req, reply) => {
      if (pipeline[action](req.params.name) === 'not-found') {
        return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: `no output '${req.params.name}' (outputs: ${pipeline.outputNames().join(', ')})` });
      }
      return { ok: true };
    });
  }

  // Pausing is runtime state of the runners a reload replaces: the hub carries an operator's pause over a reload.
  app.post('/pipeline/reload', { config: { role: 'admin' }, schema: { tags: ['pipeline'], response: { 200: Ok, 422: errors[400], ...errors } } }, async (_req, reply) => {
    try {
      await pipeline.reload();
      return { ok: true };
    } catch (err) {
      return reply.code(422).send({ statusCode: 422, error: 'Unprocessable Entity', message: `reload refused, the running configuration stays: ${(err as Error).message}` });
    }
  });
};
