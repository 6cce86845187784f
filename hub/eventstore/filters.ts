/**
 * The event store's field filters (`source.ip=192.0.2.0/24`, `classification.type=phishing`): one definition, used
 * by the store to select events and by the API to refuse a filter it cannot read before searching. Pure.
 */
import ipaddr from 'ipaddr.js';

type Event = Record<string, unknown>;

const IP_FIELDS = /\.(ip|local_ip)$/;

/** Field filters → one predicate. IP fields accept a CIDR; everything else is compared as text. */
export function compileFilters(filters: Record<string, string>): (event: Event) => boolean {
  const tests: ((event: Event) => boolean)[] = [];
  for (const [field, wanted] of Object.entries(filters)) {
    if (IP_FIELDS.test(field) && wanted.includes('/')) {
      const cidr = ipaddr.parseCIDR(wanted);
      tests.push((event) => {
        const value = event[field];
        if (typeof value !== 'string' || !ipaddr.isValid(value)) return false;
        const addr = ipaddr.process(value);
        return addr.kind() === cidr[0].kind() && addr.match(cidr);
      });
    } else {
      tests.push((event) => event[field] !== undefined && String(event[field]) === wanted);
    }
  }
  return (event) => tests.every((t) => t(event));
}
