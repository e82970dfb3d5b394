import assert from "node:assert/strict";
import { openDatabase } from "../../mod/mod.ts";
import { type BookEntry, NETWORK_MIGRATIONS } from "../../network/mod.ts";
import { loadAddressBook, saveAddressBook } from "../../network/store.ts";
import { scratchDir } from "../helpers.ts";

Deno.test("the address book survives a restart in network.db", async () => {
  const dir = await scratchDir("network-store");
  const entries: BookEntry[] = [
    {
      id: "12D3KooWLNDhWRc1VNwjKGS69Qbu2i4SVKh6aZW3HEc9T5pTGH5k",
      address: "10.0.0.1:5001",
      role: "seed",
      incarnation: 17,
      lastSeen: 1_000,
      tried: true,
      failures: 2,
      retryAt: 5_000,
    },
    {
      id: "12D3KooWSaiejKDTySDyw9DvBuR7MZ2Vk5PVGVpxzCERGquaRuth",
      address: "[2001:db8::1]:5001",
      role: "gpu",
      incarnation: 3,
      lastSeen: 2_000,
      tried: false,
      failures: 0,
      retryAt: 0,
    },
  ];
  const db = openDatabase(`${dir}/network.db`, NETWORK_MIGRATIONS);
  saveAddressBook(db, entries, 9_000);
  saveAddressBook(db, entries, 9_500); // Rewritten whole, not appended.
  db.close();
  const reopened = openDatabase(`${dir}/network.db`, NETWORK_MIGRATIONS);
  // Failures and back-off start afresh after a restart.
  assert.deepEqual(
    loadAddressBook(reopened),
    entries.map((entry) => ({ ...entry, failures: 0, retryAt: 0 })),
  );
  reopened.exec("UPDATE peers SET addresses = 'not json' WHERE role = 'gpu'");
  assert.equal(loadAddressBook(reopened).length, 1, "a damaged row is skipped");
  reopened.close();
});
