import { allParsers, loadParser } from '../../agent/parsers/registry.js';
import { fullParamSchema } from '../../agent/parsers/framework/runner.js';

export default {
  summary: 'list parsers or show one',
  usage: 'usage: vigil parsers [NAME]\n\nLists every parser with its summary; with NAME, shows its parameters and an example.',
  async run(argv: string[]): Promise<number> {
    const [name] = argv;
    if (!name) {
      const parsers = await allParsers();
      const width = Math.max(...parsers.map((p) => p.name.length));
      for (const p of parsers) process.stdout.write(`${p.name.padEnd(width)}  ${p.summary}\n`);
      return 0;
    }
    const parser = await loadParser(name);
    const schema = fullParamSchema(parser) as { properties: Record<string, { description?: string; default?: unknown; type?: unknown }>; required?: string[] };
    let out = `${parser.name} — ${parser.summary}\n`;
    if (parser.intelmq) out += `IntelMQ: ${parser.intelmq}\n`;
    out += '\nparameters:\n';
    for (const [key, prop] of Object.entries(schema.properties)) {
      const def = prop.default === undefined ? '' : ` (default: ${JSON.stringify(prop.default)})`;
      out += `  ${key}${def}\n      ${prop.description ?? ''}\n`;
    }
    for (const example of parser.examples ?? []) {
      out += `\nexample: ${example.description}\n`;
      if (example.params) out += `  params: ${JSON.stringify(example.params)}\n`;
      if (example.report) out += `  report: ${JSON.stringify(example.report)}\n`;
      out += example.input.split('\n').map((l) => `  | ${l}`).join('\n') + '\n';
    }
    process.stdout.write(out);
    return 0;
  },
};
