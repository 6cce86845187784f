/**
 * The one component model. Collectors, parsers, experts and outputs are each a declared value — name, summary,
 * the IntelMQ bot it stands in for, a typed parameter schema holding every default, examples, the counters it
 * reports — in a file whose path is its name, found by a registry that walks its folder. Each kind adds its own
 * `create` (or `parse`) and its own example shape; the registry, the CLI listings (`vigil collectors|parsers|
 * experts|outputs [NAME]`), the generated docs (docs/<kind>s/) and the shared test harness of each kind all read
 * the same declaration, so a registered component is documented and tested without a hand-kept list.
 */
import type { TObject } from 'typebox';
import type { IntelmqParams } from './intelmq-params.js';
import { codeFilesIn, loadNamedModule, subdirectoriesOf } from './modules.js';
import { VigilError } from './errors.js';
import { join } from 'node:path';

export type ComponentKind = 'collector' | 'parser' | 'expert' | 'output';

/** What every component declares, whatever its kind. */
export interface ComponentInfo<PS extends TObject = TObject> {
  /** The component's name, as written in a config (`type:` / `name:`): `http`, `spamhaus.drop`, `taxonomy`, `file`. */
  name: string;
  /** One sentence: what it does. */
  summary: string;
  /** The IntelMQ bot module(s) it stands in for, e.g. `intelmq.bots.experts.taxonomy.expert`. */
  intelmq?: string | readonly string[];
  /** Parameters with types, defaults and descriptions: the single place they are declared. */
  params: PS;
  /**
   * How the IntelMQ bot's parameters map onto `params`: IntelMQ name → Vigil name (value converted where needed),
   * or ignored with the reason (common/intelmq-params.ts). Applied before validation; shown in the docs.
   */
  intelmqParams?: IntelmqParams;
  /** The counters it reports beyond its kind's standard ones: name → meaning. Shown in its docs. */
  metrics?: Readonly<Record<string, string>>;
}

/** The IntelMQ modules of a component as a list. */
export function intelmqModules(info: ComponentInfo): readonly string[] {
  return info.intelmq === undefined ? [] : typeof info.intelmq === 'string' ? [info.intelmq] : info.intelmq;
}

/** Where a kind's components live and how their file names map to component names. */
export interface RegistryLayout {
  kind: ComponentKind;
  /** The folder holding the components. */
  dir: string;
  /**
   * `flat`: `<dir>/<name>.ts`. `provider`: `<dir>/<provider>/<feed>.ts` named `provider.feed`, and
   * `<dir>/<provider>/index.ts` named `provider` (the parsers' layout).
   */
  layout: 'flat' | 'provider';
  /** File or folder names in `dir` that are not components (helpers starting with `_` are always skipped). */
  skip?: readonly string[];
}

const FLAT_NAME = /^[a-z0-9_]+$/;
const PROVIDER_NAME = /^[a-z0-9_]+(\.[a-z0-9_]+)?$/;

/** Finds a kind's components by name and lists them by walking their folder. */
export class ComponentRegistry<D extends ComponentInfo> {
  readonly kind: ComponentKind;
  readonly #layout: RegistryLayout;
  readonly #skip: ReadonlySet<string>;

  constructor(layout: RegistryLayout) {
    this.kind = layout.kind;
    this.#layout = layout;
    this.#skip = new Set(layout.skip ?? []);
  }

  /** The file (without extension) a component of this name lives in. */
  fileOf(name: string): string {
    if (this.#layout.layout === 'flat') return join(this.#layout.dir, name);
    const [provider, feed] = name.split('.');
    return join(this.#layout.dir, provider!, feed ?? 'index');
  }

  async load(name: string): Promise<D> {
    const valid = (this.#layout.layout === 'flat' ? FLAT_NAME : PROVIDER_NAME).test(name) && !this.#skip.has(name.split('.')[0]!);
    if (!valid) throw this.unknown(name);
    try {
      return await loadNamedModule<D>(this.fileOf(name), name, this.kind);
    } catch (err) {
      if (err instanceof VigilError && err.message.startsWith(`unknown ${this.kind}`)) throw this.unknown(name);
      throw err;
    }
  }

  names(): string[] {
    const { dir } = this.#layout;
    if (this.#layout.layout === 'flat') return codeFilesIn(dir).filter((n) => !this.#skip.has(n));
    const names: string[] = [];
    for (const provider of subdirectoriesOf(dir, this.#skip)) {
      for (const base of codeFilesIn(join(dir, provider))) names.push(base === 'index' ? provider : `${provider}.${base}`);
    }
    return names.sort();
  }

  /** Every component of the kind, sorted by name. */
  all(): Promise<D[]> {
    return Promise.all(this.names().map((n) => this.load(n)));
  }

  unknown(name: string): VigilError {
    return new VigilError('VIGIL_E_CONFIG', `unknown ${this.kind} '${name}' (run 'vigil ${this.kind}s' for the list)`, { [this.kind]: name });
  }
}
