/**
 * The OpenAPI 3.1 document, generated from the route table (api/http/route.ts) and its zod schemas with
 * @asteasolutions/zod-to-openapi. Everything a RouteSpec already says is turned into documentation here:
 * auth and scope, Idempotency-Key, If-Match / If-None-Match, response headers, and the RFC 9457 problems
 * the middleware chain can answer with (401/403/429 for bearer routes, 400/413/415 with a body, 404 with
 * path parameters, 500 and 503). Declaring a route is all it takes to document it.
 */
import { OpenApiGeneratorV31, OpenAPIRegistry, type ResponseConfig, type RouteConfig, zodToOpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import {
  ApiKey,
  CreateApiKeyInput,
  CreateUserInput,
  LoginInput,
  PatchTenantInput,
  PatchUserInput,
  RefreshInput,
  ROLE_SCOPES,
  SCOPES,
  TenantSettings,
  User,
} from '../domain/auth';
import { ArchiveDocument, ArchivedTicket, LegalHold, SetLegalHoldInput } from '../domain/archive';
import { CreateCustomerInput, Customer, PatchCustomerInput } from '../domain/customer';
import { ERROR_CATALOG } from '../domain/errors';
import { Actor, AddMessageInput, CreateTicketInput, Message, PatchTicketInput, Ticket } from '../domain/ticket';
import { WEBHOOK_EVENT_TYPES, WEBHOOK_EVENTS } from '../domain/webhooks';
import { version } from '../package.json';
import type { ResponseSpec, RouteSpec } from './http/route';
import { Problem } from './http/schemas';
import { PROBLEM_BASE } from './problem';

export type OpenApiDocument = ReturnType<OpenApiGeneratorV31['generateDocument']>;
export type OpenApiInfo = OpenApiDocument['info'];

/**
 * A response whose body is not JSON (the Swagger UI page). Routes may set `mediaType` on a response
 * spec; RouteSpec itself does not declare it because every API route answers JSON.
 */
export type DocumentedResponseSpec = ResponseSpec & { mediaType?: string };

const PROBLEM_JSON = 'application/problem+json';
const SIGNATURE_HEADER = 'X-Deskflow-Signature';
/** Routes that never reach PostgreSQL-backed workflows or Temporal: no 503 problem for them. */
const NO_DEPENDENCY_TAGS = new Set(['Health', 'Documentation']);

/**
 * Shared object schemas published under components/schemas. The domain schemas stay untouched: their names
 * are kept in zod-to-openapi's own registry (keyed by the schema instance, so every route using `Ticket`
 * refers to one `#/components/schemas/Ticket`), not in zod's global registry nor by cloning with `.openapi()`.
 * Enums are left inline on purpose: a `$ref` would drop the `default` of fields such as `priority`.
 */
const COMPONENT_SCHEMAS: Record<string, z.ZodType> = {
  Problem,
  Actor,
  Ticket,
  Message,
  CreateTicketInput,
  PatchTicketInput,
  AddMessageInput,
  Customer,
  CreateCustomerInput,
  PatchCustomerInput,
  User,
  CreateUserInput,
  PatchUserInput,
  ApiKey,
  CreateApiKeyInput,
  TenantSettings,
  PatchTenantInput,
  LoginInput,
  RefreshInput,
  ArchivedTicket,
  ArchiveDocument,
  LegalHold,
  SetLegalHoldInput,
};

function nameComponentSchemas(): void {
  for (const [name, schema] of Object.entries(COMPONENT_SCHEMAS)) {
    const current = zodToOpenAPIRegistry.get(schema);
    if (current?._internal?.refId) continue;
    zodToOpenAPIRegistry.add(schema, { ...current, _internal: { ...current?._internal, refId: name } });
  }
}

const stringSchema = { type: 'string' } as const;

const HEADERS = {
  Location: { description: 'The path of the created resource (201), or where to go (301).', schema: { type: 'string', format: 'uri-reference' } },
  ETag: {
    description: 'The version of the object as a strong entity tag (`"3"`): send it back in `If-Match` or `If-None-Match`.',
    schema: stringSchema,
  },
  RateLimit: {
    description:
      'Per limit applied (a list when there are several): remaining requests `r` and seconds `t` until its window resets ' +
      '(IETF RateLimit header), e.g. `"default";r=97;t=42`.',
    schema: stringSchema,
  },
  'RateLimit-Policy': {
    description:
      'Per limit applied (a list when there are several): the quota `q` per window of `w` seconds (IETF RateLimit-Policy header), e.g. `"default";q=100;w=60`.',
    schema: stringSchema,
  },
  'Retry-After': { description: 'Seconds to wait before retrying.', schema: { type: 'integer', minimum: 1 } },
  'WWW-Authenticate': {
    description: 'The Bearer challenge (`Bearer realm="deskflow"`, with `error="invalid_token"` for a bad credential).',
    schema: stringSchema,
  },
  'Idempotent-Replayed': {
    description: '`true` when this is the stored response to an earlier request with the same `Idempotency-Key`.',
    schema: { type: 'string', enum: ['true'] as string[] },
  },
} as const;
/** Response headers by name: a reference to the shared definition, or a plain string header for any other name. */
const headersOf = (names: string[]) =>
  names.length > 0
    ? { headers: Object.fromEntries(names.map((name) => [name, name in HEADERS ? { $ref: `#/components/headers/${name}` } : { schema: stringSchema }])) }
    : {};

const PARAMETERS = {
  IdempotencyKey: {
    name: 'Idempotency-Key',
    in: 'header',
    required: false,
    description:
      'Makes a retry safe: the same key with the same body replays the first response (with `Idempotent-Replayed: true`) ' +
      'for `IDEMPOTENCY_TTL` (24 hours by default); the same key with another body is a 422; while the first request is in flight, a 409.',
    schema: { type: 'string', pattern: '^[\\x21-\\x7e]{1,255}$' },
  },
  IfMatch: {
    name: 'If-Match',
    in: 'header',
    required: false,
    description: 'Apply the change only if the object is still at this version (its `ETag`); otherwise 412.',
    schema: stringSchema,
  },
  IfNoneMatch: {
    name: 'If-None-Match',
    in: 'header',
    required: false,
    description: 'Answer 304 Not Modified, without a body, if the object is still at this version (its `ETag`).',
    schema: stringSchema,
  },
} as const;
const CONDITIONAL_PARAMETER = { 'If-Match': 'IfMatch', 'If-None-Match': 'IfNoneMatch' } as const;
const parameterRef = (name: keyof typeof PARAMETERS) => ({ $ref: `#/components/parameters/${name}` });

/** `/api/v1/tickets/:id/messages/:messageId` → `/api/v1/tickets/{id}/messages/{messageId}` */
export function toOpenApiPath(expressPath: string): string {
  if (/[*?(){}]/.test(expressPath)) throw new Error(`route path ${expressPath}: only plain segments and :params can be documented`);
  return expressPath.replace(/:(\w+)/g, '{$1}');
}

const pathParamNames = (expressPath: string) => [...expressPath.matchAll(/:(\w+)/g)].map((m) => m[1]!);

/** `post /api/v1/tickets/:id/messages` → `postTicketsByIdMessages` */
function operationId(route: RouteSpec): string {
  const words = route.path
    .replace(/^\/api\/v\d+/, '')
    .split(/[/.\-_]+/)
    .filter(Boolean)
    .map((part) => (part.startsWith(':') ? `By${capitalize(part.slice(1))}` : capitalize(part)));
  return route.method + words.join('');
}
const capitalize = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

function describeAuth(route: RouteSpec): string {
  switch (route.auth) {
    case 'bearer':
      return route.scope
        ? `**Auth:** bearer credential (access token or API key) holding the \`${route.scope}\` scope.`
        : '**Auth:** bearer credential (access token or API key); no particular scope.';
    case 'inbound':
      return `**Auth:** signed with the tenant's inbound secret in \`${SIGNATURE_HEADER}\` (see the \`inboundSignature\` scheme).`;
    case 'public':
      return '**Auth:** none (public).';
  }
}

function problem(description: string, headers: string[]): ResponseConfig {
  return { description, ...headersOf(headers), content: { [PROBLEM_JSON]: { schema: Problem } } };
}

/** The problems the middleware chain and the error handler can answer for this route, by status. */
function automaticProblems(route: RouteSpec): Map<number, string> {
  const problems = new Map<number, string>();
  const { request = {} } = route;
  const invalid: string[] = [];
  if (request.body) invalid.push('the body is not valid JSON or fails validation (details in `errors`)');
  if (request.query) invalid.push('a query parameter fails validation or the cursor is invalid');
  if (route.idempotent) invalid.push('the `Idempotency-Key` is malformed');
  if (route.conditional?.includes('If-Match')) invalid.push('`If-Match` is not an ETag of this API');
  if (invalid.length > 0) problems.set(400, `Bad request: ${invalid.join('; ')}.`);
  if (route.auth === 'bearer') {
    problems.set(401, 'Missing, malformed, expired or revoked credential.');
    if (route.scope) problems.set(403, `The credential lacks the \`${route.scope}\` scope.`);
  }
  if (pathParamNames(route.path).length > 0) problems.set(404, "Not found (also for a malformed id or another tenant's object).");
  if (route.idempotent) problems.set(409, 'A request with this `Idempotency-Key` is still in progress.');
  if (route.conditional?.includes('If-Match')) problems.set(412, 'The object has changed since the `If-Match` version.');
  if (request.body && request.multipart) {
    problems.set(413, 'The JSON body exceeds the size limit, a file exceeds `ATTACHMENT_MAX_BYTES`, or there are more than `ATTACHMENT_MAX_FILES` files.');
    problems.set(415, 'The body is neither JSON nor multipart/form-data, or a file is not of an allowed type (sniffed from its bytes).');
  } else if (request.body) {
    problems.set(413, 'The body exceeds the size limit.');
    problems.set(415, 'The body is not JSON: send `Content-Type: application/json`.');
  }
  if (route.idempotent) problems.set(422, 'The `Idempotency-Key` was used with a different request.');
  if (route.auth === 'bearer') problems.set(429, "The credential's rate limit is exhausted: retry after `Retry-After` seconds.");
  problems.set(500, 'Unexpected error.');
  if (!NO_DEPENDENCY_TAGS.has(route.tag)) problems.set(503, 'A dependency (PostgreSQL, Redis or Temporal) is unavailable: retry later.');
  return problems;
}

function responseHeaders(route: RouteSpec, status: number, declared: string[] = []): string[] {
  const headers = [...declared];
  const rateLimited = route.auth === 'bearer' || route.responses[429] !== undefined;
  // (Errors past the limiter carry them too; they are documented where a client acts on them.)
  if (rateLimited && (status < 400 || status === 429)) headers.push('RateLimit', 'RateLimit-Policy');
  if (status === 429) headers.push('Retry-After');
  if (status === 401 && route.auth === 'bearer') headers.push('WWW-Authenticate');
  if (route.idempotent && status >= 200 && status < 300) headers.push('Idempotent-Replayed');
  return [...new Set(headers)];
}

function responses(route: RouteSpec): Record<string, ResponseConfig> {
  const result: Record<string, ResponseConfig> = {};
  const auto = automaticProblems(route);
  for (const [code, spec] of Object.entries(route.responses) as [string, DocumentedResponseSpec][]) {
    const status = Number(code);
    const headers = responseHeaders(route, status, spec.headers);
    // The route's own wording wins; an Idempotency-Key refusal sharing its status is a separate cause, kept after it.
    const extra = route.idempotent && (status === 409 || status === 422) && !spec.body ? auto.get(status) : undefined;
    const description = extra ? `${spec.description.replace(/\.?$/, '.')}\n\nAlso: ${extra}` : spec.description;
    if (spec.body) {
      result[code] = { description, ...headersOf(headers), content: { [spec.mediaType ?? 'application/json']: { schema: spec.body } } };
    } else if (status >= 400) {
      result[code] = problem(description, headers);
    } else {
      result[code] = { description, ...headersOf(headers) };
    }
  }
  for (const [status, description] of auto) {
    if (result[status]) continue;
    result[status] = problem(description, responseHeaders(route, status));
  }
  return result;
}

function routeConfig(route: RouteSpec): RouteConfig {
  const { request = {} } = route;
  const params =
    request.params ??
    (pathParamNames(route.path).length > 0 ? z.object(Object.fromEntries(pathParamNames(route.path).map((name) => [name, z.string()]))) : undefined);
  const headerParameters = [
    ...(route.idempotent ? [parameterRef('IdempotencyKey')] : []),
    ...(route.conditional ?? []).map((header) => parameterRef(CONDITIONAL_PARAMETER[header])),
  ];
  const notes = [
    describeAuth(route),
    ...(route.idempotent ? ['**Idempotent:** send an `Idempotency-Key` to retry safely.'] : []),
    ...(route.conditional?.includes('If-Match') ? ['**Optimistic concurrency:** send the `ETag` you read as `If-Match`.'] : []),
    ...(route.conditional?.includes('If-None-Match') ? ['**Conditional:** send the `ETag` you hold as `If-None-Match` to get a 304.'] : []),
  ];
  return {
    method: route.method,
    path: toOpenApiPath(route.path),
    operationId: operationId(route),
    summary: route.summary,
    description: notes.join('\n\n'),
    tags: [route.tag],
    security: route.auth === 'bearer' ? [{ bearerAuth: route.scope ? [route.scope] : [] }] : route.auth === 'inbound' ? [{ inboundSignature: [] }] : [],
    ...(route.scope ? { 'x-required-scope': route.scope } : {}),
    ...(headerParameters.length > 0 ? { parameters: headerParameters } : {}),
    request: {
      ...(params ? { params } : {}),
      ...(request.query ? { query: request.query as z.ZodObject } : {}),
      ...(request.body
        ? {
            body: {
              required: true,
              content: {
                'application/json': { schema: request.body },
                ...(request.multipart ? { 'multipart/form-data': { schema: request.multipart } } : {}),
              },
            },
          }
        : {}),
    },
    responses: responses(route),
  };
}

function roleScopes(): string {
  const rows = Object.entries(ROLE_SCOPES).map(
    ([role, scopes]) => `| ${role} | ${scopes.length === SCOPES.length ? 'all' : scopes.map((x) => `\`${x}\``).join(', ')} |`,
  );
  return ['| role | scopes |', '|---|---|', ...rows, '', `Scopes: ${SCOPES.map((x) => `\`${x}\``).join(', ')}.`].join('\n');
}

function errorCatalog(): string {
  const rows = Object.entries(ERROR_CATALOG).map(([code, { status, title }]) => `| \`${code}\` | ${status} | ${title} |`);
  return ['| `code` | status | title |', '|---|---|---|', ...rows].join('\n');
}

const DESCRIPTION = `Workflow-orchestrated customer-service tickets.

**Authentication.** Send \`Authorization: Bearer <credential>\`, where the credential is either an access token
(a short-lived JWT from \`POST /api/v1/auth/login\`, renewed with \`POST /api/v1/auth/refresh\`) or an API key
(\`dfk_…\`, minted with \`POST /api/v1/api-keys\`). Each operation names the scope it needs (\`x-required-scope\`).
A user holds the scopes of their role, an API key those it was minted with:

${roleScopes()}

**Rate limits.** Every bearer credential has a per-minute budget; answers carry \`RateLimit\` and
\`RateLimit-Policy\`, and a refusal is a 429 with \`Retry-After\`.

**Errors** are RFC 9457 problems (\`application/problem+json\`): \`type\` is \`${PROBLEM_BASE}<code>\`, and
\`code\` is one of:

${errorCatalog()}

Every response carries an \`X-Request-Id\` (yours, if you sent a well-formed one), also found in problems as \`request_id\`.`;

/** Every deliverable event type, as an OpenAPI 3.1 webhook: the body a subscribed endpoint receives. */
function registerWebhooks(registry: OpenAPIRegistry): void {
  const headers = z.object({
    'webhook-id': z.string().describe('The delivery id: the same on every attempt of one delivery (dedupe by it).'),
    'webhook-timestamp': z.string().describe('Unix seconds of this attempt.'),
    'webhook-signature': z.string().describe('Space-separated `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, one per valid secret.'),
  });
  for (const type of WEBHOOK_EVENT_TYPES) {
    const { description, payload } = WEBHOOK_EVENTS[type];
    registry.registerWebhook({
      method: 'post',
      path: type,
      operationId: `webhook${type.replace(/(^|[._])(\w)/g, (_m, _s, c: string) => c.toUpperCase())}`,
      summary: description,
      description: 'Sent to endpoints subscribed to this type (Standard Webhooks signing).',
      tags: ['Webhooks'],
      request: {
        headers,
        body: { required: true, content: { 'application/json': { schema: z.object({ type: z.literal(type), timestamp: z.string(), data: payload }) } } },
      },
      responses: {
        200: { description: 'Any 2xx: delivered.' },
        410: { description: 'Gone: the endpoint is disabled.' },
      },
    });
  }
}

/** The OpenAPI 3.1 document of `routes`. Throws on a route it cannot document (a duplicate, an unsupported path). */
export function buildOpenApiDocument(routes: RouteSpec[], info: Partial<OpenApiInfo> = {}): OpenApiDocument {
  nameComponentSchemas();
  const registry = new OpenAPIRegistry();
  registry.registerComponent('securitySchemes', 'bearerAuth', {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT or API key',
    description:
      'An access token (JWT) from `POST /api/v1/auth/login` or `POST /api/v1/auth/refresh`, or an API key `dfk_…` ' +
      'from `POST /api/v1/api-keys`. The scopes listed on an operation are those the credential must hold.',
  });
  registry.registerComponent('securitySchemes', 'inboundSignature', {
    type: 'apiKey',
    in: 'header',
    name: SIGNATURE_HEADER,
    description:
      '`t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">` keyed with the tenant\'s inbound secret ' +
      '(`POST /api/v1/tenant/inbound-secret`); `t` must be within 5 minutes of the server clock.',
  });
  for (const [name, header] of Object.entries(HEADERS)) registry.registerComponent('headers', name, header);
  for (const [name, parameter] of Object.entries(PARAMETERS)) registry.registerComponent('parameters', name, parameter);

  const seen = new Set<string>();
  const operationIds = new Set<string>();
  const tags: string[] = [];
  for (const route of routes) {
    const key = `${route.method} ${toOpenApiPath(route.path)}`;
    if (seen.has(key)) throw new Error(`route ${key} is declared twice`);
    seen.add(key);
    const config = routeConfig(route);
    if (operationIds.has(config.operationId!)) throw new Error(`operationId ${config.operationId} is not unique (${key})`);
    operationIds.add(config.operationId!);
    if (!tags.includes(route.tag)) tags.push(route.tag);
    registry.registerPath(config);
  }

  registerWebhooks(registry);

  const generator = new OpenApiGeneratorV31([...registry.definitions, { type: 'schema', schema: Problem }]);
  return generator.generateDocument({
    openapi: '3.1.0',
    info: { title: 'Deskflow API', version, description: DESCRIPTION, license: { name: 'Apache-2.0', identifier: 'Apache-2.0' }, ...info },
    tags: tags.map((name) => ({ name })),
  });
}
