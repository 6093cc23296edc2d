import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { ErrorObject } from 'ajv';
import type { Logger } from 'pino';
import type { CatalogOperation, JsonSchema, OperationParameter } from '../api-catalog/operation.ts';
import type { HandlerTable } from './handler.ts';
import { invalidField, Problem } from './problem.ts';
import { compileValidator, fieldErrors } from './validation.ts';

const CONVERSATION_HEADER = 'x-ferry-conversation';
const CONVERSATION_PATTERN = /^[\x21-\x7e]{1,200}$/;

function objectSchema(parameters: OperationParameter[]): JsonSchema {
  return {
    type: 'object',
    properties: Object.fromEntries(parameters.map((parameter) => [parameter.name, parameter.schema])),
    required: parameters.filter((parameter) => parameter.required).map((parameter) => parameter.name),
    additionalProperties: false,
  };
}

/** The status of an operation's answer: the first 2xx its spec declares. */
function successStatus(operation: CatalogOperation): number {
  const statuses = operation.responses.map((response) => Number(response.status)).filter((status) => status >= 200 && status < 300);
  return statuses.length ? Math.min(...statuses) : 200;
}

function sendProblem(reply: FastifyReply, request: FastifyRequest, problem: Problem): FastifyReply {
  return reply.code(problem.status).type('application/problem+json').send(problem.document(request.url));
}

function problemOf(error: FastifyError): Problem {
  if (error instanceof Problem) return error;
  if (error.validation) {
    const errors = fieldErrors(error.validation as ErrorObject[], error.validationContext ?? 'body');
    const detail = errors.map((entry) => `${entry.in} field ${entry.field} ${entry.message}`).join('; ');
    return new Problem(400, detail, errors);
  }
  if (error.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || error instanceof SyntaxError) {
    return new Problem(400, `the body is not valid JSON: ${error.message}`);
  }
  if (error.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') return new Problem(400, 'the body is empty; send a JSON object');
  if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return new Problem(415, 'send the body as application/json');
  if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return new Problem(413, 'the body is larger than the service accepts');
  const status = error.statusCode ?? 500;
  return new Problem(status, status < 500 ? error.message : 'the service failed; the log has the details');
}

/**
 * Builds the HTTP service from the catalog: one route per operation, with the operation's own
 * parameter and body schemas as validation, answered by the handler of its operationId.
 */
export function buildApp(operations: readonly CatalogOperation[], handlers: HandlerTable, logger: Logger): FastifyInstance {
  const app = Fastify({ loggerInstance: logger as FastifyBaseLogger, bodyLimit: 1024 * 1024 });
  app.setValidatorCompiler(({ schema, httpPart }) => compileValidator(schema, httpPart ?? 'body'));

  const missing = operations.filter((operation) => !operation.operationId || !handlers[operation.operationId]);
  if (missing.length) throw new Error(`no handler for ${missing.map((operation) => operation.operationId ?? `${operation.method} ${operation.path}`).join(', ')}`);

  for (const operation of operations) {
    const handler = handlers[operation.operationId!]!;
    const status = successStatus(operation);
    const pathParameters = operation.parameters.filter((parameter) => parameter.in === 'path');
    const queryParameters = operation.parameters.filter((parameter) => parameter.in === 'query');
    const body = operation.requestBody;
    app.route({
      method: operation.method.toUpperCase() as 'GET',
      url: operation.path.replace(/\{([^}]+)\}/g, ':$1'),
      schema: {
        ...(pathParameters.length ? { params: objectSchema(pathParameters) } : {}),
        querystring: objectSchema(queryParameters),
        ...(body ? { body: body.schema } : {}),
      },
      // An optional body that was left out is validated as an empty object.
      preValidation: async (request) => {
        if (body && !body.required && (request.body === undefined || request.body === null)) request.body = {};
      },
      handler: async (request, reply) => {
        const conversation = request.headers[CONVERSATION_HEADER];
        if (conversation !== undefined && (typeof conversation !== 'string' || !CONVERSATION_PATTERN.test(conversation))) {
          throw invalidField('header', 'X-Ferry-Conversation', 'must be 1 to 200 printable characters without spaces');
        }
        const result = await handler({
          params: request.params as Record<string, string>,
          query: request.query as Record<string, unknown>,
          body: (request.body ?? {}) as Record<string, unknown>,
          conversation,
        });
        reply.code(status);
        return result === undefined ? reply.send() : result;
      },
    });
  }

  app.get('/healthz', async () => ({ ok: true }));
  app.setNotFoundHandler((request, reply) =>
    sendProblem(reply, request, new Problem(404, `no operation at ${request.method} ${request.url.split('?')[0]}`)),
  );
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const problem = problemOf(error);
    if (problem.status >= 500) request.log.error({ err: error, url: request.url }, 'request failed');
    return sendProblem(reply, request, problem);
  });
  return app;
}
