// Replies written for the ear. A chat reply is read; a spoken one is heard once, so it keeps the
// first sentence of a record and a few items of a list, spells ids as the NLU hears them back
// ("mig k 2 1"), rounds numbers, says units in words and drops the bars and bullets.

const MAX_ITEMS = 3;
const MAX_LENGTH = 400;

const UNITS: Record<string, string> = { B: 'bytes', KiB: 'kilobytes', MiB: 'megabytes', GiB: 'gigabytes', TiB: 'terabytes' };

/** "mig-42" → "mig 42"; "mig-k21e" → "mig k 2 1 e": letters and digits one by one, as they are heard back. */
function spokenId(prefix: string, rest: string): string {
  return /^\d+$/.test(rest) ? `${prefix} ${rest}` : `${prefix} ${rest.split('').join(' ')}`;
}

/** 16777216 → "about 17 million"; 1536 → "1536"; 3.2 → "3". */
function spokenNumber(text: string): string {
  const value = Number(text);
  if (!Number.isFinite(value)) return text;
  if (Math.abs(value) >= 1e9) return `about ${Math.round(value / 1e9)} billion`;
  if (Math.abs(value) >= 1e6) return `about ${Math.round(value / 1e6)} million`;
  if (Math.abs(value) >= 1e5) return `about ${Math.round(value / 1e3)} thousand`;
  return String(Math.round(value));
}

const TIME_UNITS: Record<string, string> = { h: 'hour', m: 'minute', s: 'second' };

/** "3m 20s" → "3 minutes 20 seconds", "1h 5m" → "1 hour 5 minutes". */
function durationWords(text: string): string {
  return text.replace(/\b(\d+)([hms])\b/g, (_whole, count: string, unit: string) => `${count} ${TIME_UNITS[unit]}${count === '1' ? '' : 's'}`);
}

const URL_IN_TEXT = /[a-z][a-z0-9+.-]*:\/\/\S+/gi;

/** One line of a reply in words; URLs are said as they are written. */
function spokenLine(line: string, idPrefixes: ReadonlySet<string>): string {
  const kept: string[] = [];
  const words = line.replace(URL_IN_TEXT, (url) => `\u0000${kept.push(url) - 1}\u0000`);
  return spokenWords(words, idPrefixes).replace(/\u0000(\d+)\u0000/g, (_whole, index: string) => kept[Number(index)]!);
}

function spokenWords(line: string, idPrefixes: ReadonlySet<string>): string {
  return durationWords(
    line
      .replace(/\[[█░]+\]\s*/g, '')
      .replace(/^•\s*/, '')
      .replace(/\bETA ((?:\d+[hms] ?)+)/g, (_whole, left: string) => `about ${left.trim()} left`)
      .replace(/\b([a-z]+)-([a-z0-9]+)\b/g, (whole, prefix: string, rest: string) => (idPrefixes.has(prefix) ? spokenId(prefix, rest) : whole))
      .replace(/(\d+(?:\.\d+)?) (B|KiB|MiB|GiB|TiB)\/s\b/g, (_whole, number: string, unit: string) => `${spokenNumber(number)} ${UNITS[unit]} a second`)
      .replace(/(\d+(?:\.\d+)?) (B|KiB|MiB|GiB|TiB)\b/g, (_whole, number: string, unit: string) => `${spokenNumber(number)} ${UNITS[unit]}`)
      .replace(/(\d+)%/g, '$1 percent')
      // Not a part of an address (10.0.0.5) or a version: a number with one point, or a long one.
      .replace(/(?<![\d.])\d+\.\d+(?![\d.])|(?<![\d.])\d{6,}(?![\d.])/g, spokenNumber)
      .replace(/\s*·\s*/g, ', ')
      .replace(/\s+/g, ' ')
      .trim(),
  );
}

/** An item of a list: a bullet, or an indented line under a heading (the help's `  List servers: "list servers"`). */
const isItem = (line: string): boolean => line.startsWith('• ') || /^\s+\S/.test(line);

/**
 * A record's headline "srv-1 · web-01 · available" is heard as "web-01, available": the id only
 * when little else is said. An example in quotes is heard as the words to say.
 */
function spokenHeadline(line: string, idPrefixes: ReadonlySet<string>): string {
  const example = /^\s+[^"]*: "(.*)"$/.exec(line)?.[1];
  if (example !== undefined) return spokenLine(example, idPrefixes);
  const parts = line.replace(/^•\s*/, '').split(' · ');
  const isId = (part: string): boolean => {
    const match = /^([a-z]+)-[a-z0-9]+$/.exec(part);
    return match !== null && idPrefixes.has(match[1]!);
  };
  const named = parts.filter((part) => !isId(part));
  return spokenLine((named.length >= 2 ? named : parts).join(' · '), idPrefixes);
}

const sentence = (text: string): string => (/[.?!]$/.test(text) ? text : `${text}.`);

/** The reply as it is said: its first line, then the first items of a list or the headline of a record. */
export function forTheEar(text: string, idPrefixes: ReadonlySet<string>): string {
  const lines = text.split('\n').filter((line) => line.trim() !== '');
  if (lines.length === 0) return '';
  const head = sentence(spokenLine(lines[0]!, idPrefixes).replace(/:$/, ''));
  const rest = lines.slice(1);
  const items = rest.filter(isItem);
  let spoken: string;
  if (items.length > 0) {
    const more = items.length - MAX_ITEMS + (rest.find((line) => /^… and (\d+) more/.test(line)) ? Number(/(\d+)/.exec(rest.find((line) => line.startsWith('…'))!)![1]) : 0);
    const said = items.slice(0, MAX_ITEMS).map((line) => spokenHeadline(line, idPrefixes));
    const intro = items.some((line) => !line.startsWith('• ')) ? 'For example: ' : '';
    spoken = `${head} ${intro}${said.join('; ')}${more > 0 ? `; and ${more} more` : ''}.`;
  } else if (rest.length > 0 && !lines[0]!.endsWith('?')) {
    spoken = `${head} ${sentence(spokenHeadline(rest[0]!, idPrefixes))}`;
  } else spoken = head;
  return spoken.length > MAX_LENGTH ? `${spoken.slice(0, MAX_LENGTH - 1).replace(/\s+\S*$/, '')}…` : spoken;
}
