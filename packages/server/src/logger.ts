import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * Structured JSON logs. Fields that could carry a secret are censored wherever they appear,
 * as a second line of defence: the code does not log them in the first place.
 */
export function createLogger(options: { level?: string; destination?: pino.DestinationStream } = {}): Logger {
  return pino(
    {
      name: 'mixtape',
      level: options.level ?? 'info',
      redact: {
        paths: [
          'password',
          '*.password',
          'refreshToken',
          '*.refreshToken',
          'accessToken',
          '*.accessToken',
          'authorization',
          '*.authorization',
          '*.headers.authorization',
          '*.headers.cookie',
          'secret',
          '*.secret',
        ],
        censor: '[redacted]',
      },
    },
    options.destination,
  );
}
