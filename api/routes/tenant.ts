import { z } from 'zod';
import { PatchTenantInput, TenantSettings } from '../../domain/auth';
import type { RouteSpec } from '../http/route';
import { identityOf, parseBody } from '../request';
import type { TenantStore } from '../../stores/tenants';

const InboundSecret = z.object({ inbound_secret: z.string().describe('shown once; signs inbound email webhooks') });

export function tenantRoutes(tenants: TenantStore): RouteSpec[] {
  const tag = 'Tenant';
  return [
    {
      method: 'get',
      path: '/api/v1/tenant',
      tag,
      summary: "The caller's tenant and its settings",
      auth: 'bearer',
      scope: 'tenant:manage',
      responses: { 200: { description: 'Settings', body: TenantSettings } },
      handler: async (req, res) => void res.json(await tenants.get(identityOf(req).tenantId)),
    },
    {
      method: 'patch',
      path: '/api/v1/tenant',
      tag,
      summary: 'Rename the tenant or set its per-credential rate limit, webhook retry preset, webhook pause, archive age or archive deletion age',
      auth: 'bearer',
      scope: 'tenant:manage',
      request: { body: PatchTenantInput },
      responses: { 200: { description: 'Settings', body: TenantSettings } },
      handler: async (req, res) => void res.json(await tenants.patch(identityOf(req), parseBody(PatchTenantInput, req), req.requestId)),
    },
    {
      method: 'post',
      path: '/api/v1/tenant/inbound-secret',
      tag,
      summary: 'Rotate the inbound-email signing secret',
      auth: 'bearer',
      scope: 'tenant:manage',
      responses: { 200: { description: 'The new secret (the old one stops working)', body: InboundSecret } },
      handler: async (req, res) => {
        res.setHeader('Cache-Control', 'no-store');
        res.json({ inbound_secret: await tenants.rotateInboundSecret(identityOf(req), req.requestId) });
      },
    },
  ];
}
