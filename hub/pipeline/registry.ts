/** Experts live in `hub/experts/<name>.ts`, outputs in `hub/outputs/<type>.ts`; found by name, listed by walking. */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { codeFilesIn, loadNamedModule } from '../../common/modules.js';
import type { ExpertDefinition, OutputDefinition } from './define.js';

const HUB = join(dirname(fileURLToPath(import.meta.url)), '..');
const SAFE = /^[a-z0-9_]+$/;

export function loadExpert(name: string): Promise<ExpertDefinition> {
  return loadNamedModule<ExpertDefinition>(join(HUB, 'experts', SAFE.test(name) ? name : '_invalid'), name, 'expert');
}

export function loadOutput(type: string): Promise<OutputDefinition> {
  return loadNamedModule<OutputDefinition>(join(HUB, 'outputs', SAFE.test(type) ? type : '_invalid'), type, 'output');
}

export const expertNames = (): string[] => codeFilesIn(join(HUB, 'experts'));
export const outputNames = (): string[] => codeFilesIn(join(HUB, 'outputs'));
