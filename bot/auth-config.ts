import { readFile } from 'node:fs/promises';
import { Ajv, type ErrorObject } from 'ajv';
import { parse } from 'yaml';

// The authorisation file (FERRY_AUTH_FILE) and FERRY_OPERATORS: who is granted what. Deciding
// whether a command may run is bot/authorisation.ts's job; this module only reads and checks.

/** What a principal may run; each level includes the ones before it. */
export const LEVELS = ['read', 'change', 'destroy'] as const;
export type Level = (typeof LEVELS)[number];

/** The grants of the authorisation file, by kind of id. */
export interface AuthConfig {
  users: ReadonlyMap<string, Level>;
  groups: ReadonlyMap<string, Level>;
  channels: ReadonlyMap<string, Level>;
  /** Voice callers by number: a level of their own and the Slack user whose permissions they get. */
  callers: ReadonlyMap<string, { level?: Level; user?: string }>;
}

export const EMPTY_AUTH_CONFIG: AuthConfig = { users: new Map(), groups: new Map(), channels: new Map(), callers: new Map() };

// Slack ids are upper-case letters and digits after a kind letter (W for Enterprise Grid users).
const USER_ID = /^[UW][A-Z0-9]{2,}$/;
const GROUP_ID = /^S[A-Z0-9]{2,}$/;
const CHANNEL_ID = /^[CGD][A-Z0-9]{2,}$/;
const CALLER_NUMBER = /^\+[1-9][0-9]{1,14}$/;

/** A caller number as written by people or carriers (`+49 30 123-456`) in its E.164 form. */
export const normaliseCaller = (number: string): string => number.replace(/[\s().-]/g, '');

/** Why the file was refused; the message names the file and the field. */
export class AuthConfigError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AuthConfigError';
  }
}

const SECTIONS = {
  users: { id: USER_ID, what: 'a Slack user id (U… or W…)' },
  groups: { id: GROUP_ID, what: 'a Slack user group id (S…)' },
  channels: { id: CHANNEL_ID, what: 'a Slack channel id (C…, G… or D…)' },
  callers: { id: CALLER_NUMBER, what: 'a phone number in E.164 form (+4930123456)' },
} as const;
type Section = keyof typeof SECTIONS;

const levelSchema = { type: 'string', enum: LEVELS };
const grants = (id: RegExp, value: object): object => ({
  type: 'object',
  patternProperties: { [id.source]: value },
  additionalProperties: false,
});

const schema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    users: grants(USER_ID, levelSchema),
    groups: grants(GROUP_ID, levelSchema),
    channels: grants(CHANNEL_ID, levelSchema),
    callers: grants(CALLER_NUMBER, {
      type: 'object',
      additionalProperties: false,
      minProperties: 1,
      properties: { level: levelSchema, user: { type: 'string', pattern: USER_ID.source } },
    }),
  },
};

interface FileShape {
  users?: Record<string, Level>;
  groups?: Record<string, Level>;
  channels?: Record<string, Level>;
  callers?: Record<string, { level?: Level; user?: string }>;
}

const validate = new Ajv({ allErrors: true, strict: true }).compile<FileShape>(schema);

/** `/callers/+4930123456/user` → `callers."+4930123456".user`: the field as the file's author would look for it. */
function fieldOf(instancePath: string, child?: string): string {
  const parts = instancePath.split('/').slice(1).map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (child !== undefined) parts.push(child);
  return parts.map((part) => (/^[A-Za-z0-9_]+$/.test(part) ? part : JSON.stringify(part))).join('.');
}

function describeError(error: ErrorObject): string {
  const field = fieldOf(error.instancePath);
  const section = error.instancePath.split('/')[1] as Section | undefined;
  switch (error.keyword) {
    case 'additionalProperties': {
      const key = String(error.params.additionalProperty);
      if (error.instancePath === '') return `${fieldOf('', key)} is not a section; the sections are ${Object.keys(SECTIONS).join(', ')}`;
      if (section && error.instancePath === `/${section}`) return `${fieldOf(error.instancePath, key)}: the key must be ${SECTIONS[section].what}`;
      return `${fieldOf(error.instancePath, key)} is not a field of a caller; a caller has level and user`;
    }
    case 'enum':
      return `${field} must be one of ${LEVELS.join(', ')}`;
    case 'pattern':
      return `${field} must be ${SECTIONS.users.what}`;
    case 'minProperties':
      return `${field} must give a level, a user, or both`;
    case 'type':
      return `${field || 'the top level'} must be ${error.params.type === 'object' ? 'a mapping' : `a ${String(error.params.type)}`}`;
    default:
      return `${field || 'the top level'} ${error.message ?? 'is not valid'}`;
  }
}

const mapOf = <T>(record: Record<string, T> | undefined): Map<string, T> => new Map(Object.entries(record ?? {}));

/** The grants of a file's text; `file` only names it in errors. */
export function parseAuthConfig(text: string, file: string): AuthConfig {
  let document: unknown;
  try {
    // The failsafe schema reads every scalar as a string, so an unquoted +4930123456 stays a
    // phone number instead of becoming the integer 4930123456.
    document = parse(text, { schema: 'failsafe' });
  } catch (error) {
    throw new AuthConfigError(`${file}: not valid YAML: ${(error as Error).message}`, { cause: error });
  }
  if (!validate(document)) {
    const problems = (validate.errors ?? []).map(describeError);
    throw new AuthConfigError(`${file}: ${[...new Set(problems)].join('; ')}`);
  }
  const callers = new Map<string, { level?: Level; user?: string }>();
  for (const [number, caller] of Object.entries(document.callers ?? {})) callers.set(number, { ...caller });
  return { users: mapOf(document.users), groups: mapOf(document.groups), channels: mapOf(document.channels), callers };
}

export async function loadAuthConfig(file: string): Promise<AuthConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message;
    throw new AuthConfigError(`${file}: the authorisation file (FERRY_AUTH_FILE) cannot be read: ${reason}`, { cause: error });
  }
  return parseAuthConfig(text, file);
}

/** FERRY_OPERATORS: comma-separated Slack user ids and caller numbers, each allowed everything. */
export function parseOperators(value: string | undefined): Set<string> {
  const operators = new Set<string>();
  for (const entry of (value ?? '').split(',').map((item) => item.trim()).filter(Boolean)) {
    const id = entry.startsWith('+') ? normaliseCaller(entry) : entry;
    if (!USER_ID.test(id) && !CALLER_NUMBER.test(id)) {
      throw new AuthConfigError(`FERRY_OPERATORS: "${entry}" is neither ${SECTIONS.users.what} nor ${SECTIONS.callers.what}`);
    }
    operators.add(id);
  }
  return operators;
}
