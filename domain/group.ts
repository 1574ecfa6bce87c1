/** Agent groups: the teams a ticket is routed to (`group_id` on tickets and SLA escalations). */
import { z } from 'zod';
import { Text } from './text';

export const Group = z.object({
  id: z.uuid(),
  tenant_id: z.uuid(),
  name: z.string(),
  created_at: z.string(),
  updated_at: z.string(),
});
export type Group = z.infer<typeof Group>;

export const CreateGroupInput = z.object({ name: Text.trim().min(1).max(100) }).strict();
export type CreateGroupInput = z.infer<typeof CreateGroupInput>;
