#!/usr/bin/env node
// Builds the agent for sensors as one directory: dist/vigil-agent/vigil-agent.mjs, the chunks it loads on demand,
// and the few files it cannot carry inside.
//
//   node deploy/build-agent-bundle.mjs [--out DIR]      (default dist/vigil-agent)
//
// Output directory (copy it as a whole; deploy/install-agent.sh installs it):
//   vigil-agent.mjs   the entry point: the command table (the agent, its parsers and collectors and their npm
//                     dependencies are bundled by esbuild and split into chunks)
//   chunks/           one chunk per parser, collector and command, plus the code they share: an agent parses only
//                     the chunks its configuration uses (an idle agent is about 5 MiB lighter than with one file)
//   node_modules/     native packages, loaded at run time from beside the bundle: classic-level (LevelDB; prebuilt
//                     binaries for linux x64/arm/arm64, glibc and musl, darwin, win32) and msgpackr-extract
//                     (optional msgpack acceleration), with their dependencies
//   chunks/schema.json  the Shadowserver report schema the shadowserver parser reads beside its module
//
// What the bundle changes at build time, and why (sources stay as they are):
//   - common/modules.ts finds components by file name at run time, which a single file cannot do: it is replaced
//     by a table of every collector and parser, each behind its own dynamic import (so each is its own chunk;
//     listing them still walks the table).
//   - common/version.ts reads package.json at run time: it becomes the version constant.
//   - `vigil-agent check` validates agent configurations only: the hub's pipeline checker is left out.
// The bundle is ESM; CommonJS dependencies get `require`, `__filename` and `__dirname` from a banner.
// Needs esbuild (node_modules/esbuild, already present as a dependency of tsx).
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { out: { type: 'string', default: join(ROOT, 'dist', 'vigil-agent') }, help: { type: 'boolean', short: 'h' } } });
if (values.help) {
  process.stdout.write('usage: node deploy/build-agent-bundle.mjs [--out DIR]\n');
  process.exit(0);
}
const OUT = values.out;
const require = createRequire(join(ROOT, 'package.json'));
const esbuild = await import(require.resolve('esbuild')).catch(() => {
  process.stderr.write('build-agent-bundle: esbuild is not installed (npm install --save-dev esbuild)\n');
  process.exit(1);
});
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));

/** Packages with native code: kept out of the bundle and copied beside it. */
const NATIVE = ['classic-level', 'msgpackr-extract'];

// ---- the component table that replaces common/modules.ts
const isCode = (f) => f.endsWith('.ts') && !f.endsWith('.d.ts') && !f.startsWith('_');
const table = [];
for (const f of readdirSync(join(ROOT, 'agent/collectors')).filter(isCode).sort()) {
  if (f === 'define.ts') continue;
  table.push({ kind: 'collector', group: '', base: f.slice(0, -3), name: f.slice(0, -3), file: join(ROOT, 'agent/collectors', f) });
}
const PARSERS = join(ROOT, 'agent/parsers');
for (const provider of readdirSync(PARSERS).sort()) {
  const dir = join(PARSERS, provider);
  if (provider === 'framework' || provider.startsWith('_') || !statSync(dir).isDirectory()) continue;
  for (const f of readdirSync(dir).filter(isCode).sort()) {
    const base = f.slice(0, -3);
    table.push({ kind: 'parser', group: provider, base, name: base === 'index' ? provider : `${provider}.${base}`, file: join(dir, f) });
  }
}
const modulesSource = `
import { VigilError } from ${JSON.stringify(join(ROOT, 'common/errors.ts'))};
export const CODE_EXT = '.js';
const TABLE = {
${table.map((c) => `  ${JSON.stringify(`${c.kind}:${c.name}`)}: () => import(${JSON.stringify(c.file)}),`).join('\n')}
};
const FILES = ${JSON.stringify(table.map(({ kind, group, base }) => ({ kind, group, base })))};
export async function loadNamedModule(file, name, kind) {
  const load = TABLE[kind + ':' + name];
  if (!load) throw new VigilError('VIGIL_E_CONFIG', 'unknown ' + kind + " '" + name + "'", { [kind]: name });
  const mod = await load();
  if (!mod.default || mod.default.name !== name) throw new VigilError('VIGIL_E_CONFIG', 'the bundle does not define ' + kind + " '" + name + "'");
  return mod.default;
}
const last = (dir) => dir.split(/[\\\\/]/).filter(Boolean).pop();
// Parsers are listed per provider directory; in the bundle every path ends with the provider's name.
export function codeFilesIn(dir) {
  const group = last(dir);
  return FILES.filter((f) => f.kind === 'parser' && f.group === group).map((f) => f.base);
}
export function subdirectoriesOf(dir, skip = new Set()) {
  return [...new Set(FILES.filter((f) => f.kind === 'parser').map((f) => f.group))].filter((g) => !skip.has(g)).sort();
}
`;

const entrySource = `
import { VigilError } from ${JSON.stringify(join(ROOT, 'common/errors.ts'))};
import { VERSION } from ${JSON.stringify(join(ROOT, 'common/version.ts'))};
const COMMANDS = {
  agent: { summary: 'run an agent: collect, parse, keep in the outbox, forward', load: () => import(${JSON.stringify(join(ROOT, 'cli/commands/agent.ts'))}) },
  check: { summary: 'validate an agent configuration file', load: () => import(${JSON.stringify(join(ROOT, 'cli/commands/check.ts'))}) },
  parse: { summary: 'run one parser over a file and print the events as JSON lines', load: () => import(${JSON.stringify(join(ROOT, 'cli/commands/parse.ts'))}) },
  parsers: { summary: 'list the parsers, or show one with its parameters', load: () => import(${JSON.stringify(join(ROOT, 'cli/commands/parsers.ts'))}) },
};
function help() {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length));
  return 'usage: vigil-agent <command> [options]\\n\\nThe Vigil agent, as one file (version ' + VERSION + ').\\n\\ncommands:\\n' +
    Object.entries(COMMANDS).map(([n, c]) => '  ' + n.padEnd(width) + '  ' + c.summary).join('\\n') +
    "\\n\\nRun 'vigil-agent <command> --help' for a command's options.\\n";
}
async function main(argv) {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') { process.stdout.write(help()); return name ? 0 : 2; }
  if (name === '--version' || name === 'version') { process.stdout.write(VERSION + '\\n'); return 0; }
  const entry = COMMANDS[name];
  if (!entry) { process.stderr.write("vigil-agent: unknown command '" + name + "'\\n\\n" + help()); return 2; }
  const command = (await entry.load()).default;
  if (rest.includes('--help') || rest.includes('-h')) { process.stdout.write(command.usage + '\\n'); return 0; }
  try {
    return (await command.run(rest)) ?? 0;
  } catch (err) {
    if (err instanceof VigilError && err.class === 'config') { process.stderr.write('vigil-agent ' + name + ': ' + err.message + '\\n'); return 2; }
    throw err;
  }
}
main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => { process.stderr.write('vigil-agent: ' + (err instanceof Error ? (err.stack ?? err.message) : String(err)) + '\\n'); process.exitCode = 1; },
);
`;

const replacements = {
  [join(ROOT, 'common/modules.ts')]: modulesSource,
  [join(ROOT, 'common/version.ts')]: `export const VERSION = ${JSON.stringify(pkg.version)};\n`,
};

const bundlePlugin = {
  name: 'vigil-agent-bundle',
  setup(build) {
    build.onResolve({ filter: /^vigil-agent-entry$/ }, () => ({ path: 'vigil-agent-entry', namespace: 'vigil' }));
    build.onLoad({ filter: /.*/, namespace: 'vigil' }, () => ({ contents: entrySource, loader: 'ts', resolveDir: ROOT }));
    // Source files import each other as '.js'; map them to the '.ts' files (as tsx and tsc do).
    build.onResolve({ filter: /^\.\.?\/.*\.js$/ }, (args) => {
      const ts = join(args.resolveDir, args.path.replace(/\.js$/, '.ts'));
      if (ts.endsWith(join('hub', 'pipeline', 'check.ts'))) return { path: 'hub-pipeline-check', namespace: 'vigil-stub' };
      return existsSync(ts) ? { path: ts } : undefined;
    });
    build.onLoad({ filter: /.*/, namespace: 'vigil-stub' }, () => ({
      contents: `import { VigilError } from ${JSON.stringify(join(ROOT, 'common/errors.ts'))};
export async function checkPipeline() { throw new VigilError('VIGIL_E_USAGE', 'vigil-agent checks agent configurations; check hub configurations with the full vigil CLI'); }`,
      loader: 'ts',
      resolveDir: ROOT,
    }));
    build.onLoad({ filter: /\.ts$/ }, (args) => (args.path in replacements ? { contents: replacements[args.path], loader: 'ts', resolveDir: dirname(args.path) } : undefined));
  },
};

rmSync(OUT, { recursive: true, force: true });
mkdirSync(OUT, { recursive: true });
const started = Date.now();
const result = await esbuild.build({
  entryPoints: ['vigil-agent-entry'],
  outdir: OUT,
  entryNames: 'vigil-agent',
  chunkNames: 'chunks/[name]-[hash]',
  outExtension: { '.js': '.mjs' },
  splitting: true,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  external: NATIVE,
  plugins: [bundlePlugin],
  banner: {
    js: [
      '#!/usr/bin/env node',
      `// Vigil agent ${pkg.version}, bundled by deploy/build-agent-bundle.mjs. License: ${pkg.license}.`,
      "import { createRequire as __vigilCreateRequire } from 'node:module';",
      "import { fileURLToPath as __vigilFileURLToPath } from 'node:url';",
      "import { dirname as __vigilDirname } from 'node:path';",
      'const require = __vigilCreateRequire(import.meta.url);',
      'const __filename = __vigilFileURLToPath(import.meta.url);',
      'const __dirname = __vigilDirname(__filename);',
    ].join('\n'),
  },
  legalComments: 'linked',
  minify: true,
  keepNames: true,
  sourcemap: 'linked',
  logLevel: 'warning',
  metafile: true,
});
if (result.errors.length > 0) process.exit(1);

// ---- native packages and their dependencies, copied from node_modules
const copied = new Set();
function copyPackage(name, from) {
  if (copied.has(name)) return;
  let manifest;
  try {
    manifest = createRequire(join(from, 'noop.js')).resolve(`${name}/package.json`);
  } catch {
    return; // an optional dependency for another platform
  }
  copied.add(name);
  const dir = dirname(manifest);
  const target = join(OUT, 'node_modules', name);
  mkdirSync(dirname(target), { recursive: true });
  cpSync(dir, target, { recursive: true, dereference: true, filter: (src) => !/[\\/](test|deps|\.github)$|\.(gyp|cc|h|md)$/.test(relative(dir, src)) });
  const m = JSON.parse(readFileSync(manifest, 'utf8'));
  for (const dep of [...Object.keys(m.dependencies ?? {}), ...Object.keys(m.optionalDependencies ?? {})]) copyPackage(dep, dir);
}
for (const name of NATIVE) copyPackage(name, ROOT);
// Beside the module that reads it: the shadowserver parser's chunk.
cpSync(join(ROOT, 'agent/parsers/shadowserver/schema.json'), join(OUT, 'chunks', 'schema.json'));
writeFileSync(join(OUT, 'package.json'), `${JSON.stringify({ name: 'vigil-agent', version: pkg.version, private: true, type: 'module', license: pkg.license }, null, 2)}\n`);

const size = (p) => (statSync(p).isDirectory() ? readdirSync(p).reduce((s, f) => s + size(join(p, f)), 0) : statSync(p).size);
const mb = (n) => `${(n / 1048576).toFixed(1)} MiB`;
const chunks = readdirSync(join(OUT, 'chunks')).filter((f) => f.endsWith('.mjs'));
process.stdout.write(
  `${relative(process.cwd(), join(OUT, 'vigil-agent.mjs'))} and ${chunks.length} chunks: ${mb(chunks.reduce((s, f) => s + size(join(OUT, 'chunks', f)), 0))}; ` +
    `with native packages and data: ${mb(size(OUT))} (${table.length} components, ${Object.keys(result.metafile.inputs).length} modules, ${Date.now() - started} ms)\n`,
);
