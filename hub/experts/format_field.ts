/**
 * format_field: string operations on field values, in this order: strip characters from both ends
 * (`strip_columns`, `strip_chars`), replace a substring (`replace_column`, `old_value` → `new_value`, at most
 * `replace_count` times), split into a list (`split_column` on `split_separator`; lists are only storable in
 * extra.* fields). The result goes through the ontology; a value it refuses rejects the event.
 */
import Type from 'typebox';
import { add } from '../../common/harmonization/index.js';
import { defineExpert, type Event } from '../pipeline/define.js';
import { configError } from './_config.js';
import { eachEvent } from './_each.js';
import { StringList, toList } from './_lists.js';

/** Python's str.strip(chars): removes any of `chars` from both ends. */
export function stripChars(value: string, chars: string): string {
  const set = new Set(chars);
  let a = 0;
  let b = value.length;
  while (a < b && set.has(value[a]!)) a++;
  while (b > a && set.has(value[b - 1]!)) b--;
  return value.slice(a, b);
}

/** Python's str.replace(old, new, count) for a non-empty `old`; count < 0 replaces all. */
export function replaceCount(value: string, oldValue: string, newValue: string, count: number): string {
  if (count < 0) return value.split(oldValue).join(newValue);
  let out = '';
  let from = 0;
  for (let n = 0; n < count; n++) {
    const i = value.indexOf(oldValue, from);
    if (i < 0) break;
    out += value.slice(from, i) + newValue;
    from = i + oldValue.length;
  }
  return out + value.slice(from);
}

export default defineExpert({
  name: 'format_field',
  summary: 'Strips characters from, replaces substrings in, or splits the values of given fields.',
  intelmq: 'intelmq.bots.experts.format_field.expert',
  params: Type.Object(
    {
      strip_columns: StringList('Fields whose values are stripped, as a list or comma-separated.', []),
      strip_chars: Type.String({ default: ' ', description: 'The characters stripped from both ends (any of them).' }),
      replace_column: Type.Optional(Type.String({ description: 'The field in which old_value is replaced.' })),
      old_value: Type.Optional(Type.String({ minLength: 1, description: 'The substring to replace.' })),
      new_value: Type.String({ default: '', description: 'What replaces old_value.' }),
      replace_count: Type.Integer({ default: 1, description: 'How many occurrences to replace, from the left (-1: all).' }),
      split_column: Type.Optional(Type.String({ description: 'The field whose value is split into a list (an extra.* field).' })),
      split_separator: Type.String({ default: ',', minLength: 1, description: 'The separator split_column is split on.' }),
    },
    { additionalProperties: false },
  ),
  intelmqParams: {
    // IntelMQ's class defaults are '' for "not used"; here such a parameter is left out.
    replace_column: { to: 'replace_column', convert: (v) => (v === '' ? undefined : v), note: "'' (IntelMQ's default) means not used" },
    old_value: { to: 'old_value', convert: (v) => (v === '' ? undefined : v), note: "'' (IntelMQ's default) means not used" },
    split_column: { to: 'split_column', convert: (v) => (v === '' ? undefined : v), note: "'' means not used" },
  },
  examples: [
    {
      description: 'strip_columns removes the strip_chars (a space by default) from both ends',
      params: { strip_columns: 'malware.name,extra.tag', strip_chars: ' "' },
      input: [{ 'malware.name': 'emotet', 'extra.tag': ' "quoted" ' }],
      output: [{ 'malware.name': 'emotet', 'extra.tag': 'quoted' }],
    },
    {
      description: 'replace_column replaces old_value replace_count times from the left (1 by default); an event without the field passes',
      params: { replace_column: 'source.fqdn', old_value: '.', new_value: '-' },
      input: [{ 'source.fqdn': 'a.b.example' }, { 'source.ip': '192.0.2.1' }],
      output: [{ 'source.fqdn': 'a-b.example' }, { 'source.ip': '192.0.2.1' }],
    },
    {
      description: 'Stripping comes before splitting; the split list goes to an extra.* field',
      params: { strip_columns: 'extra.tags', strip_chars: ';', split_column: 'extra.tags', split_separator: ';' },
      input: [{ 'extra.tags': ';a;b;c;' }],
      output: [{ 'extra.tags': ['a', 'b', 'c'] }],
    },
    {
      description: 'A result the ontology refuses (a list in a text field) rejects that event',
      rejects: 1,
      params: { split_column: 'source.fqdn', split_separator: '.' },
      input: [{ 'source.fqdn': 'a.example' }, { 'source.ip': '192.0.2.1' }],
      output: [{ 'source.ip': '192.0.2.1' }],
    },
  ],
  create(params) {
    const strip = toList(params.strip_columns);
    const { replace_column: replaceColumn, old_value: oldValue, split_column: splitColumn } = params;
    if (replaceColumn !== undefined && oldValue === undefined) throw configError('old_value', 'replace_column needs old_value');
    const format = (event: Event): void => {
      for (const key of strip) {
        const v = event[key];
        if (typeof v === 'string' && v !== '') add(event, key, stripChars(v, params.strip_chars), { overwrite: true });
      }
      if (replaceColumn !== undefined) {
        const v = event[replaceColumn];
        if (typeof v === 'string' && v !== '') add(event, replaceColumn, replaceCount(v, oldValue!, params.new_value, params.replace_count), { overwrite: true });
      }
      if (splitColumn !== undefined) {
        const v = event[splitColumn];
        if (typeof v === 'string' && v !== '') add(event, splitColumn, v.split(params.split_separator), { overwrite: true });
      }
    };
    return { process: (events, reject) => eachEvent(events, reject, format) };
  },
});
