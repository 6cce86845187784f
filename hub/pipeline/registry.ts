/** Experts live in `hub/experts/<name>.ts`, outputs in `hub/outputs/<type>.ts`; found by name, listed by walking. */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ComponentRegistry } from '../../common/component.js';
import type { ExpertDefinition, OutputDefinition } from './define.js';

const HUB = join(dirname(fileURLToPath(import.meta.url)), '..');

export const experts = new ComponentRegistry<ExpertDefinition>({ kind: 'expert', dir: join(HUB, 'experts'), layout: 'flat' });
export const outputs = new ComponentRegistry<OutputDefinition>({ kind: 'output', dir: join(HUB, 'outputs'), layout: 'flat' });

export const loadExpert = (name: string): Promise<ExpertDefinition> => experts.load(name);
export const loadOutput = (type: string): Promise<OutputDefinition> => outputs.load(type);
export const expertNames = (): string[] => experts.names();
export const outputNames = (): string[] => outputs.names();
