/**
 * How the node service receives network messages: it subscribes to topics
 * at the network worker and long-polls `network.receive`, handing each
 * message to `onMessage`. It survives the network worker starting late or
 * restarting (its subscription is then gone: it subscribes again) with a
 * growing back-off, and stops promptly: the poll in flight is aborted.
 */
import {
  type CallOptions,
  type Clock,
  type InboundNetworkMessage,
  type Logger,
  type Method,
  type ParamsOf,
  type ResultOf,
  RpcError,
} from "../mod/mod.ts";

/** How long one long poll of `network.receive` waits for a first message. */
export const RECEIVE_WAIT_MS = 20_000;
/** Margin over the long poll for the worker call that carries it. */
export const RECEIVE_CALL_MARGIN_MS = 10_000;
/** Messages taken per poll. */
export const RECEIVE_BATCH = 128;
/** Back-off between failed polls (network worker starting or restarting): from, to. */
export const SUBSCRIPTION_RETRY_MIN_MS = 500;
export const SUBSCRIPTION_RETRY_MAX_MS = 10_000;

/** The worker `call`: requests to other parties of the node. */
export type WorkerCall = <M extends Method>(
  method: M,
  params: ParamsOf<M>,
  options?: CallOptions,
) => Promise<ResultOf<M>>;

export type SubscriptionDeps = {
  call: WorkerCall;
  clock: Clock;
  log: Logger;
  topics: readonly string[];
  kinds: ReadonlyArray<InboundNetworkMessage["kind"]>;
  /** Called for each message in arrival order; must not throw (errors are logged and dropped). */
  onMessage: (message: InboundNetworkMessage) => void;
};

export type RunningSubscription = {
  /** Resolves once the first subscription is in place (for tests and ordered start-up). */
  readonly subscribed: Promise<void>;
  stop(): Promise<void>;
};

export function runSubscription(deps: SubscriptionDeps): RunningSubscription {
  const { call, clock, log } = deps;
  const abort = new AbortController();
  let markSubscribed: () => void = () => {};
  const subscribed = new Promise<void>((resolve) => (markSubscribed = resolve));
  let subscriptionId: string | undefined;

  const loop = async () => {
    let backoffMs = SUBSCRIPTION_RETRY_MIN_MS;
    while (!abort.signal.aborted) {
      try {
        if (subscriptionId === undefined) {
          subscriptionId = (await call("network.subscribe", {
            topics: [...deps.topics],
            kinds: [...deps.kinds],
          }, { signal: abort.signal })).subscription_id;
          markSubscribed();
        }
        const { messages, dropped } = await call("network.receive", {
          subscription_id: subscriptionId,
          wait_ms: RECEIVE_WAIT_MS,
          max: RECEIVE_BATCH,
        }, { timeoutMs: RECEIVE_WAIT_MS + RECEIVE_CALL_MARGIN_MS, signal: abort.signal });
        if (dropped > 0) log.warn("network messages dropped before they were read", { dropped });
        for (const message of messages) {
          try {
            deps.onMessage(message);
          } catch (error) {
            log.error("a network message could not be handled", {
              topic: message.topic,
              error: String(error),
            });
          }
        }
        backoffMs = SUBSCRIPTION_RETRY_MIN_MS;
      } catch (error) {
        if (abort.signal.aborted) return;
        // The network worker forgot the subscription (it restarted, or we were idle too long).
        if (error instanceof RpcError && error.code === "not_found") subscriptionId = undefined;
        log.debug("network subscription retrying", {
          topics: deps.topics.join(","),
          error: String(error),
          retry_ms: backoffMs,
        });
        try {
          await clock.sleep(backoffMs, abort.signal);
        } catch {
          return; // Stopped while waiting.
        }
        backoffMs = Math.min(backoffMs * 2, SUBSCRIPTION_RETRY_MAX_MS);
      }
    }
  };
  const running = loop();

  return {
    subscribed,
    async stop() {
      abort.abort(new RpcError("shutting_down", "the subscriber stopped"));
      await running;
      const id = subscriptionId;
      if (id !== undefined) {
        // Best effort: the network worker also drops subscriptions nobody polls.
        await call("network.unsubscribe", { subscription_id: id }, { timeoutMs: 1_000 }).catch(
          () => {},
        );
      }
    },
  };
}
