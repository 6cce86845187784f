/**
 * taxonomy: fills `classification.taxonomy` from `classification.type` (and the other way round where only the
 * taxonomy is known, with type `undetermined`), following the RSIT-based mapping of the ontology.
 */
import Type from 'typebox';
import { taxonomyOf } from '../../common/harmonization/index.js';
import { defineExpert } from '../pipeline/define.js';

export default defineExpert({
  name: 'taxonomy',
  summary: 'Sets classification.taxonomy from classification.type (other/undetermined when neither is known).',
  params: Type.Object({}, { additionalProperties: false }),
  create() {
    return {
      process(events) {
        for (const event of events) {
          const type = event['classification.type'] as string | undefined;
          if (type === undefined) {
            event['classification.type'] = 'undetermined';
            if (event['classification.taxonomy'] === undefined) event['classification.taxonomy'] = 'other';
          } else if (event['classification.taxonomy'] === undefined) {
            event['classification.taxonomy'] = taxonomyOf(type);
          }
        }
        return events;
      },
    };
  },
});
