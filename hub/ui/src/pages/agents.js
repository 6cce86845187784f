// Which sensor is silent? Every agent with its health, and one agent's page with its feeds.
import { useState } from 'preact/hooks';
import { html, usePoll, may, fmtNum, fmtTime, ago } from '../api.js';
import { Action, Problem, Table } from '../ui.js';

// Connected yet unheard for this long: six heartbeats at the agents' default heartbeat_seconds (30 s). The API does
// not say each agent's own interval.
const QUIET_MS = 180_000;

export function health(a) {
  if (a.disabled) return ['disabled', 'muted'];
  if (a.connected) return a.lastSeen && Date.now() - Date.parse(a.lastSeen) > QUIET_MS ? ['no heartbeat', 'bad'] : ['connected', 'ok'];
  return [a.lastSeen ? 'silent' : 'never seen', 'bad'];
}
// The outbox as the agent reports it (agent/outbox): what waits, and anything it had to drop or dead-letter.
function depthOf(a) {
  const o = a.outboxDepth;
  if (!o) return '—';
  if (typeof o.events !== 'number') return JSON.stringify(o);
  const notes = ['droppedEvents', 'deadLetteredEvents'].filter((k) => o[k] > 0).map((k) => `${fmtNum(o[k])} ${k === 'droppedEvents' ? 'dropped' : 'dead-lettered'}`);
  return `${fmtNum(o.events)} events waiting in ${fmtNum(o.batches)} batches${notes.length ? ` (${notes.join(', ')})` : ''}`;
}
function feedsOf(a) {
  if (!a.feeds) return '—';
  const all = Object.values(a.feeds);
  const failing = all.filter((f) => f && f.lastOutcome === 'error').length;
  return html`${all.length}${failing ? html` <span class="problem">(${failing} failing)</span>` : null}`;
}
const Health = ({ agent }) => {
  const [label, cls] = health(agent);
  return html`<span class=${`badge ${cls}`}>${label}</span>`;
};

function AddAgent({ onDone }) {
  const [id, setId] = useState('');
  const [created, setCreated] = useState();
  return html`<form class="inline" onSubmit=${(e) => e.preventDefault()}>
    <label for="new-agent">New agent id</label>
    <input id="new-agent" value=${id} onInput=${(e) => setId(e.target.value)} pattern="[A-Za-z0-9._-]+" />
    <${Action} label="Add agent" path="/api/v1/agents" body=${{ id }} onDone=${(r) => { setCreated(r); onDone(); }} />
    ${created ? html`<div class="secret" role="status"><p>Token for <b>${created.id}</b> (shown once):</p><pre>${created.token}</pre><p>Install command:</p><pre>${created.install_command}</pre>${created.note ? html`<p>${created.note}</p>` : null}</div>` : null}
  </form>`;
}

export function Agents() {
  const { data, error, reload } = usePoll('/api/v1/agents', 5000);
  // Those that need a look first: silent, never seen, then connected, then disabled.
  const ORDER = { silent: 0, 'no heartbeat': 0, 'never seen': 1, connected: 2, disabled: 3 };
  const rows = data ? [...data.agents].sort((a, b) => ORDER[health(a)[0]] - ORDER[health(b)[0]] || a.id.localeCompare(b.id)) : [];
  return html`<section>
    <h1>Agents</h1>
    <${Problem} error=${error} />
    ${may('admin') ? html`<${AddAgent} onDone=${reload} />` : null}
    <${Table}
      rows=${rows}
      empty="No agent is known yet."
      columns=${[
        { title: 'Agent', render: (a) => html`<a href=${`#/agents/${encodeURIComponent(a.id)}`}>${a.id}</a>` },
        { title: 'Health', render: (a) => html`<${Health} agent=${a} />` },
        { title: 'Last seen', render: (a) => html`<span title=${fmtTime(a.lastSeen)}>${ago(a.lastSeen)}</span>` },
        { title: 'Version', render: (a) => a.version || '—' },
        { title: 'Outbox', render: depthOf },
        { title: 'Feeds', render: feedsOf },
        { title: 'Events received', render: (a) => fmtNum(a.eventsReceived) },
      ]}
    />
  </section>`;
}

export function AgentPage({ id }) {
  const { data: a, error, reload } = usePoll(`/api/v1/agents/${encodeURIComponent(id)}`, 5000);
  const [rotated, setRotated] = useState();
  const feeds = a && a.feeds ? Object.entries(a.feeds).map(([name, f]) => ({ name, ...(typeof f === 'object' && f ? f : { status: f }) })) : [];
  const cell = (v) => (v === undefined || v === null ? '—' : typeof v === 'object' ? JSON.stringify(v) : /^\d{4}-\d\d-\d\dT/.test(String(v)) ? fmtTime(v) : String(v));
  // The agent's heartbeat says what each feed did (agent/feed.ts FeedStatus); keys it adds later show as they are.
  const known = ['lastRun', 'lastOutcome', 'lastError', 'runs', 'events', 'rejected', 'dropped', 'recentRejects'];
  const extra = [...new Set(feeds.flatMap((f) => Object.keys(f)))].filter((k) => k !== 'name' && !known.includes(k));
  const columns = [
    { title: 'Feed', key: 'name' },
    { title: 'Last run', render: (f) => html`<span title=${fmtTime(f.lastRun)}>${ago(f.lastRun)}</span>` },
    { title: 'Outcome', render: (f) => (f.lastOutcome ? html`<span class=${`badge ${f.lastOutcome === 'ok' ? 'ok' : 'bad'}`}>${f.lastOutcome}</span>` : '—') },
    { title: 'Last error', render: (f) => html`<span class="problem">${f.lastError || ''}</span>`, cls: 'wrap' },
    { title: 'Runs', render: (f) => fmtNum(f.runs) },
    { title: 'Events', render: (f) => fmtNum(f.events) },
    { title: 'Rejected', render: (f) => fmtNum(f.rejected) },
    { title: 'Dropped', render: (f) => fmtNum(f.dropped) },
    { title: 'Recent rejects', render: (f) => (Array.isArray(f.recentRejects) && f.recentRejects.length > 0 ? f.recentRejects.map((r) => r.reason).join('; ') : '—'), cls: 'wrap' },
    ...extra.map((k) => ({ title: k, render: (f) => cell(f[k]), cls: 'wrap' })),
  ];
  return html`<section>
    <p><a href="#/agents">← Agents</a></p>
    <h1>Agent ${id}</h1>
    <${Problem} error=${error} />
    ${a
      ? html`<dl class="facts">
          <dt>Health</dt><dd><${Health} agent=${a} /></dd>
          <dt>Last seen</dt><dd>${fmtTime(a.lastSeen)} (${ago(a.lastSeen)})</dd>
          <dt>Version</dt><dd>${a.version || '—'}</dd>
          <dt>Uptime</dt><dd>${a.uptimeSeconds == null ? '—' : `${Math.round(a.uptimeSeconds)} s`}</dd>
          <dt>Outbox</dt><dd>${depthOf(a)}</dd>
          <dt>Events / batches received</dt><dd>${fmtNum(a.eventsReceived)} / ${fmtNum(a.batchesReceived)} (${fmtNum(a.duplicateBatches)} duplicates, ${fmtNum(a.refused)} refused)</dd>
        </dl>
        ${may('admin')
          ? html`<div class="actions">
              ${a.disabled ? html`<${Action} label="Enable" path=${`/api/v1/agents/${encodeURIComponent(id)}/enable`} onDone=${reload} />` : html`<${Action} label="Disable" kind="danger" confirm=${`Disable ${id}? Its batches will be refused.`} path=${`/api/v1/agents/${encodeURIComponent(id)}/disable`} onDone=${reload} />`}
              <${Action} label="Rotate token" confirm=${`Rotate ${id}'s token? The old one stops at once.`} path=${`/api/v1/agents/${encodeURIComponent(id)}/rotate-token`} onDone=${setRotated} />
            </div>`
          : null}
        ${rotated ? html`<div class="secret" role="status"><p>New token (shown once):</p><pre>${rotated.token}</pre><p>Install command:</p><pre>${rotated.install_command}</pre></div>` : null}
        <h2>Feeds</h2>
        <${Table} rows=${feeds} empty="The agent has not reported its feeds." columns=${columns} />`
      : null}
  </section>`;
}
