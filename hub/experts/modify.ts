/**
 * modify: applies the rules of an IntelMQ modify file (`configuration_path`, JSON or YAML): a list of
 * `{ "rulename", "if": {field: condition}, "then": {field: value} }`, applied in order, every matching rule.
 * A condition "" means "field not set"; another string is a Python-style regular expression searched in the
 * value (as text; `case_sensitive: false` ignores case); any other JSON value must equal the field's value.
 * A `then` string is a Python format template: `{msg[field]}` is the event's value, `{matches[field][1]}`
 * (or `[name]`) a group of that field's condition match; `{{`/`}}` are literal braces. Rules replace values the
 * event has (`overwrite`, true by default as in IntelMQ's code — its docs say false, but the bot has always run
 * with true), and "" then removes the field; with `overwrite: false` existing values are kept.
 * `maximum_matches` stops after that many rules matched.
 */
import Type from 'typebox';
import { parse as parseYaml } from 'yaml';
import { add } from '../../common/harmonization/index.js';
import { defineExpert, type Event } from '../pipeline/define.js';
import { configError, readParamFile } from './_config.js';
import { eachEvent } from './_each.js';
import { pyRegex } from '../../common/pyregex.js';

type Part = string | { source: 'msg'; key: string } | { source: 'matches'; key: string; group: number | string };

interface Condition {
  key: string;
  /** undefined: the field must be absent. */
  test: RegExp | { equals: unknown } | undefined;
}

interface Rule {
  name: string;
  conditions: Condition[];
  actions: { key: string; value: unknown; template: Part[] | undefined }[];
}

/** Python str() of a value, for regular expressions and templates. */
function text(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'number') return String(v);
  return JSON.stringify(v);
}

/** Parses a Python format string limited to `{msg[key]}` and `{matches[key][group]}`. */
export function parseTemplate(template: string): Part[] {
  const parts: Part[] = [];
  let literal = '';
  for (let i = 0; i < template.length; i++) {
    const c = template[i]!;
    if ((c === '{' || c === '}') && template[i + 1] === c) {
      literal += c;
      i++;
      continue;
    }
    if (c === '}') throw new Error(`single '}' at position ${i} (write '}}' for a brace)`);
    if (c !== '{') {
      literal += c;
      continue;
    }
    const end = template.indexOf('}', i);
    if (end < 0) throw new Error(`unclosed '{' at position ${i}`);
    const field = template.slice(i + 1, end);
    const m = /^(msg|matches)\[([^\]]+)\](?:\[([^\]]+)\])?$/.exec(field);
    if (m === null || (m[1] === 'msg') !== (m[3] === undefined)) {
      throw new Error(`{${field}} is not supported; use {msg[field]} or {matches[field][group]}`);
    }
    if (literal !== '') parts.push(literal);
    literal = '';
    if (m[1] === 'msg') parts.push({ source: 'msg', key: m[2]! });
    else parts.push({ source: 'matches', key: m[2]!, group: /^\d+$/.test(m[3]!) ? Number(m[3]) : m[3]! });
    i = end;
  }
  if (literal !== '') parts.push(literal);
  return parts;
}

function render(parts: Part[], event: Event, matches: Map<string, RegExpExecArray>): string {
  let out = '';
  for (const p of parts) {
    if (typeof p === 'string') out += p;
    else if (p.source === 'msg') {
      const v = event[p.key];
      if (v === undefined) throw new Error(`{msg[${p.key}]}: the event has no ${p.key}`);
      out += text(v);
    } else {
      const m = matches.get(p.key);
      if (m === undefined) throw new Error(`{matches[${p.key}][${p.group}]}: no regular expression matched ${p.key} in this rule`);
      // A group that took no part in the match gives "" (Python would print "None").
      out += (typeof p.group === 'number' ? m[p.group] : m.groups?.[p.group]) ?? '';
    }
  }
  return out;
}

function loadRules(text: string, file: string, ignoreCase: boolean): Rule[] {
  let data: unknown;
  try {
    data = /\.ya?ml$/i.test(file) ? parseYaml(text) : JSON.parse(text);
  } catch (err) {
    throw configError('configuration_path', `${file} is not valid ${/\.ya?ml$/i.test(file) ? 'YAML' : 'JSON'}: ${(err as Error).message}`);
  }
  if (!Array.isArray(data)) throw configError('configuration_path', `${file} must hold a list of rules ({rulename, if, then}); the dict format of IntelMQ < 2.0 is not supported`);
  return data.map((raw, i) => {
    const where = `${file}: rule ${i + 1}`;
    if (typeof raw !== 'object' || raw === null) throw configError('configuration_path', `${where} is not an object`);
    const r = raw as Record<string, unknown>;
    const name = typeof r.rulename === 'string' ? r.rulename : `#${i + 1}`;
    const cond = r.if;
    const then = r.then;
    if (typeof cond !== 'object' || cond === null || Array.isArray(cond)) throw configError('configuration_path', `${where} (${name}) needs an "if" object`);
    if (typeof then !== 'object' || then === null || Array.isArray(then)) throw configError('configuration_path', `${where} (${name}) needs a "then" object`);
    const conditions = Object.entries(cond).map(([key, v]): Condition => {
      if (v === '') return { key, test: undefined };
      if (typeof v !== 'string') return { key, test: { equals: v } };
      try {
        return { key, test: pyRegex(v, { ignoreCase }) };
      } catch (err) {
        throw configError('configuration_path', `${where} (${name}), if ${key}: ${(err as Error).message}`);
      }
    });
    const actions = Object.entries(then).map(([key, value]) => {
      if (typeof value !== 'string') return { key, value, template: undefined };
      try {
        return { key, value, template: parseTemplate(value) };
      } catch (err) {
        throw configError('configuration_path', `${where} (${name}), then ${key}: ${(err as Error).message}`);
      }
    });
    return { name, conditions, actions };
  });
}

/** The regular-expression matches of a rule's conditions, or undefined when the rule does not match. */
function matchRule(rule: Rule, event: Event): Map<string, RegExpExecArray> | undefined {
  const matches = new Map<string, RegExpExecArray>();
  for (const { key, test } of rule.conditions) {
    const v = event[key];
    if (test === undefined) {
      if (v !== undefined) return undefined;
    } else if (v === undefined) {
      return undefined;
    } else if (test instanceof RegExp) {
      const m = test.exec(text(v));
      if (m === null) return undefined;
      matches.set(key, m);
    } else if (v !== test.equals) {
      return undefined;
    }
  }
  return matches;
}

export default defineExpert({
  name: 'modify',
  summary: 'Changes field values with the if/then rules of an IntelMQ modify file (regular expressions, match groups, templates).',
  intelmq: 'intelmq.bots.experts.modify.expert',
  params: Type.Object(
    {
      configuration_path: Type.String({ description: 'The rule file, JSON (IntelMQ modify.conf format) or YAML, relative to the config file.' }),
      case_sensitive: Type.Boolean({ default: true, description: 'false: the conditions\' regular expressions ignore case.' }),
      maximum_matches: Type.Union([Type.Integer({ minimum: 1 }), Type.Null()], { default: null, description: 'Stop after this many rules matched an event; null: apply every matching rule.' }),
      overwrite: Type.Boolean({
        default: true,
        description: 'Let rules replace values the event already has ("" then removes the field); false keeps them. True by default, as IntelMQ\'s bot runs (its docs say false).',
      }),
    },
    { additionalProperties: false },
  ),
  intelmqParams: {
    overwrite: { to: 'overwrite', intelmqDefault: true, note: 'Vigil\'s default is IntelMQ\'s code\'s (true), not its docs\' (false)' },
  },
  examples: [
    {
      description: 'A regular-expression rule sets a value; every matching rule applies; with overwrite false, a later rule does not replace a value the event has or an earlier rule set',
      params: { configuration_path: 'modify-rules.json', overwrite: false },
      input: [{ 'feed.name': 'Spamhaus Cert', 'malware.name': 'confickerab' }],
      output: [{ 'feed.name': 'Spamhaus Cert', 'malware.name': 'confickerab', 'classification.identifier': 'conficker', tlp: 'AMBER' }],
    },
    {
      description: 'A match group feeds a template; by default (overwrite, as IntelMQ runs) a rule replaces a value, and later rules see the new one',
      params: { configuration_path: 'modify-rules.json' },
      input: [{ 'feed.name': 'Spamhaus Cert', 'malware.name': 'bitdefender-zeus' }],
      output: [{ 'feed.name': 'Spamhaus Cert', 'malware.name': 'zeus', 'classification.identifier': 'zeus', tlp: 'AMBER' }],
    },
    {
      description: 'A number condition compares for equality; "" means the field is not set; maximum_matches stops after that many rules',
      params: { configuration_path: 'modify-rules.json', maximum_matches: 1 },
      input: [{ 'destination.port': 3389, 'destination.ip': '192.0.2.1' }, { 'destination.port': 3389, 'destination.ip': '192.0.2.1', tlp: 'RED' }],
      output: [
        { 'destination.port': 3389, 'destination.ip': '192.0.2.1', tlp: 'AMBER' },
        { 'destination.port': 3389, 'destination.ip': '192.0.2.1', tlp: 'RED', 'protocol.application': 'rdp', 'extra.note': 'port 3389 on 192.0.2.1' },
      ],
    },
    {
      description: 'A template naming a field the event lacks rejects that event',
      rejects: 1,
      params: { configuration_path: 'modify-rules.json' },
      input: [{ 'feed.name': 'Spamhaus Cert' }, { 'feed.name': 'Other', 'source.url': 'http://blog.example.com/wp-admin/x' }],
      output: [{ 'feed.name': 'Other', 'source.url': 'http://blog.example.com/wp-admin/x', tlp: 'AMBER', 'extra.cms_host': 'blog.example.com' }],
    },
  ],
  create(params, ctx) {
    const { path, text: content } = readParamFile('configuration_path', params.configuration_path, ctx.resolvePath);
    const rules = loadRules(content, path, !params.case_sensitive);
    const limit = params.maximum_matches ?? Number.POSITIVE_INFINITY;
    const overwrite = params.overwrite;
    const modify = (event: Event): void => {
      let matched = 0;
      for (const rule of rules) {
        const matches = matchRule(rule, event);
        if (matches === undefined) continue;
        for (const a of rule.actions) {
          try {
            const value = a.template === undefined ? a.value : render(a.template, event, matches);
            add(event, a.key, value, { overwrite });
          } catch (err) {
            throw new Error(`modify rule '${rule.name}': ${(err as Error).message}`, { cause: err });
          }
        }
        if (++matched >= limit) break;
      }
    };
    return { process: (events, reject) => eachEvent(events, reject, modify) };
  },
});
