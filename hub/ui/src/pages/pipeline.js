// The pipeline as it runs: inbox → experts in order → outputs, each with rate, lag, errors and the last error.
import { useState } from 'preact/hooks';
import { html, usePoll, may, fmtNum, fmtTime } from '../api.js';
import { Action, Problem } from '../ui.js';

const rate = (v) => (v == null ? '—' : `${v}/s`);
const errorCount = (c) => Object.values(c.errors || {}).reduce((a, b) => a + b, 0);

function Node({ c, children }) {
  const failing = errorCount(c) > 0;
  return html`<li class=${`node ${c.paused ? 'paused' : failing ? 'failing' : ''}`}>
    <div class="node-title">${c.name}${c.paused ? html` <span class="badge warn">paused</span>` : null}</div>
    <dl>
      <dt>in</dt><dd>${rate(c.receivedPerSecond)}</dd>
      <dt>out</dt><dd>${rate(c.sentPerSecond)}</dd>
      <dt>sent</dt><dd>${fmtNum(c.sent)}</dd>
      ${c.kind === 'output' ? html`<dt>lag</dt><dd>${fmtNum(c.lagEvents)} batches, ${Math.round(c.lagSeconds)} s</dd>` : null}
      <dt>errors</dt><dd>${fmtNum(errorCount(c))}</dd>
    </dl>
    ${c.lastError ? html`<p class="problem small" title=${fmtTime(c.lastErrorAt)}>${c.lastError}</p>` : null}
    ${children}
  </li>`;
}

export function Pipeline() {
  const { data: p, error, reload } = usePoll('/api/v1/pipeline', 3000);
  const [reloaded, setReloaded] = useState();
  return html`<section>
    <h1>Pipeline</h1>
    <${Problem} error=${error} />
    ${may('admin') ? html`<div class="actions"><${Action} label="Reload configuration" path="/api/v1/pipeline/reload" onDone=${() => { setReloaded(new Date()); reload(); }} />${reloaded ? html`<span role="status">Reloaded at ${reloaded.toLocaleTimeString()}.</span>` : null}</div>` : null}
    ${p
      ? html`<div class="graph">
          <div class="stage"><h2>Inbox</h2><ul><li class="node"><div class="node-title">inbox</div><dl><dt>head</dt><dd>${fmtNum(p.inbox.head)}</dd><dt>waiting</dt><dd>${fmtNum(Math.max(0, p.inbox.head - (p.experts.cursor ?? 0)))}</dd></dl></li></ul></div>
          <div class="arrow" aria-hidden="true">→</div>
          <div class="stage"><h2>Experts</h2><ol class="chain">${p.experts.members.length === 0 ? html`<li class="node">none</li>` : p.experts.members.map((c) => html`<${Node} c=${c} />`)}</ol></div>
          <div class="arrow" aria-hidden="true">→</div>
          <div class="stage"><h2>Outputs</h2><ul>
            ${p.outputs.map(
              (c) => html`<${Node} c=${c}>
                ${may('operator')
                  ? c.paused
                    ? html`<${Action} label=${`Resume ${c.name}`} path=${`/api/v1/pipeline/outputs/${encodeURIComponent(c.name)}/resume`} onDone=${reload} />`
                    : html`<${Action} label=${`Pause ${c.name}`} path=${`/api/v1/pipeline/outputs/${encodeURIComponent(c.name)}/pause`} onDone=${reload} />`
                  : null}
              <//>`,
            )}
          </ul></div>
        </div>`
      : null}
  </section>`;
}
