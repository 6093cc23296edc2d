/** What an utterance means in terms of the catalog: the contract of `ferry nlu` (see DESIGN.md). */
export interface Interpretation {
  /** The operation meant, or null when nothing in the catalog fits. */
  operationId: string | null;
  /** Only what the user said, typed as the parameter's schema says; never defaults. */
  params: Record<string, unknown>;
  /** Required parameters the utterance did not give. */
  missing: string[];
  /** 0..1 */
  confidence: number;
  /** Other operations that fit, best first. */
  alternatives: { operationId: string; confidence: number }[];
}

/** What the conversation knows that an utterance may refer to ("it", "that migration"). */
export interface UnderstandingContext {
  /**
   * The last resource id mentioned or created in the conversation, by resource noun (server,
   * migration…), in the order they were last mentioned: the most recent last.
   */
  lastResources?: Record<string, string>;
}
