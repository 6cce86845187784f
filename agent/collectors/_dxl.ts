/**
 * The OpenDXL wire format: the client configuration file (dxlclient.config) and the message a DXL client publishes
 * over MQTT. A message is a run of msgpack values, not one array: version, type, then the version-0 fields
 * (message id, source client id, source broker id, broker ids, client ids, payload), then, from version 1, the
 * "other fields" as a flat key/value list, and from version 2 the source tenant and the destination tenants. A
 * request carries two more version-0 fields after the payload (reply-to topic, service id); an event none.
 * (Facts from opendxl-client-python's dxlclient/message.py and client_config.py.)
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { Packr, Unpackr } from 'msgpackr';

export const DXL_MESSAGE_VERSION = 2;
const TYPE_NAMES = ['request', 'response', 'event', 'error'] as const;
export const DXL_TYPE_EVENT = 2;

export interface DxlEvent {
  version: number;
  messageId: string;
  sourceClientId: string;
  sourceBrokerId: string;
  payload: Buffer;
  otherFields: Record<string, string>;
  sourceTenantGuid?: string;
}

// Plain msgpack both ways: no records or structure extensions, which DXL peers do not know.
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });
const packr = new Packr({ useRecords: false });

/** A message that is not a DXL event this collector can take, with why. */
export class DxlDecodeError extends Error {}

const text = (v: unknown, field: string): string => {
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return Buffer.from(v).toString('utf8');
  if (v === null) return '';
  throw new DxlDecodeError(`${field} is not a string (${typeof v})`);
};

const texts = (v: unknown, field: string): string[] => {
  if (!Array.isArray(v)) throw new DxlDecodeError(`${field} is not an array`);
  return v.map((x, i) => text(x, `${field}[${i}]`));
};

/** Decodes one MQTT payload as a DXL event; throws DxlDecodeError with the reason otherwise. */
export function decodeDxlEvent(frame: Uint8Array): DxlEvent {
  let values: unknown[];
  try {
    values = unpackr.unpackMultiple(frame);
  } catch (err) {
    throw new DxlDecodeError(`not msgpack: ${(err as Error).message}`);
  }
  const [version, type] = values;
  if (!Number.isInteger(version) || (version as number) < 0) throw new DxlDecodeError(`no DXL message version (first value: ${JSON.stringify(version)})`);
  if (type !== DXL_TYPE_EVENT) {
    const name = typeof type === 'number' ? TYPE_NAMES[type] : undefined;
    throw new DxlDecodeError(name ? `a DXL ${name}, not an event` : `unknown DXL message type ${JSON.stringify(type)}`);
  }
  const v = version as number;
  const expected = 8 + (v > 0 ? 1 : 0) + (v > 1 ? 2 : 0);
  if (values.length < expected) throw new DxlDecodeError(`a version-${v} DXL event has ${expected} values, this one ${values.length}`);
  const payload = values[7];
  const event: DxlEvent = {
    version: v,
    messageId: text(values[2], 'message id'),
    sourceClientId: text(values[3], 'source client id'),
    sourceBrokerId: text(values[4], 'source broker id'),
    payload: typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload instanceof Uint8Array ? Buffer.from(payload) : fail(`payload is neither bytes nor a string (${typeof payload})`),
    otherFields: {},
  };
  texts(values[5], 'broker ids');
  texts(values[6], 'client ids');
  if (v > 0) {
    const flat = texts(values[8], 'other fields');
    if (flat.length % 2 !== 0) throw new DxlDecodeError('other fields is not a list of key/value pairs');
    for (let i = 0; i < flat.length; i += 2) event.otherFields[flat[i]!] = flat[i + 1]!;
  }
  if (v > 1) {
    event.sourceTenantGuid = text(values[9], 'source tenant guid');
    texts(values[10], 'destination tenant guids');
  }
  return event;
}

function fail(reason: string): never {
  throw new DxlDecodeError(reason);
}

/** Encodes a DXL event as a DXL client publishes it (tests; a bridge). */
export function encodeDxlEvent(payload: Uint8Array | string, options: { version?: number; messageId?: string; sourceClientId?: string; otherFields?: Record<string, string> } = {}): Buffer {
  const version = options.version ?? DXL_MESSAGE_VERSION;
  const values: unknown[] = [version, DXL_TYPE_EVENT, options.messageId ?? '{00000000-0000-0000-0000-000000000000}', options.sourceClientId ?? '', '', [], [], typeof payload === 'string' ? Buffer.from(payload) : payload];
  if (version > 0) values.push(Object.entries(options.otherFields ?? {}).flat());
  if (version > 1) values.push('', []);
  return Buffer.concat(values.map((v) => packr.pack(v)));
}

export interface DxlBroker {
  id?: string;
  host: string;
  port: number;
  /** The broker's IP address, tried where its host name does not resolve. */
  ip?: string;
}

export interface DxlClientConfig {
  brokers: DxlBroker[];
  /** CA bundle, client certificate and key: paths resolved as the DXL client does (next to the config file). */
  brokerCertChain: string;
  certFile: string;
  privateKey: string;
  clientId?: string;
}

/** A problem in the DXL configuration file: the key where it is and what was expected. */
export class DxlConfigError extends Error {
  constructor(
    readonly key: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Reads a DXL client configuration file (ConfigObj INI: `[Section]`, `key=value`, `#` and `;` comment lines).
 * Values are not split at `;`: a broker line is `[id;]port;hostname[;ip]`.
 */
export function readDxlClientConfig(file: string): DxlClientConfig {
  const sections = parseIni(readFileSync(file, 'utf8'));
  const get = (section: string, key: string): string => {
    const value = Object.entries(sections[section] ?? {}).find(([k]) => k.toLowerCase() === key.toLowerCase())?.[1];
    if (value === undefined || value === '') throw new DxlConfigError(`[${section}] ${key}`, 'missing; expected a file path');
    return value;
  };
  const path = (key: string): string => {
    const value = get('Certs', key);
    if (isAbsolute(value) || existsSync(value)) return value;
    return join(dirname(file), value);
  };
  const brokers = Object.entries(sections.Brokers ?? {}).map(([name, value]) => parseBroker(name, value));
  if (brokers.length === 0) throw new DxlConfigError('[Brokers]', 'no broker; expected lines like id=id;8883;broker.example.org;192.0.2.1 (WebSocket brokers are not supported)');
  const clientId = Object.entries(sections.General ?? {}).find(([k]) => k.toLowerCase() === 'clientid')?.[1];
  return { brokers, brokerCertChain: path('BrokerCertChain'), certFile: path('CertFile'), privateKey: path('PrivateKey'), clientId: clientId || undefined };
}

function parseBroker(name: string, value: string): DxlBroker {
  const parts = value.split(';').map((p) => p.trim());
  const isPort = (s: string | undefined): boolean => s !== undefined && /^\d{1,5}$/.test(s) && Number(s) > 0 && Number(s) < 65536;
  // As DXL reads it: a line may start with the port (no unique id) or with the id.
  const [id, port, host, ip] = isPort(parts[0]) ? [undefined, parts[0], parts[1], parts[2]] : [parts[0], parts[1], parts[2], parts[3]];
  if (!isPort(port) || !(host || ip)) throw new DxlConfigError(`[Brokers] ${name}`, `expected [id;]port;hostname[;ip], got '${value}'`);
  return { id, port: Number(port), host: host || ip!, ip: ip || undefined };
}

function parseIni(source: string): Record<string, Record<string, string>> {
  const sections: Record<string, Record<string, string>> = {};
  let current: Record<string, string> | undefined;
  for (const raw of source.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[\s*([^\]]+?)\s*\]$/.exec(line);
    if (header) {
      current = sections[header[1]!] ??= {};
      continue;
    }
    const eq = line.indexOf('=');
    if (eq <= 0 || !current) continue;
    current[line.slice(0, eq).trim()] = line.slice(eq + 1).trim().replace(/^(["'])(.*)\1$/, '$2');
  }
  return sections;
}
