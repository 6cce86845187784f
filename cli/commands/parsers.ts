import { fullParamSchema } from '../../agent/parsers/framework/runner.js';
import { parsers } from '../../agent/parsers/registry.js';
import { indent, listingCommand } from './_components.js';

export default listingCommand({
  registry: parsers,
  schema: fullParamSchema,
  examples: (d) =>
    (d.examples ?? [])
      .map((e) => {
        let out = `example: ${e.description}\n`;
        if (e.params) out += `  params: ${JSON.stringify(e.params)}\n`;
        if (e.report) out += `  report: ${JSON.stringify(e.report)}\n`;
        return out + indent(e.input, '  | ');
      })
      .join('\n'),
});
