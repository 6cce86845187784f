/**
 * Events as JSON text: one flat object, keys sorted (as IntelMQ's `to_json` writes them), so dumps, outputs
 * and the API print the same bytes for the same event.
 */
export function eventToJson(event: Readonly<Record<string, unknown>>): string {
  const keys = Object.keys(event).sort();
  for (let i = 0; i < keys.length; i++) {
    const value = event[keys[i]!];
    if (value !== null && typeof value === 'object') return nestedToJson(event, keys);
  }
  // Flat values: JSON.stringify with the sorted key list as its replacer writes the keys in that order, natively.
  return JSON.stringify(event, keys);
}

/** A value holding objects: a key list would filter their keys too, so the top level is written by hand. */
function nestedToJson(event: Readonly<Record<string, unknown>>, keys: string[]): string {
  let out = '{';
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    if (i > 0) out += ',';
    out += `${JSON.stringify(key)}:${JSON.stringify(event[key])}`;
  }
  return `${out}}`;
}
