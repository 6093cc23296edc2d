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
  /** For arrays: the items' type, pattern and enum, and their properties when they are objects. */
  items: { type: string; pattern: string | null; enum: string[] | null; properties: ParamFrame[] | null } | null;
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

/** What the scorer compares utterances with, per frame. */
export interface FrameVocabulary {
  /** The frame's own verbs, each as its words ("power off" → [power, off]). */
  verbs: string[][];
  /** Verbs its description uses for what it does ("Reads the partitions… and identifies its operating system"). */
  describedVerbs: string[];
  /** Indices of the lexicon's verb groups that hold one of the frame's verbs. */
  verbGroups: Set<number>;
  /** Stems of the resource phrase; the last is the head noun. */
  resourceStems: string[];
  /** Stems of the resources the path nests this one under (/servers/{id}/actions → server). */
  parentStems: string[];
  /** Content stems of the operationId, summary, path and description, with a weight for each. */
  textStems: Map<string, number>;
}

export interface Grammar {
  frames: CommandFrame[];
  byId: ReadonlyMap<string, CommandFrame>;
  vocabulary: ReadonlyMap<string, FrameVocabulary>;
  /** Inverse document frequency of each text stem over the frames. */
  idf: ReadonlyMap<string, number>;
  /** Literal prefixes of id patterns (mig for ^mig-[a-z0-9]+$), for ids said aloud as "mig 42". */
  idPrefixes: ReadonlySet<string>;
  /** Stems of every frame's resource and parent nouns. */
  resourceStems: ReadonlySet<string>;
  /** Every stem some frame's documentation, resource or parameters use. */
  knownStems: ReadonlySet<string>;
  /** How many frames have each verb phrase (joined by spaces) as their own. */
  verbUse: ReadonlyMap<string, number>;
  /** Every verb phrase the lexicon or a frame knows, longest first, for finding an utterance's verb. */
  verbPhrases: string[][];
}
