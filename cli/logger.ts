import pino, { type Logger } from 'pino';

/** Structured JSON logs on stderr; anything that could carry a secret is redacted by key. */
export function createLogger(level: string, name = 'ferry'): Logger {
  return pino(
    {
      name,
      level,
      redact: {
        paths: ['*.password', '*.token', '*.secret', '*.authorization', 'redisUrl', '*.redisUrl', 'req.headers.authorization', 'req.headers.cookie'],
        censor: '[redacted]',
      },
    },
    pino.destination(2),
  );
}
