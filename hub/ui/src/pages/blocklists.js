// Block-lists: each list, a preview of its values, and a download in every format.
import { useState } from 'preact/hooks';
import { html, usePoll, get } from '../api.js';
import { Problem, Table } from '../ui.js';

export function Blocklists() {
  const { data, error } = usePoll('/api/v1/blocklists');
  const [preview, setPreview] = useState();
  const lists = data ? data.blocklists || [] : [];
  const show = async (name) => {
    try {
      setPreview({ name, text: await get(`/api/v1/blocklists/${encodeURIComponent(name)}?format=txt`) });
    } catch (err) {
      setPreview({ name, error: err });
    }
  };
  return html`<section>
    <h1>Block-lists</h1>
    <${Problem} error=${error} />
    <${Table}
      rows=${lists}
      empty="No block-lists are configured (blocklists in the hub config)."
      columns=${[
        { title: 'Name', key: 'name' },
        { title: 'Field', render: (l) => l.field || '—' },
        { title: 'When', render: (l) => l.when || '—', cls: 'wrap' },
        { title: 'Preview', render: (l) => html`<button type="button" onClick=${() => show(l.name)}>Preview ${l.name}</button>` },
        { title: 'Download', render: (l) => html`${['txt', 'csv', 'json', 'rpz'].map((f) => html`<a href=${`/api/v1/blocklists/${encodeURIComponent(l.name)}?format=${f}`} download=${`${l.name}.${f}`}>${f}</a> `)}` },
      ]}
    />
    ${preview ? html`<h2>${preview.name}</h2><${Problem} error=${preview.error} />${preview.text !== undefined ? html`<pre class="preview">${String(preview.text).split('\n').slice(0, 200).join('\n') || '(empty)'}</pre>` : null}` : null}
  </section>`;
}
