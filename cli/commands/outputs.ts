import { outputs } from '../../hub/pipeline/registry.js';
import { listingCommand, yamlExamples } from './_components.js';

export default listingCommand({ registry: outputs, examples: (d) => yamlExamples(d.examples, (params) => ({ outputs: [{ type: d.name, name: `my-${d.name}`, params }] })) });
