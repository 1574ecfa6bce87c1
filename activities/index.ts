import type pg from 'pg';
import { createProjectionActivities } from './projection';

/** Every activity the worker registers, bound to its dependencies. */
export function createActivities(deps: { pool: pg.Pool }) {
  return { ...createProjectionActivities(deps.pool) };
}
