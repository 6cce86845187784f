// What came in today: search the event store with the API's filters, page through, export, open one event.
import { useState } from 'preact/hooks';
import { html, get, fmtTime } from '../api.js';
import { Problem } from '../ui.js';

const COLUMNS = ['time.observation', 'feed.name', 'classification.taxonomy', 'classification.type', 'source.ip', 'source.fqdn'];
const FILTERS = ['feed.name', 'classification.taxonomy', 'classification.type', 'source.ip', 'source.fqdn', 'source.asn'];

export function Events() {
  const [form, setForm] = useState({ from: '', to: '', limit: '50', ...Object.fromEntries(FILTERS.map((f) => [f, ''])) });
  const [result, setResult] = useState();
  const [pages, setPages] = useState([undefined]);
  const [error, setError] = useState();
  const [open, setOpen] = useState();
  const query = (after) => {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(form)) {
      if (!v) continue;
      q.set(k, k === 'from' || k === 'to' ? new Date(v).toISOString() : v);
    }
    if (after) q.set('after', after);
    return q;
  };
  const search = async (after, trail) => {
    try {
      setResult(await get(`/api/v1/events?${query(after)}`));
      setPages(trail);
      setError(undefined);
      setOpen(undefined);
    } catch (err) {
      setError(err);
    }
  };
  const set = (k) => (e) => setForm({ ...form, [k]: e.target.value });
  // The search from this page on, as many events as the API gives in one answer (10,000).
  const exportLink = (format) => {
    const q = query(pages[pages.length - 1]);
    q.set('format', format);
    q.set('limit', '10000');
    return `/api/v1/events?${q}`;
  };
  return html`<section>
    <h1>Events</h1>
    <form class="search" onSubmit=${(e) => { e.preventDefault(); search(undefined, [undefined]); }}>
      ${FILTERS.map((f) => html`<label>${f}<input name=${f} value=${form[f]} onInput=${set(f)} /></label>`)}
      <label>from<input type="datetime-local" name="from" value=${form.from} onInput=${set('from')} /></label>
      <label>to<input type="datetime-local" name="to" value=${form.to} onInput=${set('to')} /></label>
      <label>per page<input type="number" min="1" max="10000" name="limit" value=${form.limit} onInput=${set('limit')} /></label>
      <button type="submit">Search</button>
    </form>
    <${Problem} error=${error} />
    ${result
      ? html`<p class="export">Export this search from this page on (up to 10,000 events): <a href=${exportLink('csv')} download="events.csv">CSV</a> · <a href=${exportLink('jsonl')} download="events.jsonl">JSON lines</a></p>
        <div class="table"><table>
          <caption>${result.events.length} events</caption>
          <thead><tr><th scope="col">#</th>${COLUMNS.map((c) => html`<th scope="col">${c}</th>`)}</tr></thead>
          <tbody>${result.events.map((e, i) => html`<tr><td><button type="button" class="link" aria-label=${`Open event ${i + 1}`} onClick=${() => setOpen(e)}>${i + 1}</button></td>${COLUMNS.map((c) => html`<td>${c === 'time.observation' ? fmtTime(e[c]) : e[c] ?? ''}</td>`)}</tr>`)}</tbody>
        </table></div>
        <nav class="pager" aria-label="event pages">
          <button type="button" disabled=${pages.length === 1} onClick=${() => search(pages[pages.length - 2], pages.slice(0, -1))}>Previous</button>
          <button type="button" disabled=${!result.next} onClick=${() => search(result.next, [...pages, result.next])}>Next</button>
        </nav>`
      : html`<p class="muted">Search with any of the filters above (an IP field takes a CIDR); empty filters match everything.</p>`}
    ${open
      ? html`<section class="event" aria-label="event"><h2>Event</h2><button type="button" onClick=${() => setOpen(undefined)}>Close</button>
          <dl class="facts">${Object.keys(open).sort().map((k) => html`<dt>${k}</dt><dd class="wrap">${k === 'raw' ? safeRaw(open[k]) : String(open[k])}</dd>`)}</dl></section>`
      : null}
  </section>`;
}

function safeRaw(b64) {
  try {
    return new TextDecoder().decode(Uint8Array.from(atob(String(b64)), (c) => c.charCodeAt(0)));
  } catch {
    return String(b64);
  }
}
