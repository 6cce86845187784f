/**
 * The hub's side of hub/services.ts: each concern the API may ask about, answered from the hub's parts. The parts
 * are read through getters at every call, so a reload (a new pipeline) or the broker started after this is built
 * are seen at once.
 */
import type { ReportParserFn } from '../common/report-parsing.js';
import type { AgentRegistry, AgentStatus } from './agents/index.js';
import type { AuditLog } from './audit-log.js';
import type { HubBroker } from './broker/index.js';
import { natsAgentIdProblem } from './broker/nats-config.js';
import type { HubConfig } from './config.js';
import type { Inbox } from './inbox/index.js';
import type { Pipeline } from './pipeline/index.js';
import type { StoredDeadLetter } from './pipeline/deadletters.js';
import { contactServices } from './experts/_contact-services.js';
import { notificationServices } from './outputs/_notify/services.js';
import type { AgentCredentials, AgentInfo, DeadLetterSummary, HubServices } from './services.js';
import { pipelineTelemetry, telemetry, type TelemetrySources } from './telemetry.js';

export interface HubParts extends TelemetrySources {
  config: () => HubConfig;
  reload: () => Promise<void>;
  ingest: (events: Record<string, unknown>[]) => Promise<void>;
  parseReport: ReportParserFn | undefined;
  audit: AuditLog;
}

export function hubServices(parts: HubParts): HubServices {
  const { inbox, agents } = parts;
  const pipeline = parts.pipeline;
  const broker = parts.broker;

  const agentInfo = (a: AgentStatus): AgentInfo => ({
    ...a,
    disabled: agents.isDisabled(a.id),
    outboxDepth: isRecord(a.outboxDepth) ? a.outboxDepth : undefined,
    feeds: isRecord(a.feeds) ? a.feeds : undefined,
  });
  const credentials = (id: string, token: string): AgentCredentials => {
    const url = parts.config().api.public_mqtt_url ?? broker().url;
    return { id, token, installCommand: `sudo ./deploy/install-agent.sh --hub ${url} --id ${id} --token ${token}` };
  };
  const summary = (l: StoredDeadLetter): DeadLetterSummary => ({ id: l.id, at: l.at, stage: l.stage, reason: l.reason, agent: l.agent, attempts: l.attempts, count: l.events.length });

  return {
    version: parts.version,
    agents: {
      brokerMode: () => broker().mode,
      idProblem: (id) => (broker().mode === 'nats' ? natsAgentIdProblem(id) : undefined),
      list: () => agents.list().map(agentInfo),
      get: (id) => (agents.known(id) ? agentInfo({ ...agents.status(id) }) : undefined),
      async create(id) {
        if (agents.has(id)) return 'exists';
        return credentials(id, await agents.create(id));
      },
      async rotateToken(id) {
        if (!agents.has(id)) return 'not-found';
        if (agents.isConfigured(id)) return 'configured';
        const token = await agents.create(id);
        broker().disconnect(id); // the old token's session ends now
        return credentials(id, token);
      },
      async setDisabled(id, disabled) {
        // An agent defined in the config file keeps what is written there (a reload would undo the change).
        if (agents.isConfigured(id)) return 'configured';
        if (!(await agents.setDisabled(id, disabled))) return 'not-found';
        if (disabled) broker().disconnect(id);
        return 'done';
      },
    },
    pipeline: {
      status: () => pipelineTelemetry(inbox, pipeline()),
      pause(name) {
        const output = pipeline().output(name);
        if (!output) return 'not-found';
        output.pause();
        return 'done';
      },
      resume(name) {
        const output = pipeline().output(name);
        if (!output) return 'not-found';
        output.resume();
        return 'done';
      },
      outputNames: () => pipeline().outputs.map((o) => o.name),
      reload: () => parts.reload(),
    },
    deadLetters: {
      list: async (limit, after) => (await pipeline().dead.list(limit, after)).map(summary),
      async get(id) {
        const letter = await pipeline().dead.get(id);
        return letter ? { ...summary(letter), events: letter.events } : undefined;
      },
      async reinject(id) {
        try {
          return (await pipeline().reinject(id)) === 'not-found' ? 'not-found' : 'done';
        } catch (err) {
          // A letter that cannot go on (bytes that never decoded, an event over a limit) says why: a 409, not a 500.
          if ((err as { statusCode?: number }).statusCode === 409) return { refused: (err as Error).message };
          throw err;
        }
      },
      delete: (id) => pipeline().dead.delete(id),
    },
    events: {
      store: () => pipeline().eventStore,
      revision: () => `${pipeline().eventStore?.count ?? 0}|${pipeline().experts.head}`,
      parseReport: parts.parseReport,
      ingest: (events) => parts.ingest(events),
    },
    blocklists: { lists: () => parts.config().blocklists },
    notifications: notificationServices(() => pipeline().outputs),
    contacts: contactServices(() => pipeline().experts.instances),
    audit: parts.audit,
    config: { tokens: () => parts.config().api.tokens },
    telemetry: {
      snapshot: () => telemetry(parts),
      readiness() {
        if (inbox.failing) return { ready: false, reason: `the inbox cannot write (${inbox.stats.writeErrors} failed writes)` };
        if (!broker().connected) return { ready: false, reason: broker().mode === 'nats' ? 'the NATS cluster is unreachable' : 'the external MQTT broker is unreachable' };
        const state = pipeline().shared?.failing;
        if (state !== undefined) return { ready: false, reason: `the experts' shared state cannot be reached (${state})` };
        return { ready: true };
      },
      api: parts.api,
    },
  };
}

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
