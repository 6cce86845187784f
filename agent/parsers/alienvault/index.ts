/**
 * AlienVault IP reputation list (`reputation.data`): one `#`-separated line per address,
 * `ip#reliability#risk#activity#country#city#latitude,longitude#…`. The activity column may name several
 * activities separated by `;`; each one becomes its own event with the same address.
 */
import { VigilError } from '../../../common/errors.js';
import { pyStrip } from '../../../common/harmonization/text.js';
import { defineParser, NoParams, type Fields } from '../framework/define.js';

/** Activity (lower case) → classification.type; any other activity is `undetermined`. */
const ACTIVITY_TYPES: ReadonlyMap<string, string> = new Map([
  ['c&c', 'c2-server'],
  ['scanning host', 'scanner'],
  ['malicious host', 'malware-distribution'],
  ['spamming', 'spam'],
  ['malware domain', 'malware-distribution'],
  ['malware ip', 'malware-distribution'],
  ['malware distribution', 'malware-distribution'],
]);

export default defineParser({
  name: 'alienvault',
  summary: 'AlienVault IP reputation list (reputation.data): one event per listed address and activity.',
  intelmq: 'intelmq.bots.parsers.alienvault.parser',
  params: NoParams,
  input: { kind: 'lines' },
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

    let latitude: string | undefined;
    let longitude: string | undefined;
    const coordinates = pyStrip(values[6]!);
    if (coordinates.length > 0) {
      const parts = coordinates.split(',');
      // IntelMQ fails the line when the coordinates are missing or malformed; we keep the event without them.
      if (parts.length === 2) [latitude, longitude] = [pyStrip(parts[0]!), pyStrip(parts[1]!)];
    }

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
