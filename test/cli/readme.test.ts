/**
 * Every shell command the README shows in a ```sh block runs as written from the repository root — what a new
 * user copies first. Commands that start a long-running process (a hub, an agent, the demo) and the ones this
 * very test run stands on (npm install, npm test) are listed below with the reason, so a new command is run unless
 * it is added there on purpose.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { ROOT } from '../helpers/processes.js';

const exec = promisify(execFile);

/** Commands not run here, and why (matched against each command of a line). */
const NOT_RUN: [RegExp, string][] = [
  [/^npm start\b|^npx vigil start\b/, 'runs the demo until Ctrl-C (test/cli/first-run.test.ts starts it)'],
  [/^npx vigil (hub|agent)\b/, 'runs until stopped (test/e2e starts hubs and agents)'],
  [/^npm install\b/, 'this test run already stands on it'],
  [/^npm test\b/, 'this test is part of it'],
];

/** The commands of the README's ```sh blocks, one per line, without their trailing comments. */
export function readmeCommands(markdown: string): string[] {
  const commands: string[] = [];
  for (const block of markdown.matchAll(/^```(?:sh|bash|shell)\n([\s\S]*?)^```$/gm)) {
    for (const line of block[1]!.split('\n')) {
      // A comment after the command is set off by two or more spaces (as the README writes them).
      const command = line.replace(/\s{2,}#.*$/, '').trim();
      if (command && !command.startsWith('#')) commands.push(command);
    }
  }
  return commands;
}

const commands = readmeCommands(readFileSync(join(ROOT, 'README.md'), 'utf8'));

describe('the README runs as written', () => {
  it('has shell commands, and each one not run here says why', () => {
    assert.ok(commands.length >= 5, commands.join('\n'));
    assert.ok(commands.some((c) => c.startsWith('npx vigil parse ')), 'the parse example is among them');
  });

  for (const command of commands) {
    const skip = command
      .split(/\s*&&\s*/)
      .map((part) => NOT_RUN.find(([pattern]) => pattern.test(part))?.[1])
      .find(Boolean);
    it(command, { skip: skip ?? false, timeout: 120_000 }, async () => {
      let result: { stdout: string; stderr: string };
      try {
        result = await exec('bash', ['-c', command], { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 });
      } catch (err) {
        const e = err as { code: number; stderr: string };
        assert.fail(`exit ${e.code} from the repository root:\n${e.stderr.slice(0, 3000)}`);
      }
      assert.notEqual(result.stdout.trim(), '', 'it printed something');
      assert.doesNotMatch(result.stderr, /\n\s+at |rejected/, result.stderr);
    });
  }
});
