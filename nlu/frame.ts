import type { CatalogOperation, OperationParameter } from '../api-catalog/operation.ts';

/** What kind of thing an operation does, which decides how it is confirmed and worded. */
export type ActionClass = 'create' | 'list' | 'get' | 'update' | 'delete' | 'custom';

/** One parameter as the grammar sees it: its type and the words that cue it. */
export interface ParamFrame {
  name: string;
  in: OperationParameter['in'];
  required: boolean;
  /** JSON Schema type of the value ('string', 'integer', 'number', 'boolean', 'array', 'object'). */
  type: string;
  format: string | null;
  pattern: string | null;
  enum: string[] | null;
  /** For arrays: the items' type, pattern and enum. */
  items: { type: string; pattern: string | null; enum: string[] | null } | null;
  description: string | null;
  /** Lemmas from the name and description that announce the value ("target", "host", "bandwidth"). */
  cues: string[];
  /** The resource noun this parameter identifies (serverId → server, /pets/{id} → pet), or null. */
  refersTo: string | null;
  /** The unit a number is counted in when the name or description says so (minutes, seconds, mbps…). */
  unit: string | null;
}

/** An operation compiled for understanding: what it does, to what, and with which parameters. */
export interface CommandFrame {
  /** The operationId, or `METHOD /path` (method in capitals) when the document gives none. */
  id: string;
  operation: CatalogOperation;
  /** The action's verb lemma (migrate, list, pause…) and its class. */
  verb: string;
  actionClass: ActionClass;
  /** The resource noun, singular (server, migration, pet…). */
  resource: string;
  params: ParamFrame[];
  changesState: boolean;
}

export interface Grammar {
  frames: CommandFrame[];
  byId: ReadonlyMap<string, CommandFrame>;
}
