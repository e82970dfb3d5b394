/**
 * DCUtR (`@libp2p/dcutr`) whose success hands the relayed connection to the caller instead of
 * closing it at once.
 *
 * Once DCUtR has a direct connection to a peer it closes the relayed one, and every link on it
 * with it (in the lab, 3 ms after the upgrade), failing any call still waiting there: DCUtR runs
 * as soon as identify ends, while the request that opened the link may be under way. Here the
 * connection DCUtR would close goes to `onUpgraded`, which lets its links finish (new ones go to
 * the direct connection, which libp2p prefers to a limited one) and closes it after.
 *
 * Where DCUtR helps (seen in tests/network/dcutr_test.ts's lab): a node on a confirmed public
 * address (a client-end, a seed) reaches a NAT'd one through a relay; the NAT'd node, the inbound
 * side, dials that address ("unilateral upgrade"), and its NAT lets the connection out. Where it
 * does not: two nodes each behind its own NAT. Neither has a confirmed public address (AutoNAT's
 * dial-back to a router's port is dropped), so the CONNECT messages carry only relay circuits and
 * private addresses, which DCUtR skips ("no dialable multiaddrs", three tries, then the relayed
 * connection stays); and were an address offered, js-libp2p's TCP transport dials from an
 * ephemeral port, not its listening one (no SO_REUSEPORT), so the far NAT would see a connection
 * from a port it never mapped and drop it.
 */
import { dcutr } from "@libp2p/dcutr";
import type { Connection } from "@libp2p/interface";

type DCUtRInit = Parameters<typeof dcutr>[0];
type DCUtRComponents = Parameters<ReturnType<typeof dcutr>>[0];
type Registrar = DCUtRComponents["registrar"];

/** `dcutr(init)`, telling `onUpgraded` of each relayed connection it replaced with a direct one. */
export function dcutrHandingOver(
  onUpgraded: (relayed: Connection) => void,
  init?: DCUtRInit,
): ReturnType<typeof dcutr> {
  const create = dcutr(init);
  return (components) => {
    const registrar = components.registrar;
    const handOver = (connection: Connection): Connection =>
      new Proxy(connection, {
        get: (real, property) => {
          if (property === "close") {
            return () => {
              onUpgraded(real);
              return Promise.resolve();
            };
          }
          const value = Reflect.get(real, property, real);
          // Methods run on the connection itself: its private fields are not the proxy's.
          return typeof value === "function" ? value.bind(real) : value;
        },
      });
    const wrapped: Pick<Registrar, "register" | "handle"> = {
      // DCUtR's side B starts on a topology notice, side A in its protocol handler.
      register: (protocol, topology) =>
        registrar.register(protocol, {
          ...topology,
          onConnect: (peer, connection) => topology.onConnect?.(peer, handOver(connection)),
        }),
      handle: (protocol, handler, options) =>
        registrar.handle(
          protocol,
          (stream, connection) => handler(stream, handOver(connection)),
          options,
        ),
    };
    const freshRegistrar = new Proxy(registrar, {
      get: (real, property) =>
        property === "register" || property === "handle"
          ? wrapped[property]
          : Reflect.get(real, property, real),
    });
    return create(
      new Proxy(components, {
        get: (real, property) =>
          property === "registrar" ? freshRegistrar : Reflect.get(real, property, real),
      }),
    );
  };
}
