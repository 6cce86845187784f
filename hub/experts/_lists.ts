/** Parameter shapes IntelMQ accepts for lists: a JSON array or one comma-separated string. */
import Type from 'typebox';

/** Schema for a list parameter given as an array of strings or as "a,b,c". */
export function StringList(description: string, defaultValue?: string | string[]) {
  return Type.Union([Type.String(), Type.Array(Type.String())], defaultValue === undefined ? { description } : { description, default: defaultValue });
}

/** `"a, b,,c"` or `["a", " b"]` → `["a", "b", "c"]`. */
export function toList(value: string | readonly string[] | undefined): string[] {
  if (value === undefined) return [];
  const items = typeof value === 'string' ? value.split(',') : value;
  return items.map((s) => s.trim()).filter((s) => s !== '');
}
