import { describe, expect, it } from 'vitest';
import { forTheEar } from '../bot/voice/spoken.ts';
import { checkTranscriptSignature, signTranscript } from '../bot/voice/transcript-signature.ts';

const prefixes = new Set(['mig', 'srv', 'img']);

describe('replies for the ear', () => {
  it('spells ids as the NLU hears them back, rounds numbers and says units in words', () => {
    expect(forTheEar('Pause migration mig-42. Shall I go ahead?', prefixes)).toBe('Pause migration mig 42. Shall I go ahead?');
    expect(forTheEar('mig-k21e · backfilling\n[████████░░░░░░░░░░░░] 37% · 6.0 MiB of 16.0 MiB · 3.2 MiB/s · ETA 1m 4s', prefixes)).toBe(
      'mig k 2 1 e, backfilling. 37 percent, 6 megabytes of 16 megabytes, 3 megabytes a second, about 1 minute 4 seconds left.',
    );
    expect(forTheEar('Get image img-7.\nimg-7 · debian · ready\nsizeBytes: 21474836480', prefixes)).toBe('Get image img 7. debian, ready.');
  });

  it('says the first items of a list and how many more, and leaves addresses alone', () => {
    const list = ['List servers:', '• srv-a1 · web-01 · available', '• srv-b2 · web-02 · offline', '• srv-c3 · db-01 · available', '• srv-d4 · db-02 · available', '… and 12 more.'].join('\n');
    expect(forTheEar(list, prefixes)).toBe('List servers. web-01, available; web-02, offline; db-01, available; and 13 more.');
    expect(forTheEar('Register server with name ftp-1 and source nbd://10.0.0.5:10809/ftp-1. Shall I go ahead?', prefixes)).toBe(
      'Register server with name ftp-1 and source nbd://10.0.0.5:10809/ftp-1. Shall I go ahead?',
    );
    expect(forTheEar('Network 10.0.0.0/16 holds 16777216 bytes', prefixes)).toBe('Network 10.0.0.0/16 holds about 17 million bytes.');
  });
});

describe('help for the ear', () => {
  it('says the introduction and three examples to say, not the headings', () => {
    const help = ['Here is what I can do.', '', 'Servers:', '  List servers: "list servers"', '  Get server: "get server srv-1"', '', 'Migrations:', '  Pause migration: "pause migration mig-1"', '  Cancel migration: "cancel migration mig-1"'].join('\n');
    expect(forTheEar(help, prefixes)).toBe('Here is what I can do. For example: list servers; get server srv 1; pause migration mig 1; and 1 more.');
  });
});

describe('the transcript webhook signature', () => {
  const now = 1_800_000_000_000;
  const body = '{"text":"list servers","callerId":"+15550001111","sessionId":"s1"}';
  const timestamp = String(now / 1000);

  it('takes a signature made with the secret over "<timestamp>.<raw body>"', () => {
    expect(checkTranscriptSignature('secret', timestamp, signTranscript('secret', Number(timestamp), body), body, now)).toEqual({ ok: true });
  });

  it('refuses another secret, another body, an old or future timestamp, and missing headers, saying why', () => {
    const signature = signTranscript('secret', Number(timestamp), body);
    expect(checkTranscriptSignature('other', timestamp, signature, body, now)).toEqual({ ok: false, reason: 'the signature does not match the body' });
    expect(checkTranscriptSignature('secret', timestamp, signature, body.replace('list', 'drop'), now).ok).toBe(false);
    expect(checkTranscriptSignature('secret', timestamp, signature, body, now + 301_000)).toMatchObject({ ok: false, reason: expect.stringMatching(/older than five minutes/) });
    expect(checkTranscriptSignature('secret', timestamp, signature, body, now - 301_000)).toMatchObject({ ok: false, reason: expect.stringMatching(/in the future/) });
    expect(checkTranscriptSignature('secret', undefined, signature, body, now)).toMatchObject({ ok: false });
    expect(checkTranscriptSignature('secret', '12:00', signature, body, now)).toMatchObject({ ok: false, reason: 'X-Ferry-Timestamp must be Unix seconds' });
  });
});
