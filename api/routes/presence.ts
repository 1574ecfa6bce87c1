/** Who is on a ticket right now (issue #11): the REST twin of the live `presence` message, for a client (re)loading a ticket. */
import { z } from 'zod';
import { DeskflowError } from '../../domain/errors';
import { Viewer } from '../../domain/live';
import type { PresenceStore } from '../../stores/presence';
import type { TicketStore } from '../../stores/tickets';
import type { RouteSpec } from '../http/route';
import { IdParams } from '../http/schemas';
import { identityOf, idParam } from '../request';

const Viewers = z.object({ data: z.array(Viewer) });

export function presenceRoutes(deps: { tickets: TicketStore; presence: PresenceStore }): RouteSpec[] {
  const { tickets, presence } = deps;
  return [
    {
      method: 'get',
      path: '/api/v1/tickets/:id/presence',
      tag: 'Tickets',
      summary: 'Who is on a ticket now (viewing, replying, typing; longest there first)',
      auth: 'bearer',
      scope: 'tickets:read',
      request: { params: IdParams },
      responses: { 200: { description: 'The viewers', body: Viewers } },
      handler: async (req, res) => {
        const tenantId = identityOf(req).tenantId;
        const id = idParam(req, 'id');
        // Presence keys are tenant-scoped anyway; the lookup makes another tenant's ticket id a 404 like every ticket route.
        if (!(await tickets.get(tenantId, id))) throw new DeskflowError('not_found', 'ticket not found');
        res.json({ data: await presence.viewers(tenantId, id) });
      },
    },
  ];
}
