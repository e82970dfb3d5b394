/**
 * A renter at work on the machine it rents while nodes die around it: it
 * keeps a few containers on its GPU node (Podman: the cheapest instance) and
 * creates, lists, reads, stops, starts, restarts and deletes them, one
 * request at a time, each through a client-end picked at random (down or
 * not: a renter does not know). Every request is classified (classify.ts)
 * and its answer checked against what the renter knows: a create answers an
 * id in `creating`, an action the state it leads to, a read the instance
 * asked for, a list every instance the renter has and did not delete and
 * nothing it never made.
 *
 * What the renter knows of each instance is kept for the audit: whether it
 * was seen made (running or stopped: the create succeeded) and whether a
 * delete was ever sent for it (from then on it may rightly be gone).
 */
import type { KeyringPair } from "@polkadot/keyring/types";
import { ApiClient, type ContainerAction, type ContainerCreateFields } from "../../http/mod.ts";
import type { Container, InstanceState } from "../../mod/mod.ts";
import { classifyError, type Outcome } from "./classify.ts";
import type { Random } from "./plan.ts";
import type { Tally } from "./tally.ts";

/** The test image scripts/system/podman_test_image.sh imports. */
export const CONTAINER_IMAGE = "localhost/dbc-test-busybox:latest";
/** A process that exits at once on SIGTERM, so a stop takes no time-out. */
const CONTAINER_COMMAND = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"];
/** Containers a renter keeps on its machine at most (a small machine runs them all). */
export const MAX_INSTANCES = 2;
/** Pause between a renter's requests: together the renters make a few requests a second. */
export const PAUSE_MS = { min: 500, max: 2_500 } as const;
/** Shares of the choices a renter makes (the rest acts on an instance). */
const LIST_SHARE = 0.2;
const REFRESH_SHARE = 0.7;
const DELETE_SHARE = 0.2;
const RESTART_SHARE = 0.15;

export type InstanceModel = {
  id: string;
  /** What the renter last learned; `unknown` after a request whose outcome it never heard. */
  state: InstanceState | "unknown";
  /** Seen running or stopped: its create succeeded. */
  made: boolean;
  /** A delete was sent for it (whatever came back). */
  deleteSent: boolean;
  /** The node said it is deleted (or, after a delete was sent, that there is no such instance). */
  gone: boolean;
};

export type RenterOptions = {
  renter: KeyringPair;
  /** The renter's name in the report (`eve`). */
  renterName: string;
  gpuId: string;
  /** Every client-end's API, by name. */
  clientEnds: ReadonlyMap<string, string>;
  random: Random;
  tally: Tally;
  /** Longer than the nodes' own request time-out: past it, an answer is a hang. */
  timeoutMs: number;
};

/** What an action's success answers as the instance's state. */
const ACTION_LEADS_TO: Record<ContainerAction, InstanceState> = {
  start: "running",
  stop: "stopped",
  restart: "running",
  delete: "deleted",
};

export class RenterLoop {
  readonly instances = new Map<string, InstanceModel>();
  /** Creates whose answer never came: their instances may exist, unknown to the renter. */
  unclearCreates = 0;
  readonly #options: RenterOptions;
  readonly #clients = new Map<string, ApiClient>();

  constructor(options: RenterOptions) {
    this.#options = options;
  }

  get gpuId(): string {
    return this.#options.gpuId;
  }

  /** Requests until `signal` aborts (the request under way is finished first). */
  async run(signal: AbortSignal): Promise<void> {
    const { random } = this.#options;
    while (!signal.aborted) {
      await this.step();
      await sleep(random.int(PAUSE_MS.min, PAUSE_MS.max), signal);
    }
  }

  /** One request, chosen from what the renter knows now. */
  step(): Promise<void> {
    const { random } = this.#options;
    const live = [...this.instances.values()].filter((instance) => !instance.gone);
    const unsure = live.filter((instance) =>
      instance.state === "unknown" || instance.state === "creating" || instance.deleteSent
    );
    if (unsure.length > 0 && random.next() < REFRESH_SHARE) return this.#get(random.pick(unsure));
    if (random.next() < LIST_SHARE) return this.#list();
    const active = live.filter((instance) => !instance.deleteSent);
    if (active.length < MAX_INSTANCES) return this.#create();
    const target = random.pick(active);
    switch (target.state) {
      case "running":
        if (random.next() < DELETE_SHARE) return this.#action(target, "delete");
        return this.#action(target, random.next() < RESTART_SHARE ? "restart" : "stop");
      case "stopped":
        return this.#action(target, random.next() < DELETE_SHARE ? "delete" : "start");
      case "failed":
      case "expired":
        return this.#action(target, "delete");
      default:
        return this.#get(target);
    }
  }

  #client(): { via: string; client: ApiClient } {
    const { clientEnds, random, renter, timeoutMs } = this.#options;
    const via = random.pick([...clientEnds.keys()]);
    let client = this.#clients.get(via);
    if (!client) {
      client = new ApiClient({ baseUrl: clientEnds.get(via)!, signer: renter, timeoutMs });
      this.#clients.set(via, client);
    }
    return { via, client };
  }

  /** Sends one request and records its outcome; the answer when it succeeded and was right. */
  async #send<T>(
    request: string,
    call: (client: ApiClient) => Promise<T>,
    check: (answer: T) => string | undefined,
    instanceExists: boolean,
  ): Promise<{ answer?: T; outcome: Outcome }> {
    const { via, client } = this.#client();
    let outcome: Outcome;
    let answer: T | undefined;
    try {
      answer = await call(client);
      const wrong = check(answer);
      outcome = wrong
        ? { kind: "otherwise", why: `wrong answer: ${wrong}` }
        : { kind: "succeeded" };
    } catch (error) {
      outcome = classifyError(error, { instanceExists });
    }
    this.#options.tally.record(outcome, { renter: this.#options.renterName, via, request });
    return { answer: outcome.kind === "succeeded" ? answer : undefined, outcome };
  }

  async #create(): Promise<void> {
    const { gpuId } = this.#options;
    const fields: ContainerCreateFields = { image: CONTAINER_IMAGE, command: CONTAINER_COMMAND };
    const { answer, outcome } = await this.#send(
      "POST /api/v1/containers/create",
      (client) => client.createContainer(gpuId, fields),
      (created) =>
        created.state !== "creating" || this.instances.has(created.task_id)
          ? `created ${JSON.stringify(created)}`
          : undefined,
      false,
    );
    if (answer) {
      this.instances.set(answer.task_id, {
        id: answer.task_id,
        state: "creating",
        made: false,
        deleteSent: false,
        gone: false,
      });
    } else if (outcome.kind !== "clear" || outcome.code !== "conflict") {
      this.unclearCreates++;
    }
  }

  async #get(instance: InstanceModel): Promise<void> {
    const { gpuId } = this.#options;
    const { answer, outcome } = await this.#send(
      `GET /api/v1/containers/${instance.id}`,
      (client) => client.getContainer(gpuId, instance.id),
      (container) => this.#wrongContainer(container, instance.id),
      !instance.deleteSent,
    );
    if (answer) return this.#learn(instance, answer.state);
    if (outcome.kind === "clear" && outcome.code === "not_found" && instance.deleteSent) {
      instance.gone = true;
    }
  }

  async #list(): Promise<void> {
    const { gpuId } = this.#options;
    const { answer } = await this.#send(
      "GET /api/v1/containers",
      (client) => client.listContainers(gpuId),
      ({ containers }) => this.#wrongList(containers),
      false,
    );
    if (!answer) return;
    for (const container of answer.containers) {
      let instance = this.instances.get(container.id);
      if (!instance) {
        // A create whose answer never came made it (#wrongList allowed as many as those).
        this.unclearCreates--;
        instance = {
          id: container.id,
          state: "unknown",
          made: false,
          deleteSent: false,
          gone: false,
        };
        this.instances.set(container.id, instance);
      }
      this.#learn(instance, container.state);
    }
  }

  async #action(instance: InstanceModel, action: ContainerAction): Promise<void> {
    const { gpuId } = this.#options;
    const existed = !instance.deleteSent;
    if (action === "delete") instance.deleteSent = true;
    const { answer, outcome } = await this.#send(
      `POST /api/v1/containers/${instance.id}/${action}`,
      (client) => client.containerAction(gpuId, instance.id, action),
      (container) =>
        this.#wrongContainer(container, instance.id) ??
          (container.state === ACTION_LEADS_TO[action]
            ? undefined
            : `${action} answered state ${container.state}`),
      existed,
    );
    if (answer) return this.#learn(instance, answer.state);
    // The action may or may not have happened: look before acting again.
    instance.state = "unknown";
    if (outcome.kind === "clear" && outcome.code === "not_found" && instance.deleteSent) {
      instance.gone = true;
    }
  }

  #learn(instance: InstanceModel, state: InstanceState): void {
    instance.state = state;
    if (state === "running" || state === "stopped") instance.made = true;
    if (state === "deleted") instance.gone = true;
  }

  #wrongContainer(container: Container, id: string): string | undefined {
    if (container.id !== id) return `asked for ${id}, got ${container.id}`;
    if (container.owner !== this.#options.renter.address) {
      return `${id} belongs to ${container.owner}`;
    }
    return undefined;
  }

  #wrongList(containers: Container[]): string | undefined {
    const listed = new Set(containers.map((container) => container.id));
    const strangers = containers.filter((container) => !this.instances.has(container.id));
    if (strangers.length > this.unclearCreates) {
      return `lists ${strangers.map((container) => container.id).join(", ")}, never made`;
    }
    const foreign = containers.find((container) =>
      container.owner !== this.#options.renter.address
    );
    if (foreign) return `lists ${foreign.id} of ${foreign.owner}`;
    const missing = [...this.instances.values()].filter((instance) =>
      !instance.deleteSent && !instance.gone && !listed.has(instance.id)
    );
    if (missing.length > 0) {
      return `leaves out ${missing.map((instance) => instance.id).join(", ")}, never deleted`;
    }
    return undefined;
  }
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
  });
}
