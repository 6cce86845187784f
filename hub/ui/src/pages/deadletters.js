// What failed and why: dead letters page by page (the API's cursor), one with its events; reinject or drop.
import { useState } from 'preact/hooks';
import { html, usePoll, may, fmtTime } from '../api.js';
import { Action, Problem, Table } from '../ui.js';

const PAGE = 50;

export function DeadLetters() {
  const [cursors, setCursors] = useState([0]);
  const after = cursors[cursors.length - 1];
  const { data, error, reload } = usePoll(`/api/v1/deadletters?limit=${PAGE}&after=${after}`, 10_000);
  return html`<section>
    <h1>Dead letters</h1>
    <${Problem} error=${error} />
    <${Table}
      rows=${data ? data.deadletters : []}
      size=${PAGE}
      empty="No dead letters: everything was delivered."
      columns=${[
        { title: 'Id', render: (l) => html`<a href=${`#/deadletters/${l.id}`}>#${l.id}</a>` },
        { title: 'When', render: (l) => fmtTime(l.at) },
        { title: 'Stage', key: 'stage' },
        { title: 'Events', key: 'count' },
        { title: 'Agent', render: (l) => l.agent || '—' },
        { title: 'Reason', key: 'reason', cls: 'wrap' },
        // Retry from the list once the cause is fixed (an output back up), without opening each letter.
        ...(may('operator') ? [{ title: 'Retry', render: (l) => html`<${Action} label=${`Reinject #${l.id}`} path=${`/api/v1/deadletters/${l.id}/reinject`} onDone=${reload} />` }] : []),
      ]}
    />
    <nav class="pager" aria-label="dead letter pages">
      <button type="button" disabled=${cursors.length === 1} onClick=${() => setCursors(cursors.slice(0, -1))}>Previous</button>
      <button type="button" disabled=${!data || !data.next} onClick=${() => setCursors([...cursors, data.next])}>Next</button>
    </nav>
  </section>`;
}

export function DeadLetter({ id }) {
  const { data: l, error } = usePoll(`/api/v1/deadletters/${encodeURIComponent(id)}`);
  const [done, setDone] = useState();
  const fields = l ? [...new Set(l.events.flatMap((e) => Object.keys(e)))].filter((k) => k !== 'raw').slice(0, 8) : [];
  return html`<section>
    <p><a href="#/deadletters">← Dead letters</a></p>
    <h1>Dead letter #${id}</h1>
    <${Problem} error=${error} />
    ${done ? html`<p role="status" class="ok">${done}</p>` : null}
    ${l && !done
      ? html`<dl class="facts">
          <dt>When</dt><dd>${fmtTime(l.at)}</dd>
          <dt>Stage</dt><dd>${l.stage}</dd>
          <dt>Reason</dt><dd class="problem">${l.reason}</dd>
          <dt>Agent</dt><dd>${l.agent || '—'}</dd>
          <dt>Attempts</dt><dd>${l.attempts ?? '—'}</dd>
        </dl>
        ${may('operator')
          ? html`<div class="actions">
              <${Action} label="Reinject" path=${`/api/v1/deadletters/${l.id}/reinject`} onDone=${() => setDone(`Dead letter #${l.id} was re-injected.`)} />
              <${Action} label="Drop" kind="danger" method="DELETE" confirm=${`Drop dead letter #${l.id} and its ${l.count} events for good?`} path=${`/api/v1/deadletters/${l.id}`} onDone=${() => setDone(`Dead letter #${l.id} was dropped.`)} />
            </div>`
          : null}
        <h2>Its ${l.count} events</h2>
        <${Table} rows=${l.events} columns=${fields.map((k) => ({ title: k, render: (e) => String(e[k] ?? ''), cls: 'wrap' }))} />`
      : null}
  </section>`;
}
