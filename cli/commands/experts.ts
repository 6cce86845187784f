import { experts } from '../../hub/pipeline/registry.js';
import { indent, listingCommand, yamlExamples } from './_components.js';

export default listingCommand({
  registry: experts,
  examples: (d) =>
    (d.examples ?? [])
      .map((e) => {
        const config = yamlExamples([e], (params) => ({ experts: [Object.keys(params).length > 0 ? { type: d.name, params } : { type: d.name }] }));
        const events = (list: object[]): string => (list.length === 0 ? '  (none: dropped)\n' : indent(list.map((x) => JSON.stringify(x)).join('\n')));
        return `${config}  in:\n${indent(events(e.input))}  out:\n${indent(events(e.output))}`;
      })
      .join('\n'),
});
