import path from 'node:path';
import { DEFAULT_CATALOG } from '../api-catalog/loader.ts';
import { invoke, type InvokeResult } from '../api-catalog/invoker.ts';
import type { CatalogOperation } from '../api-catalog/operation.ts';

// How the bot reaches the operations of its catalog. Ferry's own specs name a default server that
// FERRY_API_URL replaces (the service may run elsewhere, or on a port chosen at start); another
// spec's operations go to its own server, if the operator allowed that server.

export interface CatalogCallerOptions {
  /** Where Ferry's own service answers. */
  ferryApiUrl: string;
  /** Other servers the catalog's specs may be called on (URL prefixes or hosts, as the invoker reads them). */
  allow?: readonly string[];
  timeoutMs?: number;
}

export class CatalogCaller {
  private readonly allow: readonly string[];

  constructor(private readonly options: CatalogCallerOptions) {
    this.allow = [options.ferryApiUrl, ...(options.allow ?? [])];
  }

  /** True when the operation is one of Ferry's own specs. */
  static isOwn(operation: CatalogOperation): boolean {
    return path.dirname(path.resolve(operation.source.file)) === path.resolve(DEFAULT_CATALOG);
  }

  /** Calls the operation; `conversation` travels as X-Ferry-Conversation so a job it starts reports back. Throws InvokeError. */
  call(operation: CatalogOperation, params: Readonly<Record<string, unknown>>, conversation?: string): Promise<InvokeResult> {
    return invoke(operation, params, {
      allow: this.allow,
      ...(CatalogCaller.isOwn(operation) ? { serverUrl: this.options.ferryApiUrl } : {}),
      ...(conversation ? { conversation } : {}),
      ...(this.options.timeoutMs ? { timeoutMs: this.options.timeoutMs } : {}),
    });
  }
}
