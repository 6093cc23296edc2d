import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

// Replies that are about the conversation rather than commands: yes and no to a confirmation, a
// bare "cancel", "the second one", a request for help. The phrases are data (nlu/lexicon/dialogue.yaml).

interface DialogueWords {
  politeness: string[][];
  yes: string[][];
  no: string[][];
  abandon: string[][];
  ordinals: Map<string, number>;
  choiceWords: string[][];
  help: string[][];
  farewell: string[][];
}

/** The words of a reply: lower case, apostrophes made straight, punctuation gone. */
function wordsOf(text: string): string[] {
  return text
    .toLowerCase()
    .replace(/[\u2018\u2019]/g, "'")
    .replace(/[^\p{L}\p{N}'\s-]/gu, ' ')
    .split(/\s+/)
    .filter(Boolean);
}

const phrases = (list: unknown): string[][] => (list as unknown[]).map((item) => wordsOf(String(item)));

function load(): DialogueWords {
  const data = parse(readFileSync(new URL('./lexicon/dialogue.yaml', import.meta.url), 'utf8')) as Record<string, unknown>;
  return {
    politeness: phrases(data.politeness),
    yes: phrases(data.yes),
    no: phrases(data.no),
    abandon: phrases(data.abandon),
    ordinals: new Map(Object.entries(data.ordinals as Record<string, number>)),
    choiceWords: phrases(data.choiceWords),
    help: phrases(data.help),
    farewell: phrases(data.farewell),
  };
}

const dialogueWords = load();

const startsWith = (words: readonly string[], phrase: readonly string[], at = 0): boolean => phrase.every((word, i) => words[at + i] === word);
const endsWith = (words: readonly string[], phrase: readonly string[]): boolean => startsWith(words, phrase, words.length - phrase.length);

/** True when `words` are nothing but `phrases` and politeness, with at least one of `phrases` ("yes, go ahead please"). */
function madeOf(words: readonly string[], phrases: readonly string[][]): boolean {
  const from = (at: number, found: boolean): boolean =>
    at === words.length
      ? found
      : phrases.some((phrase) => startsWith(words, phrase, at) && from(at + phrase.length, true)) ||
        dialogueWords.politeness.some((phrase) => startsWith(words, phrase, at) && from(at + phrase.length, found));
  return from(0, false);
}

/** `words` without the given phrases at either end, keeping at least one word ("the one" → "one"). */
function trim(words: readonly string[], around: readonly string[][]): string[] {
  let left = [...words];
  let trimmed = true;
  while (trimmed) {
    trimmed = false;
    for (const phrase of around) {
      if (phrase.length >= left.length) continue;
      if (startsWith(left, phrase)) left = left.slice(phrase.length);
      else if (endsWith(left, phrase)) left = left.slice(0, left.length - phrase.length);
      else continue;
      trimmed = true;
    }
  }
  return left;
}

export type ConversationReply = 'yes' | 'no' | 'abandon';

/** What a reply says about the pending command, or null when it says anything more ("cancel mig-3" is a command). */
export function conversationReply(text: string): ConversationReply | null {
  const words = wordsOf(text);
  if (madeOf(words, dialogueWords.abandon)) return 'abandon';
  if (madeOf(words, dialogueWords.yes)) return 'yes';
  // "no, cancel" refuses as plainly as "no".
  if (madeOf(words, [...dialogueWords.no, ...dialogueWords.abandon])) return 'no';
  return null;
}

/** Which of the offered choices a reply such as "the second one" or "2" picks, counting from 1; null when it is not such a reply. */
export function ordinalChoice(text: string): number | null {
  const core = trim(trim(wordsOf(text), dialogueWords.politeness), dialogueWords.choiceWords);
  return core.length === 1 ? (dialogueWords.ordinals.get(core[0]!) ?? null) : null;
}

/** A mention of the bot or of anyone else ("@ferry", Slack's "<@U0123>"), which says nothing about what is asked. */
const MENTION = /<@[^>]*>|(?<![\w@])@[\w.-]+/g;

/** True when the message asks what Ferry can do ("help", "what can you do?", "@ferry help please"), and nothing more: "help me migrate web-01" is a command. */
export function isHelpRequest(text: string): boolean {
  return madeOf(wordsOf(text.replace(MENTION, ' ')), dialogueWords.help);
}

/** True when the words end a call ("that's all, thanks", "goodbye"). */
export function isFarewell(text: string): boolean {
  return madeOf(wordsOf(text), dialogueWords.farewell);
}
