/**
 * An exclusive lock on the data directory, so two nodes never share keys and
 * databases. It is a SQLite write lock held for the life of the process: the
 * operating system drops it when the process dies, however it dies, so a
 * crash never leaves a stale lock behind.
 */
import { DatabaseSync } from "node:sqlite";

export class DataDirLockedError extends Error {
  constructor(readonly path: string) {
    super(
      `data directory is in use by another node (lock ${path}); give each node its own --data-dir`,
    );
    this.name = "DataDirLockedError";
  }
}

export type DataDirLock = { release(): void };

export function lockDataDir(lockFile: string): DataDirLock {
  const db = new DatabaseSync(lockFile);
  try {
    db.exec("PRAGMA busy_timeout = 0");
    db.exec("BEGIN EXCLUSIVE");
  } catch (error) {
    db.close();
    if (/locked|busy/i.test((error as Error).message)) throw new DataDirLockedError(lockFile);
    throw error;
  }
  let held = true;
  return {
    release() {
      if (!held) return;
      held = false;
      db.exec("ROLLBACK");
      db.close();
    },
  };
}
