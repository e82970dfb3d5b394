import type { Migration } from "../../mod/mod.ts";

/**
 * The embedded ledger's schema, in its own database file (`ledger.db`), so
 * its numbering never collides with the node service's `node.db`. Append,
 * never edit a released entry.
 */
export const LEDGER_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "machines, validator orders, rentals, multisig accounts, used nonces",
    // The unique (machine_id, round, position) with position in 0..2 is what
    // holds "at most 3 validators per machine and round" whatever the code
    // does; the partial unique index, "one active rental per machine".
    sql: `CREATE TABLE machines (
      machine_id TEXT PRIMARY KEY,
      owner TEXT NOT NULL,
      config TEXT NOT NULL,
      prices TEXT NOT NULL,
      status TEXT NOT NULL
        CHECK (status IN ('unverified', 'verifying', 'online', 'leased', 'failed')),
      status_since INTEGER NOT NULL,
      failure_reason TEXT,
      rental_id INTEGER,
      round INTEGER NOT NULL,
      round_started_at INTEGER,
      registered_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL
    );
    CREATE INDEX machines_by_status ON machines (status, machine_id);
    CREATE INDEX machines_by_owner ON machines (owner, machine_id);
    CREATE TABLE validator_orders (
      machine_id TEXT NOT NULL REFERENCES machines (machine_id),
      round INTEGER NOT NULL,
      validator TEXT NOT NULL,
      position INTEGER NOT NULL CHECK (position BETWEEN 0 AND 2),
      grabbed_at INTEGER NOT NULL,
      report TEXT,
      reported_at INTEGER,
      confirms INTEGER CHECK (confirms IN (0, 1)),
      mismatches TEXT NOT NULL DEFAULT '[]',
      PRIMARY KEY (machine_id, round, validator),
      UNIQUE (machine_id, round, position)
    );
    CREATE TABLE rentals (
      rental_id INTEGER PRIMARY KEY AUTOINCREMENT,
      machine_id TEXT NOT NULL REFERENCES machines (machine_id),
      renter TEXT NOT NULL,
      starts_at INTEGER NOT NULL,
      ends_at INTEGER NOT NULL,
      state TEXT NOT NULL CHECK (state IN ('active', 'ended')),
      total_amount TEXT NOT NULL,
      created_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL
    );
    CREATE UNIQUE INDEX rentals_one_active_per_machine ON rentals (machine_id) WHERE state = 'active';
    CREATE INDEX rentals_by_machine_renter ON rentals (machine_id, renter, rental_id);
    CREATE INDEX rentals_active_by_end ON rentals (ends_at) WHERE state = 'active';
    CREATE TABLE rental_payments (
      rental_id INTEGER NOT NULL REFERENCES rentals (rental_id),
      seq INTEGER NOT NULL,
      kind TEXT NOT NULL CHECK (kind IN ('rent', 'renew')),
      unit TEXT NOT NULL CHECK (unit IN ('second', 'hour', 'day')),
      count INTEGER NOT NULL,
      price_per_unit TEXT NOT NULL,
      amount TEXT NOT NULL,
      paid_at INTEGER NOT NULL,
      ends_at INTEGER NOT NULL,
      paid_by TEXT NOT NULL,
      PRIMARY KEY (rental_id, seq)
    );
    CREATE TABLE multisig_accounts (
      address TEXT PRIMARY KEY,
      threshold INTEGER NOT NULL,
      signatories TEXT NOT NULL,
      registered_by TEXT NOT NULL,
      registered_at INTEGER NOT NULL
    );
    CREATE TABLE used_nonces (
      account TEXT NOT NULL,
      nonce TEXT NOT NULL,
      expires_at INTEGER NOT NULL,
      PRIMARY KEY (account, nonce)
    );
    CREATE INDEX used_nonces_by_expiry ON used_nonces (expires_at);`,
  },
  {
    version: 2,
    name: "balances, machine heartbeats, outages credited to rentals",
    // Balances are decimal text (exact beyond 2^53), changed only together
    // with an entry that says why, in the same transaction.
    sql: `CREATE TABLE accounts (
      account TEXT PRIMARY KEY,
      balance TEXT NOT NULL,
      updated_at INTEGER NOT NULL
    );
    CREATE TABLE account_entries (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      account TEXT NOT NULL,
      at INTEGER NOT NULL,
      kind TEXT NOT NULL CHECK (kind IN ('fund', 'rent', 'renew')),
      delta TEXT NOT NULL,
      balance TEXT NOT NULL,
      rental_id INTEGER,
      counterparty TEXT
    );
    CREATE INDEX account_entries_by_account ON account_entries (account, seq);
    ALTER TABLE machines ADD COLUMN last_seen_at INTEGER;
    ALTER TABLE machines ADD COLUMN last_heartbeat_signed_at INTEGER;
    ALTER TABLE machines ADD COLUMN down_since INTEGER;
    CREATE TABLE rental_outages (
      rental_id INTEGER NOT NULL REFERENCES rentals (rental_id),
      down_since INTEGER NOT NULL,
      up_at INTEGER,
      PRIMARY KEY (rental_id, down_since)
    );`,
  },
];
