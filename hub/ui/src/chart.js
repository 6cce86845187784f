// Stacked-looking line charts of events per minute (uPlot: ~50 KB, canvas, made for long time series).
import uPlot from 'uplot';
import { useEffect, useRef } from 'preact/hooks';
import { html } from './api.js';

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf', '#7f7f7f'];

/** `series`: { name: counts[] } over `times` (ms). Redrawn when the data change. */
export function PerMinuteChart({ title, times, series }) {
  const box = useRef(null);
  const plot = useRef(null);
  const names = Object.keys(series || {});
  const key = names.join('\u0000');
  useEffect(() => {
    if (!box.current || !times) return undefined;
    const data = [times.map((t) => t / 1000), ...names.map((n) => series[n])];
    if (plot.current && plot.current.key === key) {
      plot.current.setData(data);
      return undefined;
    }
    plot.current && plot.current.destroy();
    const width = Math.max(300, box.current.clientWidth || 600);
    const opts = {
      width,
      height: 220,
      series: [{}, ...names.map((n, i) => ({ label: n, stroke: COLORS[i % COLORS.length], width: 1.5, value: (_u, v) => (v == null ? '—' : `${v}/min`) }))],
      axes: [{}, { label: 'events/min', size: 60 }],
      scales: { x: { time: true } },
    };
    plot.current = new uPlot(opts, data, box.current);
    plot.current.key = key;
    return undefined;
  }, [times, series, key]);
  useEffect(() => () => plot.current && plot.current.destroy(), []);
  return html`<figure class="chart"><figcaption>${title}</figcaption>${names.length === 0 ? html`<p class="muted">No events in the last 24 hours.</p>` : null}<div ref=${box} role="img" aria-label=${`${title}: ${names.join(', ')}`}></div></figure>`;
}
