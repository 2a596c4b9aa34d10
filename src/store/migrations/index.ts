/*
 * The list of schema migrations, in the order they apply.
 */
import type { Migration } from '../migrate.js';
import { initial } from './001-initial.js';

/** Every migration, in order. A new one gets the next number and goes last; none ever changes. */
export const migrations: readonly Migration[] = [initial];
