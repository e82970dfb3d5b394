/**
 * A real {@link PeerNode} (real Ed25519 keys, noble signatures, a manual
 * clock) with one inbound link, over which a peer sends a sequence of
 * messages: hellos it signed (some edited after signing), peer exchanges
 * with signed or forged goodbyes, broadcasts, goodbyes, refusals and any
 * other valid wire message (lookups, requests and their answers included),
 * with time passing in between. Broadcasts and requests reach an
 * {@link Inbox} with a subscriber, as in the network worker.
 *
 * Contract: nothing a peer sends throws out of the link's event handler or
 * escapes as a rejection; a hello edited after it was signed never opens the
 * link; a first hello signed for this link, fresh, opens it; the node stays
 * within its bounds (inbound links, address book), and stops cleanly.
 */
import fc from "fast-check";
import { generateNodeKeys, ManualClock, type NodeKeys, silentLogger } from "../../../mod/mod.ts";
import {
  type Authenticator,
  type Broadcast,
  broadcastSignedBytes,
  BYE_REASONS,
  encodeBase64,
  goodbyeBytes,
  type Hello,
  helloProofBytes,
  type Link,
  type LinkEvents,
  MAX_CLOCK_SKEW_MS,
  MAX_NEW_ENTRIES,
  MAX_TRIED_ENTRIES,
  nodeAuthenticator,
  PeerNode,
  type PeerNodeConfig,
  PROTOCOL_VERSION,
  REFUSAL_REASONS,
  type WireMessage,
} from "../../../network/mod.ts";
import { Inbox } from "../../../network/inbox.ts";
import { expect, type FuzzTarget } from "../target.ts";
import { addresses, ages, incarnations, wireMessages } from "../wire_arbitraries.ts";

const NETWORK = "fuzz-net";
const T0 = 1_767_225_600_000;
const CONFIG: PeerNodeConfig = {
  networkId: NETWORK,
  role: "seed",
  listenPort: 4001,
  seeds: [],
  targetOutbound: 2,
  maxInbound: 4,
  exchangeIntervalMs: 10_000,
  pingIntervalMs: 5_000,
  pingMisses: 3,
  nonceCacheSize: 256,
  nonceTtlMs: 600_000,
  rateLimitPerS: 50,
};
const TOPICS = ["service.summary", "ledger.rpc", "api.http"];
const HELLO_FIELDS = [
  "v",
  "net",
  "id",
  "to",
  "role",
  "inc",
  "port",
  "short",
  "ts",
  "proof",
] as const;

type Who = "peer" | "third" | "node";
type Step =
  | { kind: "hello"; tsOffset: number; incBack: number; short: boolean; edit: number | null }
  | {
    kind: "peers";
    entries: { who: Who | "stranger"; addr: string; inc: number; age: number }[];
    gone: { who: Who; inc: number; age: number; sig: "signed" | "forged" | "none" }[];
  }
  | { kind: "bcast"; origin: Who; topic: string; body: string; tsOffset: number; edit: boolean }
  | { kind: "bye"; reason: typeof BYE_REASONS[number]; goodbye: "signed" | "forged" | "none" }
  | { kind: "refuse"; reason: typeof REFUSAL_REASONS[number] }
  | { kind: "raw"; message: WireMessage }
  | { kind: "wait"; ms: number };

const who = fc.constantFrom<Who>("peer", "third", "node");
const offsets = fc.oneof(
  fc.integer({ min: -1_000, max: 1_000 }),
  fc.integer({ min: -2 * MAX_CLOCK_SKEW_MS, max: 2 * MAX_CLOCK_SKEW_MS }),
);

const steps: fc.Arbitrary<Step> = fc.oneof(
  {
    arbitrary: fc.record({
      kind: fc.constant("hello" as const),
      tsOffset: offsets,
      incBack: fc.nat(1_000_000),
      short: fc.boolean(),
      edit: fc.option(fc.nat(HELLO_FIELDS.length - 1), { freq: 2 }),
    }),
    weight: 3,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant("peers" as const),
      entries: fc.array(
        fc.record({
          who: fc.constantFrom<Who | "stranger">("peer", "third", "node", "stranger"),
          addr: addresses,
          inc: incarnations,
          age: ages,
        }),
        { maxLength: 4 },
      ),
      gone: fc.array(
        fc.record({
          who,
          inc: fc.oneof(incarnations, fc.constant(T0)),
          age: fc.nat(100_000),
          sig: fc.constantFrom("signed" as const, "forged" as const, "none" as const),
        }),
        { maxLength: 3 },
      ),
    }),
    weight: 2,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant("bcast" as const),
      origin: who,
      topic: fc.constantFrom(...TOPICS),
      body: fc.oneof(fc.json({ maxDepth: 2 }), fc.string({ maxLength: 20 })),
      tsOffset: offsets,
      edit: fc.boolean(),
    }),
    weight: 2,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant("bye" as const),
      reason: fc.constantFrom(...BYE_REASONS),
      goodbye: fc.constantFrom("signed" as const, "forged" as const, "none" as const),
    }),
    weight: 1,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant("refuse" as const),
      reason: fc.constantFrom(...REFUSAL_REASONS),
    }),
    weight: 1,
  },
  {
    arbitrary: fc.record({ kind: fc.constant("raw" as const), message: wireMessages() }),
    weight: 2,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant("wait" as const),
      ms: fc.oneof(fc.nat(2_000), fc.nat(120_000)),
    }),
    weight: 2,
  },
);

const openingHello: fc.Arbitrary<Step> = fc.record({
  kind: fc.constant("hello" as const),
  tsOffset: fc.integer({ min: -1_000, max: 1_000 }),
  incBack: fc.nat(1_000_000),
  short: fc.boolean(),
  edit: fc.constant(null),
});

type Party = { keys: NodeKeys; auth: Authenticator };

/** The peer's end of the link: it records what the node sends and hands over what the fuzz sends. */
class FuzzLink implements Link {
  readonly direction = "inbound" as const;
  readonly remoteHost = "10.1.2.3";
  events: LinkEvents | undefined;
  sent: WireMessage[] = [];
  closed = false;

  constructor(readonly remoteId: string) {}

  attach(events: LinkEvents): void {
    this.events = events;
  }

  send(message: WireMessage): boolean {
    if (this.closed) return false;
    if (this.sent.length < 64) this.sent.push(message);
    return true;
  }

  ping(): Promise<number> {
    return Promise.resolve(3);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    queueMicrotask(() => this.events?.closed());
  }
}

export const target: FuzzTarget<Step[]> = {
  name: "network.peer",
  about:
    "a PeerNode takes any message sequence over a link without throwing; edited hellos never open it",
  property: () => {
    const party = (): Party => {
      const keys = generateNodeKeys();
      return { keys, auth: nodeAuthenticator(keys.privateKey, { signatures: "noble" }) };
    };
    const parties: Record<Who, Party> = { node: party(), peer: party(), third: party() };
    const stranger = generateNodeKeys().nodeId;
    const idOf = (name: Who | "stranger") =>
      name === "stranger" ? stranger : parties[name].keys.nodeId;
    const sign = (name: Who, bytes: Uint8Array) =>
      encodeBase64(parties[name].auth.sign(bytes) as Uint8Array);
    const forged = encodeBase64(new Uint8Array(64).fill(7));

    return {
      arbitrary: fc.oneof(
        // Most sequences open the link first, so that what follows reaches the open-link code.
        {
          arbitrary: fc.tuple(openingHello, fc.array(steps, { maxLength: 10 }))
            .map(([hello, rest]) => [hello, ...rest]),
          weight: 3,
        },
        { arbitrary: fc.array(steps, { minLength: 1, maxLength: 10 }), weight: 1 },
      ),
      async check(sequence) {
        const clock = new ManualClock(T0);
        const inbox = new Inbox({ clock, nodeId: idOf("node") });
        inbox.subscribe("node_service", TOPICS, ["broadcast", "request"]);
        const node = new PeerNode(CONFIG, {
          selfId: idOf("node"),
          transport: { dial: () => Promise.reject(new Error("the fuzz dials nobody")) },
          auth: parties.node.auth,
          clock,
          log: silentLogger,
          version: "fuzz",
          incarnation: T0 - 60_000,
          onBroadcast: (delivery) => void inbox.deliverBroadcast(delivery),
          onAppRequest: (origin, request, deadline) =>
            inbox.request(origin, request.topic, request.body, deadline),
        });
        node.start();
        const link = new FuzzLink(idOf("peer"));
        node.acceptInbound(link);
        let nonce = 0;
        const nonceOf = () =>
          encodeBase64(new Uint8Array(16).fill(++nonce % 256).map((b, i) => b ^ i));

        for (const [index, step] of sequence.entries()) {
          const wasOpen = node.isLinked(idOf("peer"));
          const now = clock.now();
          const message = messageFor(step, now);
          if (message) link.events?.message(message);
          if (step.kind === "wait") clock.advance(step.ms);
          await Promise.resolve();
          if (step.kind === "hello" && step.edit !== null && !wasOpen) {
            expect(
              !node.isLinked(idOf("peer")),
              `a hello edited in ${HELLO_FIELDS[step.edit]} after signing opened the link`,
            );
          }
          if (
            index === 0 && step.kind === "hello" && step.edit === null &&
            Math.abs(step.tsOffset) <= MAX_CLOCK_SKEW_MS
          ) {
            expect(
              node.isLinked(idOf("peer")),
              "a fresh hello signed for this link did not open it",
            );
          }
          expect(node.inboundCount <= CONFIG.maxInbound, "more inbound links than allowed");
          expect(
            node.book.size <= MAX_NEW_ENTRIES + MAX_TRIED_ENTRIES,
            "the address book overflowed",
          );
        }
        node.stop();
        inbox.close();
        clock.advance(60_000);
        await Promise.resolve();

        function messageFor(step: Step, now: number): WireMessage | undefined {
          switch (step.kind) {
            case "hello": {
              const fields: Omit<Hello, "t" | "proof"> = {
                v: PROTOCOL_VERSION,
                net: NETWORK,
                id: idOf("peer"),
                to: idOf("node"),
                role: "gpu",
                inc: Math.max(0, now - step.incBack),
                port: 4002,
                short: step.short,
                ts: Math.max(0, now + step.tsOffset),
              };
              const hello: Hello = {
                t: "hello",
                ...fields,
                proof: sign("peer", helloProofBytes(fields)),
              };
              return step.edit === null ? hello : editHello(hello, HELLO_FIELDS[step.edit]!);
            }
            case "peers":
              return {
                t: "peers",
                peers: step.entries.map((entry) => ({
                  id: idOf(entry.who),
                  addr: entry.addr,
                  role: "gpu" as const,
                  inc: entry.inc,
                  age: entry.age,
                })),
                gone: step.gone.map((departure) => ({
                  id: idOf(departure.who),
                  inc: departure.inc,
                  age: departure.age,
                  ...(departure.sig === "none" ? {} : {
                    sig: departure.sig === "signed"
                      ? sign(
                        departure.who,
                        goodbyeBytes(NETWORK, idOf(departure.who), departure.inc),
                      )
                      : forged,
                  }),
                })),
              };
            case "bcast": {
              const fields = {
                nonce: nonceOf(),
                origin: idOf(step.origin),
                ts: Math.max(0, now + step.tsOffset),
                topic: step.topic,
                body: step.body,
              };
              const message: Broadcast = {
                t: "bcast",
                ...fields,
                hops: 3,
                sig: sign(step.origin, broadcastSignedBytes(NETWORK, fields)),
              };
              return step.edit ? { ...message, body: `${message.body} ` } : message;
            }
            case "bye": {
              const inc = T0 - 1;
              const goodbye = step.goodbye === "none" ? undefined : {
                inc,
                sig: step.goodbye === "signed"
                  ? sign("peer", goodbyeBytes(NETWORK, idOf("peer"), inc))
                  : forged,
              };
              return { t: "bye", reason: step.reason, ...(goodbye ? { goodbye } : {}) };
            }
            case "refuse":
              return { t: "refuse", reason: step.reason, peers: [] };
            case "raw":
              return step.message;
            case "wait":
              return undefined;
          }
        }

        function editHello(hello: Hello, field: typeof HELLO_FIELDS[number]): Hello {
          switch (field) {
            case "v":
              return { ...hello, v: (hello.v + 1) % 65536 };
            case "net":
              return { ...hello, net: `${hello.net}x` };
            case "id":
              return { ...hello, id: idOf("third") };
            case "to":
              return { ...hello, to: idOf("third") };
            case "role":
              return { ...hello, role: "seed" };
            case "inc":
              return { ...hello, inc: hello.inc === 0 ? 1 : hello.inc - 1 };
            case "port":
              return { ...hello, port: hello.port === 65535 ? 1 : hello.port + 1 };
            case "short":
              return { ...hello, short: !hello.short };
            case "ts":
              return { ...hello, ts: hello.ts === 0 ? 1 : hello.ts - 1 };
            case "proof":
              return { ...hello, proof: forged };
          }
        }
      },
    };
  },
};
