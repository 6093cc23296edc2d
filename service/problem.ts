/** One field that broke the contract. */
export interface FieldError {
  in: 'body' | 'path' | 'query' | 'header';
  field: string;
  pointer?: string;
  message: string;
}

/** An RFC 9457 problem document. */
export interface ProblemDocument {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  errors?: FieldError[];
}

const TYPES: Record<number, { type: string; title: string }> = {
  400: { type: 'urn:ferry:problem:invalid-request', title: 'Invalid request' },
  401: { type: 'urn:ferry:problem:unauthorized', title: 'Unauthorized' },
  404: { type: 'urn:ferry:problem:not-found', title: 'Not found' },
  405: { type: 'urn:ferry:problem:method-not-allowed', title: 'Method not allowed' },
  409: { type: 'urn:ferry:problem:conflict', title: 'Conflict' },
  413: { type: 'urn:ferry:problem:too-large', title: 'Request too large' },
  415: { type: 'urn:ferry:problem:unsupported-media-type', title: 'Unsupported media type' },
  500: { type: 'urn:ferry:problem:internal', title: 'Internal error' },
};

/** Thrown by handlers; the service answers it as a problem document. */
export class Problem extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
    readonly errors?: FieldError[],
  ) {
    super(detail);
  }

  document(instance?: string): ProblemDocument {
    const kind = TYPES[this.status] ?? { type: 'about:blank', title: `HTTP ${this.status}` };
    return { ...kind, status: this.status, detail: this.detail, ...(instance ? { instance } : {}), ...(this.errors ? { errors: this.errors } : {}) };
  }
}

export function notFound(what: string, id: string): Problem {
  return new Problem(404, `no ${what} ${JSON.stringify(id)}: list them to see which exist`);
}

export function conflict(detail: string): Problem {
  return new Problem(409, detail);
}

export function invalidField(where: FieldError['in'], field: string, message: string): Problem {
  return new Problem(400, `${where} field ${field}: ${message}`, [{ in: where, field, message }]);
}
