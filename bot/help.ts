import { exampleUtterance } from '../nlu/examples.ts';
import type { CommandFrame, Grammar } from '../nlu/frame.ts';
import { capitalised, operationLabel, plural } from '../nlu/wording.ts';

// The reply to "help": every operation of the catalog, grouped by the resource it acts on, each
// with an example of what to say. Plain text with no markup, because a terminal shows it as it is
// and a voice reads its first lines aloud.

export { isHelpRequest } from '../nlu/replies.ts';

const HELP_INTRO = 'Here is what I can do. Say it in your own words; I ask for anything missing.';

/** Examples are checked against the understanding, which takes a while on a large catalog: one text per grammar. */
const texts = new WeakMap<Grammar, string>();

/** The help reply: an intro sentence, then per resource ("Servers:") one line per operation with an example in double quotes. */
export function helpText(grammar: Grammar): string {
  let text = texts.get(grammar);
  if (text === undefined) {
    text = compose(grammar);
    texts.set(grammar, text);
  }
  return text;
}

function compose(grammar: Grammar): string {
  if (grammar.frames.length === 0) return 'No operations are loaded, so there is nothing I can do yet.';
  // Resources in the order the catalog first names them.
  const groups = new Map<string, CommandFrame[]>();
  for (const frame of grammar.frames) groups.set(frame.resource, [...(groups.get(frame.resource) ?? []), frame]);
  const sections = [...groups].map(([resource, frames]) =>
    [`${capitalised(plural(resource))}:`, ...frames.map((frame) => `  ${capitalised(operationLabel(grammar, frame))}: "${exampleUtterance(grammar, frame)}"`)].join('\n'),
  );
  return [HELP_INTRO, ...sections].join('\n\n');
}
