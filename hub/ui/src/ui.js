// Small shared pieces: an action button that shows what the API said, a paginated table, a status message.
import { useState } from 'preact/hooks';
import { html, call } from './api.js';

export function Problem({ error }) {
  return error ? html`<p class="problem" role="alert">${error.message}</p>` : null;
}

/** A button that runs one API call; the outcome (or the API's reason for refusing) is shown beside it. */
export function Action({ label, method = 'POST', path, body, confirm: question, onDone, kind = '' }) {
  const [state, setState] = useState({ busy: false, error: undefined });
  const run = async () => {
    if (question && !window.confirm(question)) return;
    setState({ busy: true });
    try {
      const result = await call(method, path, body);
      setState({ busy: false });
      onDone && onDone(result);
    } catch (error) {
      setState({ busy: false, error });
    }
  };
  return html`<span class="action"><button type="button" class=${kind} disabled=${state.busy} onClick=${run}>${label}</button>${state.error ? html`<span class="problem" role="alert">${state.error.message}</span>` : null}</span>`;
}

/** Rows in pages of `size` (client-side; the API pages what can be long: dead letters and events). */
export function Table({ columns, rows, size = 50, caption, empty = 'Nothing here.' }) {
  const [page, setPage] = useState(0);
  const pages = Math.max(1, Math.ceil(rows.length / size));
  const shown = rows.slice(page * size, page * size + size);
  return html`<div class="table">
    <table>
      ${caption ? html`<caption>${caption}</caption>` : null}
      <thead><tr>${columns.map((c) => html`<th scope="col">${c.title}</th>`)}</tr></thead>
      <tbody>
        ${shown.length === 0 ? html`<tr><td colspan=${columns.length}>${empty}</td></tr>` : shown.map((row) => html`<tr>${columns.map((c) => html`<td class=${c.cls || ''}>${c.render ? c.render(row) : row[c.key]}</td>`)}</tr>`)}
      </tbody>
    </table>
    ${pages > 1
      ? html`<nav class="pager" aria-label="pages"><button type="button" disabled=${page === 0} onClick=${() => setPage(page - 1)}>Previous</button> page ${page + 1} of ${pages} <button type="button" disabled=${page + 1 >= pages} onClick=${() => setPage(page + 1)}>Next</button></nav>`
      : null}
  </div>`;
}

export function Card({ title, value, note, status = '' }) {
  return html`<div class=${`card ${status}`}><div class="card-title">${title}</div><div class="card-value">${value}</div>${note ? html`<div class="card-note">${note}</div>` : null}</div>`;
}
