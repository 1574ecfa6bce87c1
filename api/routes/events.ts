/**
 * The change feed for integrators who poll: the tenant's deliverable events in order, the same payloads
 * the webhooks carry. A reader keeps `next_cursor` and asks again with it.
 */
import { z } from 'zod';
import { Uuid } from '../../domain/ids';
import { PageQuery } from '../../domain/pagination';
import { WEBHOOK_EVENT_TYPES, WEBHOOK_EVENTS, type WebhookEventType } from '../../domain/webhooks';
import type { WebhookEventStore } from '../../stores/webhook-events';
import { decodeCursor, encodeCursor } from '../cursor';
import type { RouteSpec } from '../http/route';
import { identityOf, parseQuery } from '../request';

const Cursor = PageQuery.cursor;

const FeedQuery = z
  .object({
    limit: PageQuery.limit,
    after: Cursor.describe('the `next_cursor` of the previous page; absent: from the oldest event'),
    cursor: Cursor.describe('the same as `after` (the name every other list uses)'),
    include_internal: z
      .enum(['true', 'false'])
      .default('false')
      .transform((v) => v === 'true')
      .describe('`true`: internal notes too (`ticket.message_added` with an internal message)'),
  })
  .strict()
  .refine((q) => q.after === undefined || q.cursor === undefined, { message: 'give `after` or `cursor`, not both', path: ['cursor'] });

/** Every type but `webhook.test`, which goes to one endpoint on request and is no change of the tenant's. */
const FEED_TYPES = WEBHOOK_EVENT_TYPES.filter((t): t is Exclude<WebhookEventType, 'webhook.test'> => t !== 'webhook.test');
const FeedEvent = z.discriminatedUnion(
  'type',
  FEED_TYPES.map((type) =>
    z.object({
      id: Uuid,
      /** The position in the tenant's feed: increasing, not contiguous. */
      seq: z.number().int(),
      type: z.literal(type),
      timestamp: z.string(),
      data: WEBHOOK_EVENTS[type].payload,
    }),
  ) as unknown as [z.ZodObject, z.ZodObject, ...z.ZodObject[]],
);
const FeedPage = z.object({
  data: z.array(FeedEvent),
  next_cursor: z.string().describe('never null: where to read on from, now or later'),
  has_more: z.boolean().describe('more events are there already: ask again at once'),
});
const SeqKey = z.tuple([z.number().int().min(0)]);

export function eventRoutes(events: WebhookEventStore): RouteSpec[] {
  return [
    {
      method: 'get',
      path: '/api/v1/events',
      tag: 'Webhooks',
      summary: 'The change feed: the deliverable events of the tenant, oldest first, as the webhooks send them',
      auth: 'bearer',
      scope: 'webhooks:manage',
      request: { query: FeedQuery },
      responses: { 200: { description: 'A page of events', body: FeedPage } },
      handler: async (req, res) => {
        const q = parseQuery(FeedQuery, req);
        const after = decodeCursor(q.after ?? q.cursor, SeqKey)?.[0] ?? 0;
        const rows = await events.feed(identityOf(req).tenantId, { after, limit: q.limit, includeInternal: q.include_internal });
        const has_more = rows.length > q.limit;
        const data = has_more ? rows.slice(0, q.limit) : rows;
        // Unlike other lists the cursor is always given: a poller at the end of the feed resumes from it.
        res.json({ data, next_cursor: encodeCursor([data.at(-1)?.seq ?? after]), has_more });
      },
    },
  ];
}
