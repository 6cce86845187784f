/**
 * AlienVault IP reputation list (`reputation.data`): one `#`-separated line per address,
 * `ip#reliability#risk#activity#country#city#latitude,longitude#…`. The activity column may name several
 * activities separated by `;`; each one becomes its own event with the same address.
 */
import { VigilError } from '../../../common/errors.js';
import { pyStrip } from '../../../common/harmonization/text.js';
import { defineParser, NoParams, type Fields } from '../framework/define.js';

/**
 * Activity (lower case) → classification.type, as IntelMQ's table has it; any other activity is `undetermined`
 * (the key is "c2server": an activity spelt otherwise, e.g. "C&C", is `undetermined` in IntelMQ too).
 */
const ACTIVITY_TYPES: ReadonlyMap<string, string> = new Map([
  ['c2server', 'c2-server'],
  ['scanning host', 'scanner'],
  ['malicious host', 'infected-system'],
  ['spamming', 'spam'],
  ['malware domain', 'malware-distribution'],
  ['malware ip', 'malware-distribution'],
  ['malware distribution', 'malware-distribution'],
]);

/** The `#`-separated columns that are mapped (columns 2, 3 and 8 are not). */
const COLUMNS = new Map<string, string>([
  ['1 (address)', 'source.ip'],
  ['4 (activity)', 'classification.type, by the table above'],
  ['5 (country code)', 'source.geolocation.cc'],
  ['6 (city)', 'source.geolocation.city'],
  ['7 (latitude,longitude)', 'source.geolocation.latitude, source.geolocation.longitude'],
]);

export default defineParser({
  name: 'alienvault',
  summary: 'AlienVault IP reputation list (reputation.data): one event per listed address and activity.',
  intelmq: 'intelmq.bots.parsers.alienvault.parser',
  params: NoParams,
  input: { kind: 'lines' },
  mappings: [
    { title: 'Activity (column 4, case-insensitive)', columns: ['activity', 'classification.type'], rows: ACTIVITY_TYPES, note: 'Any other activity is `undetermined`; `a;b` gives one event per activity.' },
    { title: 'Columns (`#`-separated)', columns: ['column', 'field'], rows: COLUMNS },
  ],
  examples: [
    {
      description: 'a scanning and spamming host',
      input: '192.0.2.10#4#2#Scanning Host;Spamming#AT#Vienna#48.2,16.37#3\n',
      report: { 'feed.url': 'https://reputation.alienvault.com/reputation.data' },
    },
  ],

  parse(record) {
    // IntelMQ strips each line before parsing and keeps the stripped line as raw.
    const line = pyStrip(record.value as string);
    const values = line.split('#');
    if (values.length < 7) throw new VigilError('VIGIL_E_RECORD', `expected at least 7 '#'-separated columns, found ${values.length}`);
    const activity = values[3]!;
    // As in IntelMQ: split only when a ';' follows the first character, and keep the parts unstripped.
    const activities = pyStrip(activity).indexOf(';') > 0 ? activity.split(';') : [activity];

    // IntelMQ cannot make an event without both coordinates (the line fails there): reject it with the reason.
    const coordinates = pyStrip(values[6]!).split(',');
    if (coordinates.length !== 2) throw new VigilError('VIGIL_E_RECORD', `expected "latitude,longitude" in column 7, found ${JSON.stringify(values[6])}`);
    const [latitude, longitude] = coordinates.map(pyStrip);

    const events: Fields[] = [];
    for (const name of activities) {
      events.push({
        'classification.type': ACTIVITY_TYPES.get(name.toLowerCase()) ?? 'undetermined',
        'source.ip': pyStrip(values[0]!),
        'source.geolocation.cc': pyStrip(values[4]!),
        'source.geolocation.city': pyStrip(values[5]!),
        'source.geolocation.latitude': latitude,
        'source.geolocation.longitude': longitude,
        raw: line,
      });
    }
    return events;
  },
});
