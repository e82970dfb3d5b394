/**
 * AutoNAT (v1, `@libp2p/autonat` 3.0.28) with its dial-backs made on a connection of their own.
 *
 * Its server checks a peer's address by dialling it and closing what it dialled, but it dials
 * without `force`: the connection manager hands back the connection the request came on, the
 * check closes it, and every link on it (neighbour, request, relay reservation) goes too. Seen in
 * the hole-punching lab (tests/network/dcutr_test.ts), whose outside nodes have public addresses:
 * links to the seed closed within milliseconds, over and over. With private addresses (a LAN,
 * loopback) AutoNAT checks nothing, so only nodes on public addresses hit it. A reused connection
 * also proves nothing about the address, so the dial is forced: a new one, closed after.
 */
import { autoNAT } from "@libp2p/autonat";

type AutoNATInit = Parameters<typeof autoNAT>[0];
type AutoNATComponents = Parameters<ReturnType<typeof autoNAT>>[0];
type OpenConnection = AutoNATComponents["connectionManager"]["openConnection"];

/** `autoNAT(init)`, whose every dial opens a new connection instead of reusing one. */
export function autoNATWithFreshDials(init?: AutoNATInit): ReturnType<typeof autoNAT> {
  const create = autoNAT(init);
  return (components) => {
    const manager = components.connectionManager;
    const openConnection: OpenConnection = (target, options) =>
      manager.openConnection(target, { ...options, force: true });
    const freshManager = new Proxy(manager, {
      get: (real, property) =>
        property === "openConnection" ? openConnection : Reflect.get(real, property, real),
    });
    return create(
      new Proxy(components, {
        get: (real, property) =>
          property === "connectionManager" ? freshManager : Reflect.get(real, property, real),
      }),
    );
  };
}
