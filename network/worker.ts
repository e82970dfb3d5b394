/**
 * The network worker: the peer-to-peer protocol (peer_node.ts) on libp2p
 * links (libp2p_node.ts), the address book kept in network.db, and the
 * answers other workers get (handlers.ts). Runs with network access and its
 * own directory only; it can run no program and read no other file.
 */
import "./env_shim.ts";
import {
  API_REQUEST_TOPIC,
  NETWORK_DEPARTED_TOPIC,
  openDatabase,
  runWorker,
  VERSION,
} from "../mod/mod.ts";
import { answerApiRequest } from "./api_requests.ts";
import { linkByteBudget, SAVE_INTERVAL_MS } from "./constants.ts";
import { networkHandlers } from "./handlers.ts";
import { networkMetrics } from "./metrics.ts";
import { Inbox } from "./inbox.ts";
import { Libp2pTransport } from "./libp2p_node.ts";
import { NETWORK_MIGRATIONS } from "./migrations.ts";
import { nodeAuthenticator } from "./authenticator.ts";
import { PeerNode } from "./peer_node.ts";
import { MAX_INBOUND_SIDE_LINKS, MAX_REQUEST_LINKS } from "./routing/mod.ts";
import { loadAddressBook, loadSeedPins, saveAddressBook, saveSeedPin } from "./store.ts";

/** Connections libp2p may hold beyond the protocol's own links: probes, handshakes, pings. */
const CONNECTION_SLACK = 32;

runWorker("network", async ({ init, log, clock, call }) => {
  const config = init.config;
  if (!init.private_key) throw new Error("the network worker was started without the node key");
  // The address book is relearned from peers: commits need not be synced one by one.
  const db = openDatabase(init.paths.networkDb, NETWORK_MIGRATIONS, {
    now: () => clock.now(),
    durability: "normal",
  });
  // Links can arrive before the protocol exists; until then they are turned away.
  const ready: { peer?: PeerNode } = {};
  let transport: Libp2pTransport;
  try {
    transport = await Libp2pTransport.start({
      seed: init.private_key,
      publicKey: init.public_key,
      nodeId: init.node_id,
      listenHost: config.p2p_host,
      listenPort: config.p2p_port,
      tcpPort: config.p2p_tcp_port,
      // Request links (ours and others' to us: network/routing/) are outside the neighbour count.
      maxConnections: config.p2p_target_outbound + config.p2p_max_inbound + MAX_REQUEST_LINKS +
        MAX_INBOUND_SIDE_LINKS + CONNECTION_SLACK,
      log: log.child("libp2p"),
      onInbound: (link) => (ready.peer ? ready.peer.acceptInbound(link) : link.close()),
      // Behind a NAT with no relay yet there is nothing better to say than where peers see us.
      onAdvertised: (address) => ready.peer?.advertise(address ?? undefined),
      onRelayedUpgraded: () => {
        if (ready.peer) ready.peer.counters.relayed_upgraded++;
      },
      rateLimitBytesPerS: linkByteBudget(config.p2p_rate_limit_per_s),
    });
  } catch (error) {
    db.close();
    throw new Error(
      `cannot listen for peers on ${config.p2p_host}:${config.p2p_port}: ${
        (error as Error).message
      }`,
    );
  }
  const inbox = new Inbox({ clock, nodeId: init.node_id });
  const auth = nodeAuthenticator(init.private_key);
  const running = new PeerNode({
    networkId: config.network_id,
    role: config.role,
    listenPort: config.p2p_port,
    seeds: config.seeds,
    seedPins: loadSeedPins(db),
    targetOutbound: config.p2p_target_outbound,
    maxInbound: config.p2p_max_inbound,
    exchangeIntervalMs: config.p2p_exchange_interval_ms,
    pingIntervalMs: config.p2p_ping_interval_ms,
    pingMisses: config.p2p_ping_misses,
    nonceCacheSize: config.p2p_nonce_cache_size,
    nonceTtlMs: config.p2p_nonce_ttl_ms,
    rateLimitPerS: config.p2p_rate_limit_per_s,
  }, {
    selfId: init.node_id,
    transport,
    auth,
    clock,
    log,
    version: VERSION,
    incarnation: clock.now(),
    onBroadcast: (delivery) => inbox.deliverBroadcast(delivery),
    // Written at once: a pin lost to a crash would let whoever answers next be trusted instead.
    onSeedPinned: (address, id) => saveSeedPin(db, address, id, clock.now()),
    onAppRequest: (origin, request, deadline) =>
      request.topic === API_REQUEST_TOPIC
        ? answerApiRequest(
          call,
          request.topic,
          origin,
          request.body,
          deadline,
          clock.now,
          init.node_id,
        )
        : inbox.request(origin, request.topic, request.body, deadline),
    // Other workers learn of departures as a local message from this node (see NETWORK_DEPARTED_TOPIC).
    onDeparture: (id) =>
      inbox.deliverBroadcast({
        nonce: crypto.randomUUID(),
        origin: init.node_id,
        topic: NETWORK_DEPARTED_TOPIC,
        body: JSON.stringify({ node_id: id }),
        receivedAt: clock.now(),
      }),
  });
  ready.peer = running;
  running.advertise(transport.advertised() ?? undefined);
  running.restore(loadAddressBook(db));
  running.start();
  const save = () => saveAddressBook(db, running.book.entries(), clock.now());
  let saveTimer = clock.setTimeout(function again() {
    save();
    saveTimer = clock.setTimeout(again, SAVE_INTERVAL_MS);
  }, SAVE_INTERVAL_MS);
  log.info("peer-to-peer network up", {
    node_id: init.node_id,
    network_id: config.network_id,
    listening: transport.listening(),
    seeds: config.seeds.length,
  });
  const metrics = networkMetrics(running);
  return {
    handlers: {
      ...networkHandlers({
        peer: running,
        inbox,
        config,
        listening: () => transport.listening(),
        nodeId: init.node_id,
        sign: (message) => auth.sign(message),
      }),
      "metrics.network": () => metrics.collect(),
    },
    async stop() {
      clock.clearTimeout(saveTimer);
      running.stop();
      inbox.close();
      try {
        save();
      } catch (error) {
        log.warn("could not save the address book", { error: String(error) });
      }
      await transport.stop();
      db.close();
    },
  };
});
