import { prepareOnFirstUse, requireStatements, type PreparedStatements } from '../db/named-statements.js';
import type { SqliteDatabase } from '../db/sqlite-database.js';
import { runSqlite } from '../db/sqlite-faults.js';
import { LeaseLostError, LockLostError } from '../errors.js';
import type { Fence } from '../locks/lock-manager.js';
import type { LibraryItem, Page, PageRequest } from '../model.js';
import { quotaRefusal, toItem, toUsage, type ItemRow, type UsageRow } from './library-rows.js';
import type { AddOutcome, LibraryStore, ReservationHolder, StorageUsage } from './library-store.js';
import text from './sqlite-library-store.sql';

const SQL = requireStatements(text, [
  'item',
  'insert',
  'remove',
  'reservedBy',
  'clearReservation',
  'ensureUsage',
  'usage',
  'commit',
  'unreserve',
  'uncommit',
  'countForUser',
  'pageForUser',
  'holderCount',
  'clearStrayReservations',
  'recountUsage',
  'addMissingUsage',
]);

/**
 * Per-user libraries in the embedded database, with a usage row per user (`user_usage`) that
 * every add and removal changes in its own transaction. Writes are immediate transactions, so
 * that processes sharing the file (`mixtape worker`) see each check and its write whole. Each
 * method is one statement or one transaction, run by `runSqlite`.
 */
export class SqliteLibraryStore implements LibraryStore {
  private readonly statements: PreparedStatements<keyof typeof SQL>;

  constructor(private readonly db: SqliteDatabase) {
    this.statements = prepareOnFirstUse(db, SQL);
  }

  async add(
    item: { userId: string; trackId: string; sizeBytes: number },
    limitBytes: number,
    fence?: Fence,
    reservation?: ReservationHolder,
  ): Promise<AddOutcome> {
    const { statements } = this;
    const { userId, trackId, sizeBytes } = item;
    const add = this.db.transaction((): AddOutcome => {
      let heldBytes = 0;
      if (reservation) {
        const held = statements.reservedBy.pluck().get(reservation) as number | undefined;
        if (held === undefined) throw new LeaseLostError(reservation.jobId);
        heldBytes = held;
      }
      statements.ensureUsage.run({ userId });
      if (statements.item.get({ userId, trackId }) !== undefined) {
        this.endReservation(userId, reservation, heldBytes);
        return 'exists';
      }
      if (statements.commit.run({ userId, sizeBytes, heldBytes, limitBytes }).changes === 0) {
        throw quotaRefusal(statements.usage.get({ userId }) as UsageRow, heldBytes, limitBytes, sizeBytes);
      }
      // A stale fence inserts nothing, and the throw rolls the quota commit back with it.
      const inserted = statements.insert.run({
        userId,
        trackId,
        sizeBytes,
        addedAt: Date.now(),
        fenceKey: fence?.key ?? null,
        fenceToken: fence?.token ?? null,
      });
      if (inserted.changes === 0 && fence) throw new LockLostError(fence.key);
      if (reservation) statements.clearReservation.run({ jobId: reservation.jobId });
      return 'added';
    });
    return runSqlite(this.db, () => add.immediate());
  }

  async remove(userId: string, trackId: string): Promise<boolean> {
    const { statements } = this;
    const remove = this.db.transaction((): boolean => {
      const sizeBytes = statements.remove.pluck().get({ userId, trackId }) as number | undefined;
      if (sizeBytes === undefined) return false;
      statements.uncommit.run({ userId, sizeBytes });
      return true;
    });
    return runSqlite(this.db, () => remove.immediate());
  }

  async get(userId: string, trackId: string): Promise<LibraryItem | null> {
    const row = await runSqlite(this.db, () => this.statements.item.get({ userId, trackId }) as ItemRow | undefined);
    return row ? toItem(row) : null;
  }

  /** Newest first; items added in the same millisecond are ordered by track id. */
  async list(userId: string, page: PageRequest): Promise<Page<LibraryItem>> {
    const read = this.db.transaction(() => {
      const total = this.statements.countForUser.pluck().get({ userId }) as number;
      const rows = this.statements.pageForUser.all({ userId, limit: page.limit, offset: page.offset }) as ItemRow[];
      return { items: rows.map(toItem), total };
    });
    return runSqlite(this.db, read);
  }

  async usedBytes(userId: string): Promise<number> {
    return (await this.usage(userId)).committedBytes;
  }

  async usage(userId: string): Promise<StorageUsage> {
    const row = await runSqlite(this.db, () => this.statements.usage.get({ userId }) as UsageRow | undefined);
    return toUsage(row);
  }

  async holderCount(trackId: string): Promise<number> {
    return runSqlite(this.db, () => this.statements.holderCount.pluck().get({ trackId }) as number);
  }

  async repairUsage(): Promise<number> {
    const { statements } = this;
    const repair = this.db.transaction(
      () =>
        statements.clearStrayReservations.run().changes +
        statements.recountUsage.run().changes +
        statements.addMissingUsage.run().changes,
    );
    return runSqlite(this.db, () => repair.immediate());
  }

  /** A reservation an add did not need (the track was held already) is given back. */
  private endReservation(userId: string, reservation: ReservationHolder | undefined, heldBytes: number): void {
    if (!reservation) return;
    this.statements.unreserve.run({ userId, heldBytes });
    this.statements.clearReservation.run({ jobId: reservation.jobId });
  }
}
