/**
 * The forms that make a container or a VM on a rented machine. Each answers
 * at once (202) with the instance and its operation; `onCreated` then shows
 * the progress. The images offered come from the GPU node itself.
 */
import type { ContainerCreateFields, VmCreateFields } from "../../../client.ts";
import { type Dashboard, submitter } from "../context.ts";
import { field, h, labelled } from "../dom.ts";
import { splitCommand } from "../format.ts";
import type { Creation } from "./progress.ts";

export type NodeImages = { vm: string[]; container: string[] };

/** The images `nodeId` offers the wallet: its ready VM images and its container images' tags. */
export async function nodeImages(dashboard: Dashboard, nodeId: string): Promise<NodeImages> {
  const images = await dashboard.signed().request<{
    vm: Array<{ name: string; state: string }>;
    container: Array<{ tags: string[] }>;
  }>("GET", "/api/v1/images", { query: { node_id: nodeId } });
  return {
    vm: images.vm.filter((image) => image.state === "ready").map((image) => image.name),
    container: images.container.flatMap((image) => image.tags),
  };
}

const numberInput = (name: string, value: string, min: number, step = "1") =>
  h("input", { name, type: "number", min, step, value });

/** A whole or decimal number from a field; undefined when left empty. */
function optionalNumber(form: HTMLFormElement, name: string): number | undefined {
  const text = field(form, name);
  if (text === "") return undefined;
  const value = Number(text);
  if (!Number.isFinite(value)) throw new Error(`${name}: not a number`);
  return value;
}

/** What a create answered, as the progress view follows it. */
const creationOf = (nodeId: string, created: { task_id: string; operation_id: string }) => ({
  nodeId,
  taskId: created.task_id,
  operationId: created.operation_id,
});

export function containerForm(
  dashboard: Dashboard,
  nodeId: string,
  images: NodeImages,
  onCreated: (creation: Creation) => void,
): HTMLFormElement {
  const status = h("div", { class: "status" });
  const list = h(
    "datalist",
    { id: "container-images" },
    ...images.container.map((tag) => h("option", { value: tag })),
  );
  const form = h(
    "form",
    { class: "create", id: "create-container" },
    h("h3", {}, "New container"),
    labelled(
      "Image",
      h("input", {
        name: "image",
        list: "container-images",
        required: true,
        value: images.container[0] ?? "",
        placeholder: "alpine:3.20",
      }),
    ),
    list,
    labelled(
      "Command",
      h("input", { name: "command", placeholder: `sh -c "sleep 3600" (the image's own if empty)` }),
    ),
    labelled("GPUs", numberInput("gpu_count", "0", 0)),
    labelled("CPU cores", numberInput("cpu_cores", "", 0.1, "0.1")),
    labelled("Memory, GiB", numberInput("mem_size", "", 0.125, "0.125")),
    h("label", { class: "check" }, h("input", { name: "ssh", type: "checkbox" }), " publish SSH"),
    h("button", { type: "submit", class: "primary" }, "Create container"),
    status,
  );
  submitter(form, status, async () => {
    const command = field(form, "command");
    const fields: ContainerCreateFields = {
      image: field(form, "image"),
      command: command === "" ? undefined : splitCommand(command),
      gpu_count: optionalNumber(form, "gpu_count"),
      cpu_cores: optionalNumber(form, "cpu_cores"),
      mem_size: optionalNumber(form, "mem_size"),
      ssh: field(form, "ssh") === "on" || undefined,
    };
    const created = await dashboard.signed().createContainer(nodeId, fields);
    onCreated({ kind: "container", ...creationOf(nodeId, created) });
  });
  return form;
}

export function vmForm(
  dashboard: Dashboard,
  nodeId: string,
  images: NodeImages,
  onCreated: (creation: Creation) => void,
): HTMLFormElement {
  const status = h("div", { class: "status" });
  const form = h(
    "form",
    { class: "create", id: "create-vm" },
    h("h3", {}, "New VM"),
    labelled(
      "Image",
      images.vm.length === 0
        ? h(
          "select",
          { name: "image_name", disabled: true },
          h("option", {}, "this node offers no VM image"),
        )
        : h(
          "select",
          { name: "image_name" },
          ...images.vm.map((name) => h("option", { value: name }, name)),
        ),
    ),
    labelled("CPU cores", numberInput("cpu_cores", "2", 1)),
    labelled("Memory, GiB", numberInput("mem_size", "2", 0.125, "0.125")),
    labelled("Disk, GiB", numberInput("disk_size", "", 1)),
    labelled("GPUs", numberInput("gpu_count", "0", 0)),
    labelled(
      "SSH public key",
      h("textarea", { name: "ssh_key", rows: 2, placeholder: "ssh-ed25519 AAAA… (optional)" }),
    ),
    labelled(
      "Password",
      h("input", { name: "password", type: "password", placeholder: "made for you if empty" }),
    ),
    h(
      "button",
      { type: "submit", class: "primary", disabled: images.vm.length === 0 },
      "Create VM",
    ),
    status,
  );
  submitter(form, status, async () => {
    const fields: VmCreateFields = {
      image_name: field(form, "image_name"),
      cpu_cores: optionalNumber(form, "cpu_cores") ?? 1,
      mem_size: optionalNumber(form, "mem_size") ?? 1,
      disk_size: optionalNumber(form, "disk_size"),
      gpu_count: optionalNumber(form, "gpu_count"),
      ssh_key: field(form, "ssh_key") || undefined,
      password: field(form, "password") || undefined,
    };
    const created = await dashboard.signed().createVm(nodeId, fields);
    onCreated({ kind: "vm", ...creationOf(nodeId, created) });
  });
  return form;
}
