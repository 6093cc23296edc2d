import path from 'node:path';
import { DEFAULT_CATALOG } from '../api-catalog/loader.ts';
import { invoke, type InvokeResult } from '../api-catalog/invoker.ts';
import type { CatalogOperation } from '../api-catalog/operation.ts';

// How the bot reaches the operations of its catalog. Ferry's own specs name a default server that
// FERRY_API_URL replaces (the service may run elsewhere, or on a port chosen at start); another
// spec's operations go to its own server, if the operator allowed that server.

export interface CatalogCallerOptions {
  /** Where Ferry's own service answers; a function when it is known only once the service listens. */
  ferryApiUrl: string | (() => string);
  /** Other servers the catalog's specs may be called on (URL prefixes or hosts, as the invoker reads them). */
  allow?: readonly string[];
  timeoutMs?: number;
}

export class CatalogCaller {
  constructor(private readonly options: CatalogCallerOptions) {}

  private get ferryApiUrl(): string {
    const url = this.options.ferryApiUrl;
    return typeof url === 'string' ? url : url();
  }

  /** True when the operation is one of Ferry's own specs. */
  static isOwn(operation: CatalogOperation): boolean {
    return path.dirname(path.resolve(operation.source.file)) === path.resolve(DEFAULT_CATALOG);
  }

  /** Calls the operation; `conversation` travels as X-Ferry-Conversation so a job it starts reports back. Throws InvokeError. */
  call(operation: CatalogOperation, params: Readonly<Record<string, unknown>>, conversation?: string): Promise<InvokeResult> {
    const ferryApiUrl = this.ferryApiUrl;
    return invoke(operation, params, {
      allow: [ferryApiUrl, ...(this.options.allow ?? [])],
      ...(CatalogCaller.isOwn(operation) ? { serverUrl: ferryApiUrl } : {}),
      ...(conversation ? { conversation } : {}),
      ...(this.options.timeoutMs ? { timeoutMs: this.options.timeoutMs } : {}),
    });
  }
}
