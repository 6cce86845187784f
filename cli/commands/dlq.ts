/** `vigil dlq …` is `vigil ctl deadletters …`: the dead letters of a running hub, through its API. */
import ctl from './ctl.js';

export default {
  summary: 'dead letters of a running hub (vigil ctl deadletters)',
  usage: `usage: vigil dlq list [--limit N] [--after ID] | show ID | reinject ID | delete ID   [--url URL] [--token TOKEN] [--json]

The same as 'vigil ctl deadletters …'. Re-injecting never duplicates what already arrived.`,
  run: (argv: string[]): Promise<number> => ctl.run(['deadletters', ...argv]),
};
