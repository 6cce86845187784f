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
import { compileSieve, SieveError } from './_sieve/index.js';

export default defineExpert({
  name: 'sieve',
  summary: "Filters and modifies events with a rule file in IntelMQ's sieve language (if/elif/else, keep, drop, add, update, remove, path).",
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
