import { LeaseLostError, LockLostError } from '../errors.js';
import { quotaRefusal, toItem, toUsage, type ItemRow, type UsageRow } from '../library/library-rows.js';
import type { AddOutcome, LibraryStore, ReservationHolder, StorageUsage } from '../library/library-store.js';
import type { Fence } from '../locks/lock-manager.js';
import type { LibraryItem, Page, PageRequest } from '../model.js';
import type { MysqlDatabase, MysqlQueryable } from './mysql-database.js';
import { holdsFence } from './mysql-fencing-tokens.js';
import { mysqlStatements } from './mysql-statements.js';
import text from './mysql-library-store.sql';

const SQL = mysqlStatements(text, [
  'item',
  'reservedBy',
  'clearReservation',
  'ensureUsage',
  'lockUsage',
  'usage',
  'commit',
  'insert',
  'unreserve',
  'itemForUpdate',
  'remove',
  'uncommit',
  'countForUser',
  'pageForUser',
  'holderCount',
  'clearStrayReservations',
  'recountUsage',
  'addMissingUsage',
]);

/**
 * Per-user libraries in MySQL, with a usage row per user (`user_usage`) that every add and
 * removal changes in its own transaction (see LibraryStore).
 *
 * The usage row is the user's lock: an add or a removal locks it before reading the user's
 * items, so two adds racing for the last bytes take turns, in any number of processes. An add
 * that commits a reservation locks the job's row first, the order the job queue's transitions
 * take too. A fenced add checks its token with `holdsFence`, whose shared lock on the key's
 * row lasts to the commit: an acquisition that would raise the token waits until the add has
 * committed, and a stale token writes nothing (LockLostError), the quota commit included.
 */
export class MysqlLibraryStore implements LibraryStore {
  readonly #db: MysqlDatabase;

  constructor(db: MysqlDatabase) {
    this.#db = db;
  }

  async add(
    item: { userId: string; trackId: string; sizeBytes: number },
    limitBytes: number,
    fence?: Fence,
    reservation?: ReservationHolder,
  ): Promise<AddOutcome> {
    const { userId, trackId, sizeBytes } = item;
    return this.#db.transaction(async (tx): Promise<AddOutcome> => {
      let heldBytes = 0;
      if (reservation) {
        const held = await tx.get<{ reserved_bytes: number }>(SQL.reservedBy, { jobId: reservation.jobId, token: reservation.token });
        if (!held) throw new LeaseLostError(reservation.jobId);
        heldBytes = held.reserved_bytes;
      }
      await tx.run(SQL.ensureUsage, { userId });
      if (await tx.get(SQL.item, { userId, trackId })) {
        await this.#endReservation(tx, userId, reservation, heldBytes);
        return 'exists';
      }
      if ((await tx.run(SQL.commit, { userId, sizeBytes, heldBytes, limitBytes })).affectedRows === 0) {
        throw quotaRefusal((await tx.get<UsageRow>(SQL.usage, { userId }))!, heldBytes, limitBytes, sizeBytes);
      }
      // The throw rolls the quota commit back with everything else.
      if (fence && !(await holdsFence(tx, fence))) throw new LockLostError(fence.key);
      await tx.run(SQL.insert, { userId, trackId, sizeBytes });
      if (reservation) await tx.run(SQL.clearReservation, { jobId: reservation.jobId });
      return 'added';
    });
  }

  async remove(userId: string, trackId: string): Promise<boolean> {
    return this.#db.transaction(async (tx) => {
      await tx.get(SQL.lockUsage, { userId });
      const item = await tx.get<{ size_bytes: number }>(SQL.itemForUpdate, { userId, trackId });
      if (!item) return false;
      await tx.run(SQL.remove, { userId, trackId });
      await tx.run(SQL.uncommit, { userId, sizeBytes: item.size_bytes });
      return true;
    });
  }

  async get(userId: string, trackId: string): Promise<LibraryItem | null> {
    const row = await this.#db.get<ItemRow>(SQL.item, { userId, trackId });
    return row ? toItem(row) : null;
  }

  /** Newest first; items added in the same millisecond are ordered by track id. */
  async list(userId: string, page: PageRequest): Promise<Page<LibraryItem>> {
    const [total, rows] = await Promise.all([
      this.#db.get<{ n: number }>(SQL.countForUser, { userId }),
      this.#db.all<ItemRow>(SQL.pageForUser, { userId, limit: page.limit, offset: page.offset }),
    ]);
    return { items: rows.map(toItem), total: total?.n ?? 0 };
  }

  async usedBytes(userId: string): Promise<number> {
    return (await this.usage(userId)).committedBytes;
  }

  async usage(userId: string): Promise<StorageUsage> {
    return toUsage(await this.#db.get<UsageRow>(SQL.usage, { userId }));
  }

  async holderCount(trackId: string): Promise<number> {
    return (await this.#db.get<{ n: number }>(SQL.holderCount, { trackId }))?.n ?? 0;
  }

  async repairUsage(): Promise<number> {
    return this.#db.transaction(async (tx) => {
      let repaired = 0;
      for (const statement of [SQL.clearStrayReservations, SQL.recountUsage, SQL.addMissingUsage]) {
        repaired += (await tx.run(statement)).affectedRows;
      }
      return repaired;
    });
  }

  /** A reservation an add did not need (the track was held already) is given back. */
  async #endReservation(tx: MysqlQueryable, userId: string, reservation: ReservationHolder | undefined, heldBytes: number): Promise<void> {
    if (!reservation) return;
    await tx.run(SQL.unreserve, { userId, heldBytes });
    await tx.run(SQL.clearReservation, { jobId: reservation.jobId });
  }
}
