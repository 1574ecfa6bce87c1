/**
 * Every response a test receives from our API is checked against the served `/openapi.json`: the
 * operation must document the status, and a JSON body must match the documented schema. A drift
 * between what the API does and what generated clients are told fails the test that saw it.
 */
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';

interface Operation {
  responses: Record<string, { content?: Record<string, { schema: unknown }> }>;
}
interface Document {
  paths: Record<string, Record<string, Operation>>;
  components: unknown;
}
interface Checker {
  check(method: string, path: string, status: number, contentType: string | null, body: unknown): void;
}

const checkers = new Map<string, Promise<Checker>>();

export function openApiChecker(baseUrl: string): Promise<Checker> {
  let checker = checkers.get(baseUrl);
  if (!checker) {
    checker = fetch(`${baseUrl}/openapi.json`).then(async (res) => build((await res.json()) as Document));
    checkers.set(baseUrl, checker);
  }
  return checker;
}

function build(doc: Document): Checker {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  // Schemas refer to `#/components/...` of the document: register them under one id and point refs there.
  ajv.addSchema({ $id: 'openapi', components: doc.components });
  const rebase = (schema: unknown): unknown => JSON.parse(JSON.stringify(schema).replace(/"\$ref":"#\//g, '"$ref":"openapi#/'));
  const routes = Object.entries(doc.paths).map(([template, operations]) => ({
    template,
    pattern: new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`),
    operations,
  }));
  const compiled = new Map<string, ValidateFunction>();

  return {
    check(method, url, status, contentType, body) {
      const path = url.split('?')[0]!;
      const route = routes.find((r) => r.pattern.test(path));
      const operation = route?.operations[method.toLowerCase()];
      if (!route || !operation) return; // not one of ours (or a method the route does not have: a 404/405 test)
      const where = `${method.toUpperCase()} ${route.template} → ${status}`;
      const response = operation.responses[String(status)];
      if (!response) throw new Error(`OpenAPI drift: ${where} is not a documented response`);
      if (!response.content || body === undefined || status === 304) return;
      const mediaType = (contentType ?? '').split(';')[0]!.trim();
      const media = response.content[mediaType];
      if (!media) throw new Error(`OpenAPI drift: ${where} answered ${mediaType}, documented ${Object.keys(response.content).join(', ')}`);
      const key = `${where} ${mediaType}`;
      let validate = compiled.get(key);
      if (!validate) {
        validate = ajv.compile(rebase(media.schema) as object);
        compiled.set(key, validate);
      }
      if (!validate(body)) {
        throw new Error(`OpenAPI drift: ${where} body does not match its schema: ${ajv.errorsText(validate.errors, { dataVar: 'body' })}`);
      }
    },
  };
}
