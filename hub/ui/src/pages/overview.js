// Is everything flowing? Events per minute (24 h), inbox depth, output lag, agents, dead letters, last errors.
import { html, usePoll, fmtNum, fmtTime, ago } from '../api.js';
import { Card, Problem, Table } from '../ui.js';
import { PerMinuteChart } from '../chart.js';

const POLL_MS = 5000;

export function Overview() {
  const pipeline = usePoll('/api/v1/pipeline', POLL_MS);
  const agents = usePoll('/api/v1/agents', POLL_MS);
  // The count from /metrics (one gauge) rather than listing the letters themselves.
  const metrics = usePoll('/metrics', POLL_MS);
  const hist = usePoll('/api/v1/stats/events-per-minute', 30_000);
  const p = pipeline.data;
  const list = agents.data ? agents.data.agents : [];
  const expected = list.filter((a) => !a.disabled);
  const connected = expected.filter((a) => a.connected);
  const depth = p ? Math.max(0, (p.inbox.head ?? 0) - (p.experts.cursor ?? 0)) : undefined;
  const lag = p ? Math.max(0, ...p.outputs.map((o) => o.lagEvents)) : undefined;
  const deadMatch = typeof metrics.data === 'string' ? /^vigil_dead_letters (\d+)/m.exec(metrics.data) : null;
  const letters = deadMatch ? Number(deadMatch[1]) : undefined;
  const components = p ? [...p.experts.members, ...p.outputs] : [];
  // Components of the hub, and agents' feeds whose last run failed (from their heartbeats).
  const failing = [
    ...components.filter((c) => c.lastError).map((c) => ({ what: `${c.kind} ${c.name}`, at: c.lastErrorAt, error: c.lastError })),
    ...list.flatMap((a) => Object.entries(a.feeds || {}).filter(([, f]) => f && f.lastOutcome === 'error').map(([name, f]) => ({ what: html`feed ${name} on <a href=${`#/agents/${encodeURIComponent(a.id)}`}>${a.id}</a>`, at: f.lastRun, error: f.lastError }))),
  ].sort((a, b) => String(b.at).localeCompare(String(a.at)));
  const lastHour = hist.data ? Object.values(hist.data.byFeed).reduce((n, c) => n + c.slice(-60).reduce((a, b) => a + b, 0), 0) : undefined;
  return html`<section>
    <h1>Overview</h1>
    <${Problem} error=${pipeline.error || agents.error} />
    <div class="cards">
      <${Card} title="Events in the last hour" value=${fmtNum(lastHour)} />
      <${Card} title="Inbox depth" value=${fmtNum(depth)} note="batches not yet through the experts" status=${depth > 1000 ? 'warn' : ''} />
      <${Card} title="Output lag" value=${fmtNum(lag)} note="batches the slowest output has not delivered" status=${lag > 100 ? 'warn' : ''} />
      <${Card} title="Agents connected" value=${agents.data ? `${connected.length} of ${expected.length}` : '—'} status=${connected.length < expected.length ? 'warn' : 'ok'} note=${html`<a href="#/agents">agents</a>`} />
      <${Card} title="Dead letters waiting" value=${fmtNum(letters)} status=${letters > 0 ? 'bad' : 'ok'} note=${html`<a href="#/deadletters">dead letters</a>`} />
    </div>
    <div class="charts">
      <${PerMinuteChart} title="Events per minute by taxonomy (24 h)" times=${hist.data && hist.data.times} series=${hist.data && hist.data.byTaxonomy} />
      <${PerMinuteChart} title="Events per minute by feed (24 h)" times=${hist.data && hist.data.times} series=${hist.data && hist.data.byFeed} />
    </div>
    <h2>Last errors</h2>
    <${Table}
      rows=${failing}
      empty="Nothing has failed: no component since the hub started, no feed at its last run."
      columns=${[
        { title: 'Where', render: (c) => c.what },
        { title: 'When', render: (c) => html`<span title=${fmtTime(c.at)}>${ago(c.at)}</span>` },
        { title: 'Error', key: 'error', cls: 'wrap' },
      ]}
    />
    <p class="muted">Updated every ${POLL_MS / 1000} s.</p>
  </section>`;
}
