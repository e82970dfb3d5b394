/**
 * The renter's image-server commands: the GPU node's image servers and their
 * files, a download of a file as the renter's own VM image, an upload of its
 * image, stopped VM or snapshot, each followed to its end with a progress
 * bar (one line each time it moves on by a step, so it reads the same in a
 * terminal and in a log), its transfers, and a stop.
 */
import {
  type ApiClient,
  finalOperationState,
  OPERATION_ERROR_EVENT,
  type ServerSentEvent,
} from "../../http/mod.ts";
import type { ImageServerFile, ImageTransfer } from "../../mod/mod.ts";
import { type Command, type CommandContext, EXIT, UsageError } from "./command_types.ts";
import { eventAsJson } from "./format.ts";

/** The bar's width in characters, and the percentage steps at which a new line is printed. */
const BAR_WIDTH = 30;
const BAR_STEP_PERCENT = 5;

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"] as const;

/** `1.5 MiB`: bytes in the largest binary unit that leaves at least 1. */
export function humanBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${UNITS[unit]}`;
}

/**
 * One progress line: `[#########.....]  45%  1.4 MiB / 3.0 MiB  transferring`; without a
 * total, the bytes so far only.
 */
export function progressBar(
  progress: { phase: string; done_bytes: number; total_bytes: number | null },
  width = BAR_WIDTH,
): string {
  const { done_bytes: done, total_bytes: total, phase } = progress;
  if (!total) return `[${"?".repeat(width)}]  ${humanBytes(done)}  ${phase}`;
  const share = Math.min(1, done / total);
  const filled = Math.round(share * width);
  const percent = `${Math.floor(share * 100)}%`.padStart(4);
  return `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${percent}  ` +
    `${humanBytes(done)} / ${humanBytes(total)}  ${phase}`;
}

function formatServers(data: { servers: Array<{ id: string; url: string }> }): string {
  if (data.servers.length === 0) return "(this node has no image servers)";
  return data.servers.map((server) => `${server.id}  ${server.url}`).join("\n");
}

function formatFiles(data: { server: string; files: ImageServerFile[] }): string {
  if (data.files.length === 0) return `(no image files on ${data.server})`;
  return data.files.map((file) =>
    `${file.name}  ${file.size_bytes === null ? "?" : humanBytes(file.size_bytes)}` +
    `${file.has_sha256 ? "  sha256" : "  (no .sha256: give --sha256 to download it)"}`
  ).join("\n");
}

function formatTransfer(transfer: ImageTransfer): string {
  const total = transfer.total_bytes === null ? "?" : humanBytes(transfer.total_bytes);
  return `${transfer.transfer_id}  ${transfer.kind} ${transfer.server}/${transfer.remote_name}  ` +
    `${transfer.state}  ${humanBytes(transfer.done_bytes)} / ${total}` +
    (transfer.error ? `  (${transfer.error})` : "");
}

/** Follows a transfer's operation to its end, printing a bar each step; the exit status. */
async function followTransfer(
  context: CommandContext,
  node: string,
  started: { transfer_id: string; operation_id: string },
): Promise<number> {
  context.line(`transfer ${started.transfer_id} (operation ${started.operation_id})`);
  let last: string | undefined;
  let printed = "";
  let lastStep = -1;
  for await (
    const event of context.client.operationEvents(node, started.operation_id) as AsyncGenerator<
      ServerSentEvent
    >
  ) {
    last = finalOperationState(event) ?? event.event;
    if (context.json) {
      context.line(eventAsJson(event));
      continue;
    }
    let data: { progress?: Parameters<typeof progressBar>[0]; error?: { message: string } };
    try {
      data = JSON.parse(event.data);
    } catch {
      continue;
    }
    if (data.progress) {
      const { done_bytes, total_bytes, phase } = data.progress;
      const step = total_bytes
        ? Math.floor((done_bytes / total_bytes) * 100 / BAR_STEP_PERCENT)
        : done_bytes;
      const line = progressBar(data.progress);
      if ((step !== lastStep || !printed.endsWith(phase)) && line !== printed) {
        context.line(line);
        printed = line;
        lastStep = step;
      }
    }
    if (last === "failed" && data.error) context.line(`failed: ${data.error.message}`);
  }
  if (last === "done") return EXIT.ok;
  if (last === "failed") return EXIT.failed;
  if (last === OPERATION_ERROR_EVENT) throw new Error("the node cannot follow this operation");
  throw new Error("the event stream ended before the transfer finished");
}

const node = (context: CommandContext) => context.flags.node as string;
const query = (context: CommandContext) => ({ query: { node_id: node(context) } });
const target = (context: CommandContext) => ({ peer_nodes_list: [node(context)] });

type Started = { transfer_id: string; operation_id: string; transfer: ImageTransfer };

function request<T>(client: ApiClient, ...args: Parameters<ApiClient["request"]>): Promise<T> {
  return client.request<T>(...args);
}

export function imageServerCommands(): Command[] {
  return [
    {
      words: ["image-server", "list"],
      args: [],
      flags: ["node"],
      required: ["node"],
      summary: "the image servers of a GPU node (its operator's image_servers)",
      wallet: "renter",
      async run(context) {
        const data = await request<{ servers: Array<{ id: string; url: string }> }>(
          context.client,
          "GET",
          "/api/v1/image_servers",
          query(context),
        );
        context.print(data, formatServers);
      },
    },
    {
      words: ["image-server", "files"],
      args: ["server"],
      flags: ["node"],
      required: ["node"],
      summary: "the image files on one of a GPU node's image servers",
      wallet: "renter",
      async run(context) {
        const data = await request<{ server: string; files: ImageServerFile[] }>(
          context.client,
          "GET",
          `/api/v1/image_servers/${encodeURIComponent(context.args.server!)}/files`,
          query(context),
        );
        context.print(data, formatFiles);
      },
    },
    {
      words: ["image", "download"],
      args: ["server", "file"],
      flags: ["node", "image", "sha256"],
      required: ["node"],
      summary: "download a file of an image server as your VM image on the GPU node, with a " +
        "progress bar (--image: its name there; --sha256 when the server has no .sha256)",
      wallet: "required",
      async run(context) {
        const started = await request<Started>(
          context.client,
          "POST",
          `/api/v1/image_servers/${encodeURIComponent(context.args.server!)}/download`,
          {
            body: {
              ...target(context),
              remote_name: context.args.file!,
              ...(context.flags.image ? { image_name: context.flags.image as string } : {}),
              ...(context.flags.sha256 ? { sha256: context.flags.sha256 as string } : {}),
            },
          },
        );
        return await followTransfer(context, node(context), started);
      },
    },
    {
      words: ["image", "upload"],
      args: ["server"],
      flags: ["node", "image", "task", "snapshot", "remote-name"],
      required: ["node"],
      summary: "upload your image (--image) or your stopped VM (--task, --snapshot for one of " +
        "its snapshots) to an image server, with a progress bar",
      wallet: "required",
      async run(context) {
        const { image, task, snapshot } = context.flags;
        if ((image === undefined) === (task === undefined)) {
          throw new UsageError("name either --image or --task");
        }
        if (snapshot !== undefined && task === undefined) {
          throw new UsageError("--snapshot needs --task");
        }
        const source = image !== undefined ? { kind: "image", name: image as string } : {
          kind: "vm",
          task_id: task as string,
          ...(snapshot !== undefined ? { snapshot: snapshot as string } : {}),
        };
        const started = await request<Started>(
          context.client,
          "POST",
          `/api/v1/image_servers/${encodeURIComponent(context.args.server!)}/upload`,
          {
            body: {
              ...target(context),
              source,
              ...(context.flags["remote-name"]
                ? { remote_name: context.flags["remote-name"] as string }
                : {}),
            },
          },
        );
        return await followTransfer(context, node(context), started);
      },
    },
    {
      words: ["image", "transfers"],
      args: [],
      flags: ["node"],
      required: ["node"],
      summary: "your transfers with image servers on a GPU node, newest first",
      wallet: "renter",
      async run(context) {
        const data = await request<{ transfers: ImageTransfer[] }>(
          context.client,
          "GET",
          "/api/v1/image_transfers",
          query(context),
        );
        context.print(
          data,
          (list) =>
            list.transfers.length === 0
              ? "(no transfers)"
              : list.transfers.map(formatTransfer).join("\n"),
        );
      },
    },
    {
      words: ["image", "stop"],
      args: ["transfer_id"],
      flags: ["node"],
      required: ["node"],
      summary: "stop a running transfer (what it wrote is removed)",
      wallet: "renter",
      async run(context) {
        const data = await request<ImageTransfer>(
          context.client,
          "POST",
          `/api/v1/image_transfers/${encodeURIComponent(context.args.transfer_id!)}/stop`,
          { body: target(context) },
        );
        context.print(data, formatTransfer);
      },
    },
  ];
}
