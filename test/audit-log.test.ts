import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog, auditResultOf, type AuditAppend } from '../bot/audit-log.ts';
import { startTestRedis } from './helpers/redis.ts';

let redis: Awaited<ReturnType<typeof startTestRedis>>;
let client: Redis;
let logs = 0;

/** A log under a key no other test uses. */
const newLog = (maxLength?: number): AuditLog => new AuditLog(client, { key: `ferry:audit:test-${++logs}`, maxLength });

const entry = (overrides: Partial<AuditAppend> = {}): AuditAppend => ({
  surface: 'slack',
  who: 'U024BE7LH',
  where: 'C024BE91L/1712345678.000100',
  utterance: 'pause mig-42',
  operationId: 'pauseMigration',
  params: { migrationId: 'mig-42' },
  paramFrames: [{ name: 'migrationId', in: 'path' }],
  result: { ok: true, status: 200, recordId: 'mig-42' },
  ...overrides,
});

beforeAll(async () => {
  redis = await startTestRedis();
  client = new Redis(redis.url);
});

afterAll(async () => {
  client.disconnect();
  await redis.stop();
});

describe('the audit log', () => {
  it('keeps every field of an entry as it was appended', async () => {
    const log = newLog();
    const time = new Date('2025-03-04T05:06:07.089Z');
    const id = await log.append(
      entry({
        time,
        surface: 'voice',
        who: '+4930123456',
        where: 'CA1234567890abcdef',
        utterance: 'start a migration of web-01 to kvm-2 with 8 streams',
        operationId: 'startMigration',
        params: { serverId: 'web-01', targetHost: 'kvm-2', streams: 8, verify: false, tags: ['a', 'b'] },
        paramFrames: [],
        result: { ok: true, status: 202, recordId: 'mig-7' },
      }),
    );
    expect(await log.list({ count: 10 })).toEqual([
      {
        id,
        time,
        surface: 'voice',
        who: '+4930123456',
        where: 'CA1234567890abcdef',
        utterance: 'start a migration of web-01 to kvm-2 with 8 streams',
        operationId: 'startMigration',
        params: { serverId: 'web-01', targetHost: 'kvm-2', streams: 8, verify: false, tags: ['a', 'b'] },
        result: { ok: true, status: 202, recordId: 'mig-7' },
      },
    ]);
    expect(await client.xlen(log.key)).toBe(1);
  });

  it('keeps failures with their status and error', async () => {
    const log = newLog();
    await log.append(entry({ result: { ok: false, status: 409, error: 'Migration mig-42 is completed; it cannot be paused.' } }));
    await log.append(entry({ result: { ok: false, error: 'Ferry could not reach http://127.0.0.1:8080.' } }));
    const [unreachable, conflict] = await log.list({ count: 2 });
    expect(conflict!.result).toEqual({ ok: false, status: 409, error: 'Migration mig-42 is completed; it cannot be paused.' });
    expect(unreachable!.result).toEqual({ ok: false, error: 'Ferry could not reach http://127.0.0.1:8080.' });
  });

  it('lists newest first and pages back with before', async () => {
    const log = newLog();
    for (let n = 1; n <= 7; n++) await log.append(entry({ utterance: `get mig-${n}` }));
    const first = await log.list({ count: 3 });
    expect(first.map((item) => item.utterance)).toEqual(['get mig-7', 'get mig-6', 'get mig-5']);
    const second = await log.list({ count: 3, before: first.at(-1)!.id });
    expect(second.map((item) => item.utterance)).toEqual(['get mig-4', 'get mig-3', 'get mig-2']);
    const last = await log.list({ count: 3, before: second.at(-1)!.id });
    expect(last.map((item) => item.utterance)).toEqual(['get mig-1']);
    expect(await log.list({ count: 3, before: last[0]!.id })).toEqual([]);
    expect(await newLog().list({ count: 3 })).toEqual([]);
  });

  it('is capped, roughly, and keeps the newest entries', async () => {
    const log = newLog(50);
    const pipeline = [];
    for (let n = 1; n <= 600; n++) pipeline.push(log.append(entry({ utterance: `get mig-${n}` })));
    await Promise.all(pipeline);
    const length = await client.xlen(log.key);
    // MAXLEN ~ trims whole nodes of the stream (100 entries each by default), never below the cap.
    expect(length).toBeGreaterThanOrEqual(50);
    expect(length).toBeLessThanOrEqual(150);
    expect((await log.list({ count: 1 }))[0]!.utterance).toBe('get mig-600');
  });

  it('stores no header values, credentials or overlong utterances', async () => {
    const log = newLog();
    await log.append(
      entry({
        utterance: `import https://ops:hunter2@images.example.com/base.qcow2?X-Amz-Signature=abc123&v=2 ${'and more '.repeat(200)}`,
        operationId: 'importImage',
        params: {
          sourceUrl: 'https://ops:hunter2@images.example.com/base.qcow2?X-Amz-Signature=abc123&v=2',
          'X-Api-Key': 'sk-live-123',
          session: 'cookie-value',
          options: { password: 'p4ss', name: 'base' },
          name: 'base',
        },
        paramFrames: [
          { name: 'sourceUrl', in: 'body' },
          { name: 'X-Api-Key', in: 'header' },
          { name: 'session', in: 'cookie' },
        ],
        result: { ok: false, status: 502, error: 'https://ops:hunter2@images.example.com/base.qcow2 answered 403' },
      }),
    );
    const [stored] = await log.list({ count: 1 });
    expect(stored!.params).toEqual({
      sourceUrl: 'https://ops:dropped@images.example.com/base.qcow2?X-Amz-Signature=dropped&v=2',
      'X-Api-Key': '[dropped]',
      session: '[dropped]',
      options: { password: '[dropped]', name: 'base' },
      name: 'base',
    });
    expect(stored!.utterance).toHaveLength(500);
    expect(stored!.utterance.endsWith('…')).toBe(true);
    expect(stored!.result).toEqual({ ok: false, status: 502, error: 'https://ops:dropped@images.example.com/base.qcow2 answered 403' });
    const raw = JSON.stringify(await client.xrange(log.key, '-', '+'));
    for (const secret of ['hunter2', 'abc123', 'sk-live-123', 'cookie-value', 'p4ss']) expect(raw).not.toContain(secret);
  });

  it('refuses a count or cap that is not a positive whole number', async () => {
    expect(() => newLog(0)).toThrow(RangeError);
    await expect(newLog().list({ count: 0 })).rejects.toThrow(RangeError);
  });
});

describe('auditResultOf', () => {
  it('takes the record id from a body and the detail from a problem', () => {
    expect(auditResultOf({ ok: true, status: 202, body: { id: 'mig-3', status: 'queued' } })).toEqual({ ok: true, status: 202, recordId: 'mig-3' });
    expect(auditResultOf({ ok: true, status: 200, body: [{ id: 'srv-1' }] })).toEqual({ ok: true, status: 200 });
    expect(auditResultOf({ ok: false, status: 404, problem: { title: 'Not Found', detail: 'No migration mig-9.' } })).toEqual({
      ok: false,
      status: 404,
      error: 'No migration mig-9.',
    });
    expect(auditResultOf({ ok: false, status: 500, problem: { title: 'Internal Server Error' } })).toEqual({ ok: false, status: 500, error: 'Internal Server Error' });
  });
});
