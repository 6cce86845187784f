// Who did what: the audit log, newest first, page by page (admins: it names users and their addresses).
import { useState } from 'preact/hooks';
import { html, usePoll, fmtTime } from '../api.js';
import { Problem, Table } from '../ui.js';

const PAGE = 100;

export function Audit() {
  const [cursors, setCursors] = useState([undefined]);
  const before = cursors[cursors.length - 1];
  const { data, error } = usePoll(`/api/v1/audit?limit=${PAGE}${before === undefined ? '' : `&before=${before}`}`, before === undefined ? 10_000 : 0);
  return html`<section>
    <h1>Audit log</h1>
    <${Problem} error=${error} />
    <${Table}
      rows=${data ? data.entries : []}
      size=${PAGE}
      empty="Nothing was changed through the API yet."
      columns=${[
        { title: 'When', render: (e) => fmtTime(e.at) },
        { title: 'Who', render: (e) => `${e.who}${e.role ? ` (${e.role})` : ''}` },
        { title: 'Action', key: 'action' },
        { title: 'Target', key: 'target', cls: 'wrap' },
        { title: 'Outcome', render: (e) => html`<span class=${e.outcome >= 400 ? 'problem' : 'ok'}>${e.outcome}</span>` },
        { title: 'From', key: 'ip' },
        { title: 'Body', render: (e) => (e.body === undefined ? '' : JSON.stringify(e.body)), cls: 'wrap' },
      ]}
    />
    <nav class="pager" aria-label="audit log pages">
      <button type="button" disabled=${cursors.length === 1} onClick=${() => setCursors(cursors.slice(0, -1))}>Newer</button>
      <button type="button" disabled=${!data || !data.next} onClick=${() => setCursors([...cursors, data.next])}>Older</button>
    </nav>
  </section>`;
}
