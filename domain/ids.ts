import { z } from 'zod';

export const Uuid = z.uuid();
export type Uuid = z.infer<typeof Uuid>;

/** The workflow id of a ticket's lifecycle workflow. */
export function ticketWorkflowId(ticketId: string): string {
  return `ticket-${ticketId}`;
}
