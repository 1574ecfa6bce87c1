import { z } from 'zod';
import { Text } from './text';

export const DEFAULT_PAGE_SIZE = 25;
export const MAX_PAGE_SIZE = 100;

/** `limit` is 1..100 (default 25); above 100 is a 400, never silently clamped. */
export const PageQuery = {
  limit: z.coerce.number().int().min(1).max(MAX_PAGE_SIZE).default(DEFAULT_PAGE_SIZE),
  cursor: Text.min(1).max(512).optional(),
};

export interface Page<T> {
  data: T[];
  next_cursor: string | null;
  has_more: boolean;
}
