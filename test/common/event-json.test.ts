/** eventToJson keeps its contract whatever the order in which key lists come: sorted keys, every value, as JSON. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { eventToJson } from '../../common/codec/json.js';

/** The reference: keys sorted by hand, each written with JSON.stringify. */
function reference(event: Record<string, unknown>): string {
  return `{${Object.keys(event).sort().map((k) => `${JSON.stringify(k)}:${JSON.stringify(event[k])}`).join(',')}}`;
}

describe('eventToJson', () => {
  it('writes sorted keys for narrow and wide events, alternating key lists and repeated ones', () => {
    const narrow = (i: number): Record<string, unknown> => ({ 'source.ip': `192.0.2.${i}`, 'classification.type': 'scanner', raw: 'eA==' });
    const wide = (i: number): Record<string, unknown> => {
      const event: Record<string, unknown> = { 'time.source': '2024-01-02T03:04:05+00:00' };
      for (let k = 40; k > 0; k--) event[`extra.c${k}`] = k % 5 === 0 ? { n: k, list: [i, 'x'] } : `v${k}-${i}`;
      return event;
    };
    const events = [narrow(1), wide(1), wide(2), narrow(2), narrow(3), wide(3), { b: 1, a: null, c: 'é"\n' }, narrow(4)];
    for (const event of [...events, ...events]) assert.equal(eventToJson(event), reference(event));
  });

  it('keeps sorted order for keys an object would list first (integer-like, __proto__)', () => {
    const odd: Record<string, unknown> = { b: 1, '10': 'ten', '2': 'two' };
    Object.defineProperty(odd, '__proto__', { value: 'p', enumerable: true });
    assert.equal(eventToJson(odd), '{"10":"ten","2":"two","__proto__":"p","b":1}');
    assert.equal(eventToJson({ z: 1, y: 2 }), '{"y":2,"z":1}');
  });
});
