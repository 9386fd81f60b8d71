import { randomUUID } from 'node:crypto';

/** Opaque, unguessable identifiers for rows the service creates. */
export function newId(): string {
  return randomUUID();
}
