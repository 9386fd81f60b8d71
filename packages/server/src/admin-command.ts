import { MigrationsPendingError, NotFoundError, UserRoles, type MixtapeConfig, type RoleChange } from '@mixtape/core';
import { openBackends, type OpenedBackends } from './backends.js';

/** sysexits(3): 64 bad usage, 67 no such user, 78 the database is not ready. */
const EXIT = { usage: 64, noUser: 67, config: 78 } as const;

export const ADMIN_USAGE = `Usage: mixtape admin grant <username>    give the admin role
       mixtape admin revoke <username>   take it away (at once, even from signed-in sessions)
`;

const say = (line: string) => process.stdout.write(`${line}\n`);
const complain = (line: string) => process.stderr.write(`mixtape admin: ${line}\n`);

/**
 * `mixtape admin grant|revoke <username>`. It applies no migration: changing who is admin must
 * not also change the schema behind a running server's back, so a database that is missing or
 * not migrated is reported with the command that fixes it (`mixtape migrate`).
 * The configuration is loaded only once the arguments are known to be good.
 */
export async function adminCommand(args: string[], loadConfig: () => MixtapeConfig): Promise<number> {
  const [action, username, ...extra] = args;
  if (action === 'help' || action === '--help' || action === '-h') {
    process.stdout.write(ADMIN_USAGE);
    return 0;
  }
  if ((action !== 'grant' && action !== 'revoke') || !username || extra.length > 0) {
    complain(`expected grant or revoke and one username\n\n${ADMIN_USAGE}`);
    return EXIT.usage;
  }
  const config = loadConfig();
  let backends: OpenedBackends;
  try {
    // Roles are read from the database on every request: nothing here goes through Redis.
    backends = await openBackends(config, { migrate: false, create: false, redis: false });
  } catch (error) {
    if (error instanceof NotFoundError) complain(`${error.message}: run \`mixtape migrate\` first`);
    else if (error instanceof MigrationsPendingError) {
      complain(`the database is not migrated (migrations ${error.pending.join(', ')} pending): run \`mixtape migrate\` first`);
    } else throw error;
    return EXIT.config;
  }
  try {
    const roles = new UserRoles(backends.users);
    try {
      const change = action === 'grant' ? await roles.grant(username, 'admin') : await roles.revoke(username, 'admin');
      say(describe(action, change));
      return 0;
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
      complain(`no user is named "${username}"`);
      return EXIT.noUser;
    }
  } finally {
    await backends.close();
  }
}

function describe(action: 'grant' | 'revoke', { username, changed }: RoleChange): string {
  if (action === 'grant') return changed ? `${username} is now an admin` : `${username} was already an admin`;
  return changed ? `${username} is no longer an admin` : `${username} was not an admin`;
}
