/**
 * Custom search attributes of ticket workflows, so ops can find any ticket's run in the Temporal UI
 * (e.g. `TenantId = "…" AND TicketStatus = "open"`). The dev-server script registers exactly these.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const TicketSearchAttributes = {
  tenant: defineSearchAttributeKey('TenantId', SearchAttributeType.KEYWORD),
  status: defineSearchAttributeKey('TicketStatus', SearchAttributeType.KEYWORD),
  priority: defineSearchAttributeKey('TicketPriority', SearchAttributeType.KEYWORD),
  assignee: defineSearchAttributeKey('AssigneeId', SearchAttributeType.KEYWORD),
  slaPolicy: defineSearchAttributeKey('SlaPolicyId', SearchAttributeType.KEYWORD),
} as const;

/** `--search-attribute Name=Type` values for `temporal server start-dev`. */
export function searchAttributeRegistrations(): string[] {
  return Object.values(TicketSearchAttributes).map((key) => `${key.name}=Keyword`);
}
