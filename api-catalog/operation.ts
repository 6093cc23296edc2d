// The typed view of an OpenAPI operation that the rest of Ferry works with: the service builds its
// routes from it, the NLU compiles it into a command frame, the invoker calls it.

export type HttpMethod = 'get' | 'put' | 'post' | 'delete' | 'options' | 'head' | 'patch' | 'trace';

export const HTTP_METHODS: readonly HttpMethod[] = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

/** A JSON Schema as found in a dereferenced OpenAPI document (3.0 or 3.1 dialect). */
export type JsonSchema = { [keyword: string]: unknown };

export type ParameterLocation = 'path' | 'query' | 'header' | 'cookie' | 'body';

export interface OperationParameter {
  name: string;
  in: ParameterLocation;
  required: boolean;
  description: string | null;
  schema: JsonSchema;
}

export interface OperationRequestBody {
  required: boolean;
  contentType: string;
  schema: JsonSchema;
}

export interface OperationResponse {
  status: string;
  description: string | null;
  contentType: string | null;
  schema: JsonSchema | null;
}

export interface CatalogOperation {
  /** The operationId, or null when the document gives none (the NLU then works from the summary and path). */
  operationId: string | null;
  method: HttpMethod;
  /** The path template as written in the document, such as /servers/{serverId}. */
  path: string;
  summary: string | null;
  description: string | null;
  tags: string[];
  /** Path, query, header and cookie parameters, then each top-level property of a JSON body. */
  parameters: OperationParameter[];
  requestBody: OperationRequestBody | null;
  responses: OperationResponse[];
  /** The first server URL of the operation, its path item or its document; null when none is given. */
  serverUrl: string | null;
  /** The document the operation came from. */
  source: { file: string; title: string; version: string };
}

/** True when calling the operation changes state, so a conversation confirms it first. */
export function changesState(operation: Pick<CatalogOperation, 'method'>): boolean {
  return ['post', 'put', 'patch', 'delete'].includes(operation.method);
}
