/**
 * `/api/v1/snapshot/...`: a VM's disk snapshots in the original dialect, on
 * the native calls `vm.snapshot_list`, `vm.snapshot_get`,
 * `vm.snapshot_create`, `vm.snapshot_delete`. A snapshot stays inside the
 * VM's own disk; with `additional.image_server` (one of the GPU node's
 * `image_servers`, checked before the snapshot is taken), it is also
 * uploaded there as the original did (`image_server.upload`, as
 * `<task_id>-<snapshot_name>.qcow2` with its `.sha256`; its progress at
 * `/images/uploadprogress`). As natively, taking and deleting a snapshot needs
 * the VM stopped (errcode 1 otherwise).
 */
import { RpcError, VmSnapshotDescriptionSchema, VmSnapshotNameSchema } from "../../mod/mod.ts";
import { ownVm } from "./access.ts";
import { snapshotItem } from "./answers.ts";
import { additionalText } from "./body.ts";
import { invalidParams, invalidRequest, refused } from "./envelope.ts";
import { bodyOf, type Endpoint, type EndpointInput, type Group, renter } from "./endpoint.ts";

/** A snapshot of a large disk takes a while. */
const DISK_OPERATION_TIMEOUT_MS = 5 * 60_000;

async function ownVmId(input: EndpointInput, account: string): Promise<string> {
  return (await ownVm(input, input.args[0]!, account)).id;
}

const list: Endpoint = {
  name: "list snapshot",
  at: "node",
  signed: true,
  async run(input) {
    const who = await renter(input);
    const id = await ownVmId(input, who.account);
    const name = input.args[1];
    if (name === undefined) {
      const { snapshots } = await input.deps.call("vm.snapshot_list", { id });
      return snapshots.map(snapshotItem);
    }
    if (!VmSnapshotNameSchema.safeParse(name).success) throw refused("snapshot_name not exist");
    try {
      return snapshotItem(await input.deps.call("vm.snapshot_get", { id, name }));
    } catch (error) {
      if (error instanceof RpcError && error.code === "not_found") {
        throw refused("snapshot_name not exist");
      }
      throw error;
    }
  },
};

const create: Endpoint = {
  name: "create snapshot",
  at: "node",
  signed: true,
  async run(input) {
    const who = await renter(input);
    const additional = bodyOf(input).additional;
    const name = additionalText(additional, "snapshot_name");
    if (name === "") throw refused("'snapshot_name' is empty");
    const checked = VmSnapshotNameSchema.safeParse(name);
    if (!checked.success) throw refused(`'snapshot_name' ${checked.error.issues[0]?.message}`);
    const desc = additionalText(additional, "desc");
    const description = VmSnapshotDescriptionSchema.safeParse(desc);
    if (!description.success) throw refused(`'desc' ${description.error.issues[0]?.message}`);
    const id = await ownVmId(input, who.account);
    const server = additionalText(additional, "image_server");
    if (server !== "") {
      const { servers } = await input.deps.call("image_server.list", {});
      if (!servers.some((known) => known.id === server)) throw refused("image_server not exist");
    }
    await input.deps.call("vm.snapshot_create", {
      actor: who.actor,
      id,
      name,
      description: description.data,
    }, { timeoutMs: DISK_OPERATION_TIMEOUT_MS });
    if (server !== "") {
      try {
        await input.deps.call("image_server.upload", {
          actor: who.actor,
          owner: who.account,
          server,
          source: { kind: "vm", task_id: id, snapshot: name },
        });
      } catch (error) {
        if (!(error instanceof RpcError)) throw error;
        throw refused(`snapshot ${name} taken, but not uploaded: ${error.message}`);
      }
    }
    return "ok";
  },
};

const remove: Endpoint = {
  name: "delete snapshot",
  at: "node",
  signed: true,
  async run(input) {
    const who = await renter(input);
    const name = input.args[1]!;
    if (!VmSnapshotNameSchema.safeParse(name).success) throw refused("snapshot_name not exist");
    const id = await ownVmId(input, who.account);
    await input.deps.call("vm.snapshot_delete", { actor: who.actor, id, name }, {
      timeoutMs: DISK_OPERATION_TIMEOUT_MS,
    });
    return "ok";
  },
};

/** `/api/v1/snapshot/list|create|delete/{task_id}[/{snapshot_name}]`. */
export const snapshotRoutes: Group = (segments) => {
  const [word, taskId, name, ...rest] = segments;
  if (rest.length > 0 || taskId === undefined) {
    if (word === "list" || word === "create" || word === "delete") {
      throw invalidParams(`invalid uri, please use /snapshot/${word}/{task_id}`);
    }
    throw invalidRequest("invalid requests uri");
  }
  if (word === "list") {
    return { endpoint: list, args: name === undefined ? [taskId] : [taskId, name] };
  }
  if (word === "create" && name === undefined) return { endpoint: create, args: [taskId] };
  if (word === "delete" && name !== undefined) return { endpoint: remove, args: [taskId, name] };
  throw invalidRequest("invalid requests uri");
};
