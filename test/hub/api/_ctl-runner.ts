/**
 * Runs `vigil ctl` the way bin/vigil.js does, for checkouts where cli/vigil.ts does not list `ctl` yet (the
 * end-to-end test prefers `node bin/vigil.js ctl` as soon as it does).
 */
import ctl from '../../../cli/commands/ctl.js';

const argv = process.argv.slice(2);
if (argv.includes('--help') || argv.includes('-h')) {
  process.stdout.write(`${ctl.usage}\n`);
} else {
  process.exitCode = await ctl.run(argv);
}
