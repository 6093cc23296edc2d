import { randomInt } from 'node:crypto';
import type { Redis } from 'ioredis';

// The records behind the API (servers, migrations, images…) live in Redis next to the queues, so the
// service that creates them and the workers that move them along share one source of truth. Each
// record is a hash whose fields hold JSON values; a Lua script changes a record only when its status
// is one the caller expects, so a worker's progress can never overwrite a cancel, or the reverse.

export const COLLECTIONS = {
  servers: 'srv',
  migrations: 'mig',
  plans: 'plan',
  replications: 'rep',
  snapshots: 'snap',
  images: 'img',
  imports: 'imp',
  pipelines: 'pipe',
  builds: 'bld',
} as const;

export type Collection = keyof typeof COLLECTIONS;

export interface StoredRecord {
  id: string;
  createdAt: string;
  updatedAt: string;
  status?: string;
  name?: string | null;
  [field: string]: unknown;
}

/** Which statuses a change may start from: only those in `from`, and none in `notFrom`. */
export interface StatusGuard {
  from?: readonly string[];
  notFrom?: readonly string[];
}

export type UpdateResult<T> =
  | { ok: true; record: T }
  | { ok: false; reason: 'missing' }
  | { ok: false; reason: 'status'; status: string };

const ID_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

/** The collection a record id belongs to, from its prefix. */
export function collectionOf(id: string): Collection | null {
  const prefix = id.slice(0, id.indexOf('-'));
  const found = (Object.entries(COLLECTIONS) as [Collection, string][]).find(([, idPrefix]) => idPrefix === prefix);
  return found ? found[0] : null;
}

export function newId(collection: Collection, length = 10): string {
  let suffix = '';
  for (let i = 0; i < length; i += 1) suffix += ID_ALPHABET[randomInt(ID_ALPHABET.length)];
  return `${COLLECTIONS[collection]}-${suffix}`;
}

// KEYS: record, index, names. ARGV: id, score, name ('' for none), field, value, field, value…
const CREATE = `
if ARGV[3] ~= '' then
  local holder = redis.call('HGET', KEYS[3], ARGV[3])
  if holder and redis.call('EXISTS', KEYS[1]:sub(1, -#ARGV[1] - 1) .. holder) == 1 then return holder end
  redis.call('HSET', KEYS[3], ARGV[3], ARGV[1])
end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return false`;

// KEYS: record. ARGV: allowed statuses ('' for any), refused statuses ('' for none), field, value…
const UPDATE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing'} end
local status = redis.call('HGET', KEYS[1], 'status') or 'null'
if ARGV[1] ~= '' and not string.find(ARGV[1], status, 1, true) then return {'status', status} end
if ARGV[2] ~= '' and string.find(ARGV[2], status, 1, true) then return {'status', status} end
if #ARGV > 2 then redis.call('HSET', KEYS[1], unpack(ARGV, 3)) end
local all = redis.call('HGETALL', KEYS[1])
table.insert(all, 1, 'ok')
return all`;

// KEYS: record, index, names. ARGV: id, name ('' for none), allowed statuses ('' for any).
const REMOVE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing'} end
if ARGV[3] ~= '' then
  local status = redis.call('HGET', KEYS[1], 'status') or 'null'
  if not string.find(ARGV[3], status, 1, true) then return {'status', status} end
end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if ARGV[2] ~= '' and redis.call('HGET', KEYS[3], ARGV[2]) == ARGV[1] then redis.call('HDEL', KEYS[3], ARGV[2]) end
return {'ok'}`;

interface ScriptedRedis extends Redis {
  ferryCreate(record: string, index: string, names: string, ...args: string[]): Promise<string | null>;
  ferryUpdate(record: string, ...args: string[]): Promise<string[]>;
  ferryRemove(record: string, index: string, names: string, ...args: string[]): Promise<string[]>;
}

function encode(fields: Record<string, unknown>): string[] {
  const flat: string[] = [];
  for (const [field, value] of Object.entries(fields)) {
    if (value !== undefined) flat.push(field, JSON.stringify(value));
  }
  return flat;
}

function decode<T>(flat: string[] | Record<string, string>): T {
  const entries = Array.isArray(flat)
    ? Array.from({ length: flat.length / 2 }, (_, i) => [flat[2 * i]!, flat[2 * i + 1]!] as const)
    : Object.entries(flat);
  return Object.fromEntries(entries.map(([field, value]) => [field, JSON.parse(value)])) as T;
}

/** Lua matches the stored status (a JSON string, quotes included) as a substring of this list. */
function statusList(statuses: readonly string[] | undefined): string {
  return statuses ? statuses.map((status) => JSON.stringify(status)).join(',') : '';
}

export class RecordStore {
  private readonly redis: ScriptedRedis;

  constructor(
    redis: Redis,
    private readonly prefix = 'ferry',
  ) {
    if (!('ferryCreate' in redis)) {
      redis.defineCommand('ferryCreate', { numberOfKeys: 3, lua: CREATE });
      redis.defineCommand('ferryUpdate', { numberOfKeys: 1, lua: UPDATE });
      redis.defineCommand('ferryRemove', { numberOfKeys: 3, lua: REMOVE });
    }
    this.redis = redis as ScriptedRedis;
  }

  private key(collection: Collection, id: string): string {
    return `${this.prefix}:rec:${collection}:${id}`;
  }

  private indexKey(collection: Collection): string {
    return `${this.prefix}:idx:${collection}`;
  }

  private namesKey(collection: Collection): string {
    return `${this.prefix}:names:${collection}`;
  }

  /**
   * Stores a new record. With `uniqueName`, the name must not be held by another record of the
   * collection: the holder's id is returned instead and nothing is written.
   */
  async create<T extends StoredRecord>(
    collection: Collection,
    fields: Omit<T, 'id' | 'createdAt' | 'updatedAt'> & { id?: string },
    options: { uniqueName?: string } = {},
  ): Promise<{ ok: true; record: T } | { ok: false; heldBy: string }> {
    const now = new Date();
    const record = { ...fields, id: fields.id ?? newId(collection), createdAt: now.toISOString(), updatedAt: now.toISOString() } as T;
    const holder = await this.redis.ferryCreate(
      this.key(collection, record.id),
      this.indexKey(collection),
      this.namesKey(collection),
      record.id,
      String(now.getTime()),
      options.uniqueName ?? '',
      ...encode(record),
    );
    return holder ? { ok: false, heldBy: holder } : { ok: true, record };
  }

  async get<T extends StoredRecord>(collection: Collection, id: string): Promise<T | null> {
    const flat = await this.redis.hgetall(this.key(collection, id));
    return Object.keys(flat).length === 0 ? null : decode<T>(flat);
  }

  async idForName(collection: Collection, name: string): Promise<string | null> {
    return this.redis.hget(this.namesKey(collection), name);
  }

  /** Newest first. */
  async list<T extends StoredRecord>(collection: Collection): Promise<T[]> {
    const ids = await this.redis.zrevrange(this.indexKey(collection), 0, -1);
    if (ids.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hgetall(this.key(collection, id));
    const replies = (await pipeline.exec()) ?? [];
    return replies
      .map(([, flat]) => flat as Record<string, string>)
      .filter((flat) => flat && Object.keys(flat).length > 0)
      .map((flat) => decode<T>(flat));
  }

  /** Applies `patch` when the record exists and its status passes the guard. */
  async update<T extends StoredRecord>(
    collection: Collection,
    id: string,
    patch: Partial<T>,
    guard: StatusGuard = {},
  ): Promise<UpdateResult<T>> {
    const reply = await this.redis.ferryUpdate(
      this.key(collection, id),
      statusList(guard.from),
      statusList(guard.notFrom),
      ...encode({ ...patch, updatedAt: new Date().toISOString() }),
    );
    if (reply[0] === 'missing') return { ok: false, reason: 'missing' };
    if (reply[0] === 'status') return { ok: false, reason: 'status', status: JSON.parse(reply[1]!) };
    return { ok: true, record: decode<T>(reply.slice(1)) };
  }

  async remove(collection: Collection, record: StoredRecord, from?: readonly string[]): Promise<UpdateResult<StoredRecord>> {
    const reply = await this.redis.ferryRemove(
      this.key(collection, record.id),
      this.indexKey(collection),
      this.namesKey(collection),
      record.id,
      record.name ?? '',
      statusList(from),
    );
    if (reply[0] === 'missing') return { ok: false, reason: 'missing' };
    if (reply[0] === 'status') return { ok: false, reason: 'status', status: JSON.parse(reply[1]!) };
    return { ok: true, record };
  }
}

/** Statuses a record never leaves by itself; a late failure or progress report must not overwrite them. */
export const TERMINAL_STATUSES = ['completed', 'failed', 'cancelled', 'stopped'] as const;
