/**
 * Syslog helpers shared by the tcp and udp listeners: turning received text into the lines the feed's parser
 * reads, optionally without their syslog header, so a `key_value` or `json` parser sees only the message.
 */
import Type from 'typebox';

export const SyslogParams = {
  syslog_header: Type.Union([Type.Literal('keep'), Type.Literal('strip')], {
    default: 'keep',
    description:
      "keep: hand every line to the parser as received; strip: remove an RFC 5424 or RFC 3164 header (PRI, timestamp, host, app/tag …) first. A line without a recognisable header is kept whole.",
  }),
};

// RFC 5424 §6: <PRI>VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP STRUCTURED-DATA [SP MSG].
// STRUCTURED-DATA is "-" or one or more [id param="value" …] elements, where "]", '"' and "\" are escaped (§6.3.3).
const RFC5424 = /^<\d{1,3}>\d{1,2} \S+ \S+ \S+ \S+ \S+ (?:-|(?:\[(?:[^\]"\\]|\\.|"(?:[^"\\]|\\.)*")*\])+)(?: |$)/;
// RFC 3164 §4.1: <PRI>TIMESTAMP HOSTNAME TAG[pid]: MSG, TIMESTAMP "Mmm dd hh:mm:ss" (day space-padded); many senders
// (rsyslog's RSYSLOG_FileFormat) write an ISO timestamp instead. PRI is absent in files written by syslog daemons.
const RFC3164 = /^(?:<\d{1,3}>)?(?:[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) \S+ (?:[^\s:[\]]{1,48}(?:\[[^\]\s]*\])?: ?)?/;
const PRI_ONLY = /^<\d{1,3}>/;

/** The message of one syslog line without its header; the line itself when no header is recognised. */
export function stripSyslogHeader(line: string): string {
  let m = RFC5424.exec(line);
  if (m) {
    const msg = line.slice(m[0].length);
    return msg.startsWith('\uFEFF') ? msg.slice(1) : msg; // RFC 5424 §6.4: MSG may start with a BOM
  }
  m = RFC3164.exec(line);
  if (m) return line.slice(m[0].length);
  m = PRI_ONLY.exec(line);
  return m ? line.slice(m[0].length) : line;
}

/**
 * Joins received messages into one parser input, one message per line. A trailing line break of a message is
 * dropped (many senders end octet-counted frames with one), inner line breaks stay (the parser splits them).
 */
export function toInput(messages: readonly string[], header: 'keep' | 'strip'): string {
  let out = '';
  for (let message of messages) {
    if (message.endsWith('\n')) message = message.slice(0, message.endsWith('\r\n') ? -2 : -1);
    if (header === 'strip') message = message.split('\n').map(stripSyslogHeader).join('\n');
    out += `${message}\n`;
  }
  return out;
}
