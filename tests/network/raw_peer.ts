/**
 * A peer under the test's control: it opens a link with any transport and
 * speaks the wire protocol by hand, so tests can send what no honest node
 * would (forged, replayed, wrong-network or flooding messages).
 */
import { generateNodeKeys, type NodeKeys, silentLogger } from "../../mod/mod.ts";
import {
  type Authenticator,
  encodeBase64,
  type Hello,
  helloProofBytes,
  type Link,
  nodeAuthenticator,
  PROTOCOL_VERSION,
  type Transport,
  type WireMessage,
} from "../../network/mod.ts";
import { Libp2pTransport } from "../../network/libp2p_node.ts";
import { freePort } from "../helpers.ts";

export type RawPeer = {
  link: Link;
  received: WireMessage[];
  malformed: string[];
  closed: Promise<void>;
  isClosed: () => boolean;
  send: (message: WireMessage) => boolean;
};

export type HelloOptions = {
  selfId: string;
  auth: Authenticator;
  networkId: string;
  port?: number;
  now: number;
  /** Changes applied after signing (a bad proof, say). */
  tamper?: (hello: Hello) => Hello;
  /** Fields changed before signing (another network, say). */
  fields?: Partial<Omit<Hello, "t" | "proof">>;
};

/** Dials `address` and sends a hello; the answer lands in `received`. */
export async function rawConnect(
  transport: Transport,
  address: string,
  options: HelloOptions,
): Promise<RawPeer> {
  const link = await transport.dial(address, undefined, 10_000);
  const received: WireMessage[] = [];
  const malformed: string[] = [];
  let closed = false;
  let markClosed!: () => void;
  const closedPromise = new Promise<void>((resolve) => (markClosed = resolve));
  link.attach({
    message: (message) => received.push(message),
    malformed: (reason) => malformed.push(reason),
    closed: () => {
      closed = true;
      markClosed();
    },
  });
  const fields = {
    v: PROTOCOL_VERSION,
    net: options.networkId,
    id: options.selfId,
    to: link.remoteId,
    role: "gpu" as const,
    inc: options.now,
    port: options.port ?? 5001,
    short: false,
    ts: options.now,
    ...options.fields,
  };
  const proof = await options.auth.sign(helloProofBytes(fields));
  let hello: Hello = { t: "hello", ...fields, proof: encodeBase64(proof) };
  if (options.tamper) hello = options.tamper(hello);
  link.send(hello);
  return {
    link,
    received,
    malformed,
    closed: closedPromise,
    isClosed: () => closed,
    send: (message) => link.send(message),
  };
}

/** A libp2p node of the test's own (its own key), to open raw links from; it takes no links. */
export async function rawPeerNode(keys: NodeKeys = generateNodeKeys()) {
  const transport = await Libp2pTransport.start({
    seed: keys.privateKey,
    publicKey: keys.publicKey,
    nodeId: keys.nodeId,
    listenHost: "127.0.0.1",
    listenPort: freePort(),
    maxConnections: 16,
    log: silentLogger,
    onInbound: (link) => link.close(),
  });
  return { keys, transport, auth: nodeAuthenticator(keys.privateKey) };
}
