import { z } from 'zod';

export const Uuid = z.uuid();
export type Uuid = z.infer<typeof Uuid>;

// The very pattern `z.uuid()` checks: a path id is tested on every request, without a parse's result object.
const UUID_PATTERN = z.regexes.uuid();
/** What `Uuid.safeParse(value).success` says, for the hot paths. */
export const isUuid = (value: unknown): value is Uuid => typeof value === 'string' && UUID_PATTERN.test(value);

/** The workflow id of a ticket's lifecycle workflow. */
export function ticketWorkflowId(ticketId: string): string {
  return `ticket-${ticketId}`;
}
