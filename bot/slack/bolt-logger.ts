import { LogLevel, type Logger as BoltLogger } from '@slack/bolt';
import type { Logger } from 'pino';

// Bolt logs through its own small interface; this hands its lines to Ferry's structured log.

const PINO_LEVEL: Record<LogLevel, string> = {
  [LogLevel.DEBUG]: 'debug',
  [LogLevel.INFO]: 'info',
  [LogLevel.WARN]: 'warn',
  [LogLevel.ERROR]: 'error',
};

const line = (messages: unknown[]): string => messages.map((message) => (message instanceof Error ? message.message : typeof message === 'string' ? message : JSON.stringify(message))).join(' ');

export function boltLogger(logger: Logger): BoltLogger {
  const child = logger.child({ part: 'slack' });
  let level = LogLevel.INFO;
  return {
    debug: (...messages: unknown[]) => child.debug(line(messages)),
    info: (...messages: unknown[]) => child.info(line(messages)),
    warn: (...messages: unknown[]) => child.warn(line(messages)),
    error: (...messages: unknown[]) => child.error(line(messages)),
    setLevel: (next: LogLevel) => {
      level = next;
      child.level = PINO_LEVEL[next];
    },
    getLevel: () => level,
    setName: () => undefined,
  };
}
