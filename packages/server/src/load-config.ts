import { readFileSync } from 'node:fs';
import { parseConfig, type MixtapeConfig } from '@mixtape/core';

/** The configuration from this process's environment. @throws ConfigError */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): MixtapeConfig {
  return parseConfig(env, { readSecretFile: (path) => readFileSync(path, 'utf8') });
}
