/**
 * Events as fast-mode objects. An object that gets its keys one by one through computed stores (`event[key] = v`)
 * turns into a hash table in V8 after 16 keys (4 in-object + 12 more): a Shadowserver event of 26 fields was one.
 * Everything after the parser then pays for it — `for…in` rebuilds and sorts the key list of such an object on
 * every walk (the size check, the msgpack encoder, JSON) — measured: a third of the runner's time per Shadowserver
 * event, and a slower encode. An object literal with the same keys is one allocation with every key in place.
 * Used by the parser runner (agent/parsers/framework/records.ts) and by eventToJson (json.ts).
 *
 * So each distinct key list (a "shape": the keys in order) gets a small function returning that literal, compiled
 * once the shape has been seen twice (a shape seen once — a JSON feed whose keys vary — is not worth compiling).
 * Shapes are found through a tree of keys, one Map lookup per key; an instance holds at most MAX_SHAPES compiled shapes
 * and MAX_NODES tree nodes, and beyond those (or for a key list longer than MAX_KEYS) events are built key by key.
 */
type Event = Record<string, unknown>;
type Maker = (values: readonly unknown[]) => Event;

interface Node {
  readonly next: Map<string, Node>;
  seen: number;
  make: Maker | undefined;
}

/** Literals above this many keys stop sharing one hidden class in V8 (measured: 100 do, 200 do not). */
const MAX_KEYS = 128;
/** Compiled shapes per instance: real feeds have a handful; the bound keeps a feed of ever-new keys cheap. */
const MAX_SHAPES = 256;
const MAX_NODES = 4096;
/** Times a shape is seen before it is compiled. */
const COMPILE_AT = 2;

export class EventShapes {
  readonly #root: Node = newNode();
  #shapes = 0;
  #nodes = 1;
  /** The last shape's keys and node: consecutive records of a feed mostly share one, compared without lookups. */
  #lastKeys: string[] = [];
  #lastNode: Node | undefined;

  /** An event holding `values[i]` under `keys[i]`, for i < n, in that order; keys are distinct. */
  make(keys: readonly string[], values: readonly unknown[], n: number): Event {
    const node = n <= MAX_KEYS ? this.#find(keys, n) : undefined;
    if (node !== undefined) {
      if (node.make !== undefined) return node.make(values);
      if (++node.seen >= COMPILE_AT && this.#shapes < MAX_SHAPES) {
        node.make = compile(keys, n);
        this.#shapes++;
        return node.make(values);
      }
    }
    const event: Event = {};
    for (let i = 0; i < n; i++) {
      const key = keys[i]!;
      if (key === '__proto__') Object.defineProperty(event, key, { value: values[i], enumerable: true, writable: true, configurable: true });
      else event[key] = values[i];
    }
    return event;
  }

  #find(keys: readonly string[], n: number): Node | undefined {
    const last = this.#lastKeys;
    if (this.#lastNode !== undefined && last.length === n) {
      let i = 0;
      while (i < n && last[i] === keys[i]) i++;
      if (i === n) return this.#lastNode;
    }
    let node = this.#root;
    for (let i = 0; i < n; i++) {
      const key = keys[i]!;
      let next = node.next.get(key);
      if (next === undefined) {
        if (this.#nodes >= MAX_NODES || key === '__proto__') return undefined; // a literal would set the prototype
        next = newNode();
        node.next.set(key, next);
        this.#nodes++;
      }
      node = next;
    }
    this.#lastKeys = keys.slice(0, n);
    this.#lastNode = node;
    return node;
  }
}

function newNode(): Node {
  return { next: new Map(), seen: 0, make: undefined };
}

function compile(keys: readonly string[], n: number): Maker {
  const entries: string[] = [];
  // Keys go in as JSON string literals: any text is safe there ('__proto__' never gets this far).
  for (let i = 0; i < n; i++) entries.push(`${JSON.stringify(keys[i])}: v[${i}]`);
  return new Function('v', `return {${entries.join(', ')}};`) as Maker;
}
