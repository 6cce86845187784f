/**
 * Events as JSON text: one flat object, keys sorted (as IntelMQ's `to_json` writes them), so dumps, outputs
 * and the API print the same bytes for the same event.
 */
export function eventToJson(event: Readonly<Record<string, unknown>>): string {
  const keys = Object.keys(event).sort();
  let out = '{';
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    if (i > 0) out += ',';
    out += `${JSON.stringify(key)}:${JSON.stringify(event[key])}`;
  }
  return `${out}}`;
}
