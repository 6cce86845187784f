/**
 * A minimal MaxMind DB (.mmdb, format 2.0) writer for tests: an IPv6 search tree with 24-bit records (IPv4
 * networks live under ::/96, as in MaxMind's own databases), a data section of maps, strings, doubles and
 * unsigned integers, and the metadata block. No npm package writes MMDB files, so the tests build their own.
 */
import { parseNetwork } from '../../../common/networks.js';

type Value = string | number | boolean | Value[] | { [key: string]: Value } | { uint: number };

function control(type: number, size: number): Buffer {
  const head = (t: number, s: number) => (t <= 7 ? Buffer.from([(t << 5) | s]) : Buffer.from([s, t - 7]));
  if (size < 29) return head(type, size);
  if (size < 285) return Buffer.concat([head(type, 29), Buffer.from([size - 29])]);
  const rest = size - 285;
  return Buffer.concat([head(type, 30), Buffer.from([rest >> 8, rest & 255])]);
}

function uintBytes(n: number): Buffer {
  const bytes: number[] = [];
  for (let v = BigInt(n); v > 0n; v >>= 8n) bytes.unshift(Number(v & 255n));
  return Buffer.from(bytes);
}

export function encode(value: Value): Buffer {
  if (typeof value === 'string') {
    const b = Buffer.from(value, 'utf8');
    return Buffer.concat([control(2, b.length), b]);
  }
  if (typeof value === 'number') {
    const b = Buffer.alloc(8);
    b.writeDoubleBE(value);
    return Buffer.concat([control(3, 8), b]);
  }
  if (typeof value === 'boolean') return control(14, value ? 1 : 0);
  if (Array.isArray(value)) return Buffer.concat([control(11, value.length), ...value.map(encode)]);
  if ('uint' in value && typeof value.uint === 'number' && Object.keys(value).length === 1) {
    const b = uintBytes(value.uint);
    return Buffer.concat([control(value.uint > 0xffffffff ? 9 : 6, b.length), b]);
  }
  const entries = Object.entries(value as Record<string, Value>);
  return Buffer.concat([control(7, entries.length), ...entries.flatMap(([k, v]) => [encode(k), encode(v)])]);
}

interface Node {
  children: [Node | number | undefined, Node | number | undefined];
}

/** Builds a database mapping each network (IPv4 or IPv6 CIDR) to a record. */
export function buildMmdb(records: Record<string, Value>, databaseType = 'GeoLite2-City'): Buffer {
  const root: Node = { children: [undefined, undefined] };
  const data: Buffer[] = [];
  let dataSize = 0;
  for (const [cidr, record] of Object.entries(records)) {
    const net = parseNetwork(cidr)!;
    const value = net.value;
    const depth = net.version === 4 ? 96 + net.prefix : net.prefix;
    const offset = dataSize;
    const bytes = encode(record);
    data.push(bytes);
    dataSize += bytes.length;
    let node = root;
    for (let i = 0; i < depth; i++) {
      // Bit i of the 128-bit address (IPv4 addresses are ::a.b.c.d).
      const bit = Number((value >> BigInt(127 - i)) & 1n);
      if (i === depth - 1) {
        node.children[bit] = offset;
      } else {
        let child = node.children[bit];
        if (typeof child !== 'object') {
          child = { children: [undefined, undefined] };
          node.children[bit] = child;
        }
        node = child;
      }
    }
  }
  const nodes: Node[] = [];
  const number = new Map<Node, number>();
  const queue = [root];
  while (queue.length > 0) {
    const n = queue.shift()!;
    number.set(n, nodes.length);
    nodes.push(n);
    for (const c of n.children) if (typeof c === 'object') queue.push(c);
  }
  const count = nodes.length;
  const tree = Buffer.alloc(count * 6);
  nodes.forEach((n, i) => {
    n.children.forEach((c, side) => {
      const record = c === undefined ? count : typeof c === 'number' ? count + 16 + c : number.get(c)!;
      tree.writeUIntBE(record, i * 6 + side * 3, 3);
    });
  });
  const metadata = encode({
    binary_format_major_version: { uint: 2 },
    binary_format_minor_version: { uint: 0 },
    build_epoch: { uint: 1_717_200_000 },
    database_type: databaseType,
    description: { en: 'Vigil test database' },
    ip_version: { uint: 6 },
    languages: ['en'],
    node_count: { uint: count },
    record_size: { uint: 24 },
  });
  return Buffer.concat([tree, Buffer.alloc(16), ...data, Buffer.from('abcdef4d61784d696e642e636f6d', 'hex'), metadata]);
}
