/**
 * taxonomy: fills `classification.taxonomy` from `classification.type` (and the other way round where only the
 * taxonomy is known, with type `undetermined`), following the RSIT-based mapping of the ontology.
 */
import Type from 'typebox';
import { taxonomyOf } from '../../common/harmonization/index.js';
import { defineExpert, type Event } from '../pipeline/define.js';
import { eachEvent } from './_each.js';

export default defineExpert({
  name: 'taxonomy',
  summary: 'Sets classification.taxonomy from classification.type (other/undetermined when neither is known).',
  intelmq: 'intelmq.bots.experts.taxonomy.expert',
  params: Type.Object({}, { additionalProperties: false }),
  examples: [
    {
      description: 'The taxonomy follows from the type',
      input: [{ 'classification.type': 'phishing', 'source.url': 'http://login.example.com/' }, { 'classification.type': 'scanner', 'source.ip': '192.0.2.1' }],
      output: [
        { 'classification.type': 'phishing', 'classification.taxonomy': 'fraud', 'source.url': 'http://login.example.com/' },
        { 'classification.type': 'scanner', 'classification.taxonomy': 'information-gathering', 'source.ip': '192.0.2.1' },
      ],
    },
    {
      description: 'A taxonomy the event already has is kept',
      input: [{ 'classification.type': 'scanner', 'classification.taxonomy': 'other' }],
      output: [{ 'classification.type': 'scanner', 'classification.taxonomy': 'other' }],
    },
    {
      description: 'Without a type: type undetermined, and taxonomy other unless one is given',
      input: [{ 'source.ip': '192.0.2.1' }, { 'classification.taxonomy': 'malicious-code' }],
      output: [
        { 'source.ip': '192.0.2.1', 'classification.type': 'undetermined', 'classification.taxonomy': 'other' },
        { 'classification.taxonomy': 'malicious-code', 'classification.type': 'undetermined' },
      ],
    },
  ],
  create() {
    const classify = (event: Event): void => {
      const type = event['classification.type'] as string | undefined;
      if (type === undefined) {
        event['classification.type'] = 'undetermined';
        if (event['classification.taxonomy'] === undefined) event['classification.taxonomy'] = 'other';
      } else if (event['classification.taxonomy'] === undefined) {
        event['classification.taxonomy'] = taxonomyOf(type);
      }
    };
    return { process: (events, reject) => eachEvent(events, reject, classify) };
  },
});
