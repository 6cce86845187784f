/** Events of the email output's tests: `hostsPer` hosts in each of `networks` networks, each network its own abuse contact. */
import type { Event } from '../../../hub/pipeline/define.js';

export function hostEvents(networks: number, hostsPer: number, extra: Event = {}): { events: Event[]; ids: string[] } {
  const events: Event[] = [];
  const ids: string[] = [];
  for (let n = 0; n < networks; n++) {
    for (let h = 0; h < hostsPer; h++) {
      events.push({ 'source.ip': `10.${n}.0.${h + 1}`, 'source.abuse_contact': `abuse@net${n}.example`, 'classification.type': 'vulnerable-system', 'classification.identifier': 'open-redis', 'feed.name': 'shadowserver-redis', 'time.source': '2026-12-07T00:00:00+00:00', 'extra.contact.organisation': `Net ${n}`, ...extra });
      ids.push(`ev-${n}-${h}`);
    }
  }
  return { events, ids };
}
