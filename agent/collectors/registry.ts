/** Collectors live in `agent/collectors/<type>.ts`; found by name, listed by walking the folder. */
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ComponentRegistry } from '../../common/component.js';
import type { CollectorDefinition } from './define.js';

export const collectors = new ComponentRegistry<CollectorDefinition>({ kind: 'collector', dir: dirname(fileURLToPath(import.meta.url)), layout: 'flat', skip: ['define', 'registry'] });

export const loadCollector = (type: string): Promise<CollectorDefinition> => collectors.load(type);
