/**
 * The network worker: peer connections, peer exchange, broadcast and routing
 * (the peer-to-peer issue fills these in). Runs with network access and its
 * own directory only; it can run no program and read no other file.
 */
import { openDatabase, runWorker } from "../mod/mod.ts";
import { NETWORK_MIGRATIONS } from "./migrations.ts";

runWorker("network", ({ init, log, clock }) => {
  const db = openDatabase(init.paths.networkDb, NETWORK_MIGRATIONS, { now: () => clock.now() });
  log.info("network worker ready", {
    network_id: init.config.network_id,
    seeds: init.config.seeds.length,
  });
  return {
    handlers: {
      "network.status": () => ({ listening: [], connected_peers: 0 }),
    },
    stop() {
      db.close();
    },
  };
});
