/**
 * Child of store-migration.test.ts: moves an old-layout database into sublevels in small steps and kills itself
 * with SIGKILL after the step named on the command line, as a power cut or an OOM kill would stop a hub mid-way.
 */
import { Level } from 'level';
import { layout } from '../../../hub/store/index.js';
import { migrateLayout } from '../../../hub/store/migrate.js';

const [dir, stepKeys, killAfter] = process.argv.slice(2);
const db = new Level<string, Buffer>(dir!, { valueEncoding: 'buffer' });
await db.open();
let steps = 0;
await migrateLayout(db, layout(db), {
  stepKeys: Number(stepKeys),
  afterStep: () => {
    if (++steps === Number(killAfter)) process.kill(process.pid, 'SIGKILL');
  },
});
process.exit(3); // not reached unless the move had fewer steps than asked for
