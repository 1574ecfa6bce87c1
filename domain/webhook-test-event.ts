/** The body of a `webhook.test` event: the catalog's payload for it, in the `{type, timestamp, data}` envelope. */
import { WEBHOOK_EVENTS, type WebhookEnvelope } from './webhooks';

export const WEBHOOK_TEST_MESSAGE = 'A test event sent from Deskflow to check this endpoint.';

/** Serialised once, like every event body: each attempt sends these bytes. */
export function webhookTestBody(endpointId: string, at: Date): string {
  const data = WEBHOOK_EVENTS['webhook.test'].payload.parse({ endpoint_id: endpointId, message: WEBHOOK_TEST_MESSAGE });
  const envelope: WebhookEnvelope = { type: 'webhook.test', timestamp: at.toISOString(), data };
  return JSON.stringify(envelope);
}
