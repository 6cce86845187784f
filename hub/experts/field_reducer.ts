/**
 * field_reducer: keeps only the listed fields (`type: whitelist`) or removes them (`type: blacklist`). A name
 * also covers the entries under it, so `extra` stands for every `extra.*` field. An event left with no field at
 * all is dropped with a warning, as IntelMQ drops an empty message.
 */
import Type from 'typebox';
import { defineExpert, type Event } from '../pipeline/define.js';
import { configError } from './_config.js';
import { eachEvent } from './_each.js';
import { StringList, toList } from './_lists.js';

export default defineExpert({
  name: 'field_reducer',
  summary: 'Keeps only the listed fields (whitelist) or removes them (blacklist).',
  intelmq: 'intelmq.bots.experts.field_reducer.expert',
  params: Type.Object(
    {
      type: Type.Union([Type.Literal('whitelist'), Type.Literal('blacklist')], { description: 'whitelist: keep only `keys`; blacklist: remove `keys`.' }),
      keys: StringList('Field names, as a list or comma-separated; a name covers its sub-fields (extra → extra.*).'),
    },
    { additionalProperties: false },
  ),
  examples: [
    {
      description: 'whitelist keeps only the listed fields',
      params: { type: 'whitelist', keys: 'source.ip, feed.name' },
      input: [{ 'source.ip': '192.0.2.1', 'source.port': 80, raw: 'YQ==', 'extra.a': 1, 'feed.name': 'F' }],
      output: [{ 'source.ip': '192.0.2.1', 'feed.name': 'F' }],
    },
    {
      description: 'blacklist removes the listed fields; a field the event lacks is no matter',
      params: { type: 'blacklist', keys: ['raw', 'source.port', 'comment'] },
      input: [{ 'source.ip': '192.0.2.1', 'source.port': 80, raw: 'YQ==', 'feed.name': 'F' }],
      output: [{ 'source.ip': '192.0.2.1', 'feed.name': 'F' }],
    },
    {
      description: 'An event left with no field is dropped (with a warning), as in IntelMQ',
      params: { type: 'whitelist', keys: ['source.fqdn'] },
      input: [{ 'source.ip': '192.0.2.1', 'feed.name': 'F' }, { 'source.fqdn': 'a.example', 'feed.name': 'F' }],
      output: [{ 'source.fqdn': 'a.example' }],
    },
    {
      description: 'A name covers the fields under it: extra stands for every extra.* field',
      params: { type: 'blacklist', keys: 'extra,source' },
      input: [{ 'source.ip': '192.0.2.1', 'source.port': 80, 'extra.a': 1, 'extra.b': 2, 'feed.name': 'F' }],
      output: [{ 'feed.name': 'F' }],
    },
  ],
  create(params, ctx) {
    const keys = new Set(toList(params.keys));
    if (keys.size === 0) throw configError('keys', 'name at least one field');
    const listed = (key: string): boolean => {
      if (keys.has(key)) return true;
      for (let dot = key.indexOf('.'); dot > 0; dot = key.indexOf('.', dot + 1)) if (keys.has(key.slice(0, dot))) return true;
      return false;
    };
    const keepListed = params.type === 'whitelist';
    let emptied = 0;
    const reduce = (event: Event): boolean => {
      for (const key of Object.keys(event)) if (listed(key) !== keepListed) delete event[key];
      // IntelMQ does not send an empty message (it warns and drops it); an event with no field says nothing.
      if (Object.keys(event).length > 0) return true;
      emptied++;
      return false;
    };
    return {
      process(events, reject) {
        emptied = 0;
        const kept = eachEvent(events, reject, reduce);
        if (emptied > 0) ctx.log.warn({ events: emptied }, 'Dropped events left with no field.');
        return kept;
      },
    };
  },
});
