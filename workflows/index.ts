// The workflow bundle's entry: every workflow type the worker registers.
export { ticketWorkflow } from './ticket.workflow';
export { slaRolloutWorkflow } from './sla-rollout.workflow';
export { webhookDeliveryWorkflow } from './webhook-delivery.workflow';
export { webhookRedriveWorkflow } from './webhook-redrive.workflow';
export { webhookRetentionWorkflow } from './webhook-retention.workflow';
export { dataRetentionWorkflow } from './data-retention.workflow';
export { workerWarmupWorkflow } from './worker-warmup.workflow';
export { archivalWorkflow } from './archival.workflow';
export { ticketRestoreWorkflow } from './ticket-restore.workflow';
