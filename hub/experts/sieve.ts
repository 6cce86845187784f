/**
 * sieve: filters and changes events with rules in IntelMQ's sieve language (hub/experts/_sieve), so IntelMQ sieve
 * files work unchanged. `drop` removes the event; an action that cannot apply (a value the field refuses)
 * rejects that one event with the rule's line. Vigil has no named queues: `path 'name'` writes the name into
 * `path_field` (default `extra.path`), where an output's `when:` condition can route on it
 * (`extra.path == 'abuse'`; several paths become a list: `extra.path :overlaps ['abuse']`).
 */
import Type from 'typebox';
import { add, isKnownField } from '../../common/harmonization/index.js';
import { defineExpert } from '../pipeline/define.js';
import { configError, readParamFile } from './_config.js';
import { eachEvent } from './_each.js';
import { compileSieve, SieveError } from '../conditions/index.js';

export default defineExpert({
  name: 'sieve',
  summary: "Filters and modifies events with a rule file in IntelMQ's sieve language (if/elif/else, keep, drop, add, update, remove, path).",
  intelmq: 'intelmq.bots.experts.sieve.expert',
  params: Type.Object(
    {
      file: Type.String({ description: 'The sieve rule file (relative to the config file); check it with vigil check.' }),
      path_field: Type.String({
        default: 'extra.path',
        description: "Field that receives the name given by a `path` action, for outputs' when: conditions; empty: path actions are ignored.",
      }),
    },
    { additionalProperties: false },
  ),
  examples: [
    {
      description: "drop: the CERT's own networks, its monitoring hosts and events from before 2000 (rules of test/fixtures/experts/cert-triage.sieve)",
      params: { file: 'cert-triage.sieve' },
      input: [
        { 'feed.name': 'Honeypot', 'source.ip': '192.0.2.5' },
        { 'feed.name': 'Honeypot', 'source.ip': '198.51.100.20', 'source.fqdn': 'probe1.monitoring.example.net' },
        { 'feed.name': 'Honeypot', 'source.ip': '198.51.100.20', 'time.source': '1999-01-01T00:00:00+00:00' },
      ],
      output: [],
    },
    {
      description: "Phishing on a .at domain gets a comment and the path 'national' (in extra.path, for outputs' when:); keep ends the rules, so raw stays",
      params: { file: 'cert-triage.sieve' },
      input: [{ 'feed.name': 'Phishtank', 'classification.type': 'phishing', 'source.fqdn': 'login.example.at', 'source.ip': '198.51.100.20', raw: 'YQ==' }],
      output: [
        { 'feed.name': 'Phishtank', 'classification.type': 'phishing', 'source.fqdn': 'login.example.at', 'source.ip': '198.51.100.20', raw: 'YQ==', comment: 'national phishing desk', 'extra.path': 'national' },
      ],
    },
    {
      description: 'A scanner on SSH from a feed trusted less: its accuracy updated, a severity added, raw removed by the last rule',
      params: { file: 'cert-triage.sieve' },
      input: [{ 'feed.name': 'Blocklist.de SSH', 'feed.accuracy': 100, 'classification.type': 'scanner', 'source.ip': '198.51.100.20', 'source.port': 22, raw: 'YQ==' }],
      output: [{ 'feed.name': 'Blocklist.de SSH', 'feed.accuracy': 50, 'classification.type': 'scanner', 'source.ip': '198.51.100.20', 'source.port': 22, 'extra.severity': 'low' }],
    },
  ],
  create(params, ctx) {
    const { path: file, text } = readParamFile('file', params.file, ctx.resolvePath);
    let run: ReturnType<typeof compileSieve>;
    try {
      run = compileSieve(text);
    } catch (err) {
      if (err instanceof SieveError) throw configError('file', `${file}: ${err.message}`);
      throw err;
    }
    const pathField = params.path_field;
    if (pathField !== '' && !isKnownField(pathField)) throw configError('path_field', `${pathField} is not a field of the event ontology`);
    return {
      process: (events, reject) =>
        eachEvent(events, reject, (event) => {
          const outcome = run(event);
          if (outcome.drop) return false;
          if (outcome.paths !== undefined && pathField !== '') {
            add(event, pathField, outcome.paths.length === 1 ? outcome.paths[0] : outcome.paths, { overwrite: true });
          }
          return true;
        }),
    };
  },
});
