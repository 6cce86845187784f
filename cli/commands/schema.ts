import { ontologyJsonSchema } from '../../common/harmonization/index.js';

export default {
  summary: 'print the event ontology as JSON Schema',
  usage: 'usage: vigil schema\n\nPrints the event ontology (IntelMQ Data Harmonization Ontology) as JSON Schema.',
  async run(): Promise<number> {
    process.stdout.write(`${JSON.stringify(ontologyJsonSchema(), null, 2)}\n`);
    return 0;
  },
};
