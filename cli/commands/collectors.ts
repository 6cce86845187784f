import { collectors } from '../../agent/collectors/registry.js';
import { collectorBlock } from '../../common/config/component-ref.js';
import { listingCommand, yamlExamples } from './_components.js';

export default listingCommand({ registry: collectors, examples: (d) => yamlExamples(d.examples, (params) => ({ collector: collectorBlock(d.name, params) })) });
