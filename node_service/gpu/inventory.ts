/**
 * The GPUs of this machine as `nvidia-smi` reports them. Parsing is pure
 * (tested against recorded output); querying runs the real program.
 */
import type { Gpu, GpuReport } from "../../mod/mod.ts";
import { runTool, type ToolResult } from "../tools.ts";

/** Fields asked of nvidia-smi, in this order; the parser relies on it. */
export const GPU_QUERY_FIELDS = [
  "index",
  "uuid",
  "name",
  "pci.bus_id",
  "memory.total",
  "memory.used",
  "utilization.gpu",
  "temperature.gpu",
  "driver_version",
] as const;

export const NVIDIA_SMI_ARGS = [
  `--query-gpu=${GPU_QUERY_FIELDS.join(",")}`,
  "--format=csv,noheader,nounits",
];
const NVIDIA_SMI_TIMEOUT_MS = 15_000;

export class GpuParseError extends Error {
  constructor(line: number, detail: string) {
    super(`nvidia-smi output line ${line}: ${detail}`);
    this.name = "GpuParseError";
  }
}

/** Parses `nvidia-smi --query-gpu=<GPU_QUERY_FIELDS> --format=csv,noheader,nounits`. */
export function parseGpuCsv(text: string): Gpu[] {
  const gpus: Gpu[] = [];
  text.split(/\r?\n/).forEach((rawLine, lineIndex) => {
    const line = rawLine.trim();
    if (line === "") return;
    let cells = line.split(",").map((cell) => cell.trim());
    const extra = cells.length - GPU_QUERY_FIELDS.length;
    if (extra < 0) {
      throw new GpuParseError(
        lineIndex + 1,
        `expected ${GPU_QUERY_FIELDS.length} fields, got ${cells.length}`,
      );
    }
    // Only the product name is free text; a comma in it would shift every later field.
    if (extra > 0) {
      cells = [
        ...cells.slice(0, 2),
        cells.slice(2, 3 + extra).join(", "),
        ...cells.slice(3 + extra),
      ];
    }
    const [index, uuid, name, pciBusId, memoryTotal, memoryUsed, utilization, temperature, driver] =
      cells as [
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
      ];
    const gpuIndex = Number(index);
    if (!/^\d+$/.test(index)) {
      throw new GpuParseError(lineIndex + 1, `index is not a number: ${JSON.stringify(index)}`);
    }
    if (!/^[0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-7]$/.test(pciBusId)) {
      throw new GpuParseError(lineIndex + 1, `not a PCI bus id: ${JSON.stringify(pciBusId)}`);
    }
    gpus.push({
      index: gpuIndex,
      uuid,
      name,
      pci_bus_id: pciBusId,
      memory_total_mib: optionalNumber(memoryTotal),
      memory_used_mib: optionalNumber(memoryUsed),
      utilization_percent: optionalNumber(utilization),
      temperature_c: optionalNumber(temperature),
      driver_version: isUnavailable(driver) ? null : driver,
    });
  });
  return gpus;
}

function isUnavailable(cell: string): boolean {
  return cell === "" ||
    /^\[?(N\/A|Not Supported|Unknown Error|Insufficient Permissions)\]?$/i.test(cell);
}

function optionalNumber(cell: string): number | null {
  if (isUnavailable(cell)) return null;
  const value = Number(cell);
  return Number.isFinite(value) ? value : null;
}

/** Turns one run of nvidia-smi into a report that says plainly why a list is empty. */
export function gpuReportFrom(result: ToolResult, queriedAt: number): GpuReport {
  switch (result.kind) {
    case "not_found":
      return {
        state: "none",
        gpus: [],
        reason: "nvidia-smi is not installed: no NVIDIA driver on this machine",
        queried_at: queriedAt,
      };
    case "timed_out":
      return {
        state: "error",
        gpus: [],
        reason: `nvidia-smi did not answer within ${result.timeoutMs} ms`,
        queried_at: queriedAt,
      };
    case "exited": {
      if (result.code !== 0) {
        const said = firstLine(result.stderr) || firstLine(result.stdout) || "no output";
        return {
          state: "error",
          gpus: [],
          reason: `nvidia-smi exited with code ${result.code}: ${said}`,
          queried_at: queriedAt,
        };
      }
      let gpus: Gpu[];
      try {
        gpus = parseGpuCsv(result.stdout);
      } catch (error) {
        return {
          state: "error",
          gpus: [],
          reason: (error as Error).message,
          queried_at: queriedAt,
        };
      }
      return gpus.length > 0
        ? { state: "present", gpus, queried_at: queriedAt }
        : { state: "none", gpus: [], reason: "nvidia-smi reports no GPUs", queried_at: queriedAt };
    }
  }
}

function firstLine(text: string): string {
  return text.split("\n").map((line) => line.trim()).find((line) => line !== "") ?? "";
}

/** Queries nvidia-smi, reusing the last answer while it is younger than `maxAgeMs`. */
export class GpuInventory {
  #last: GpuReport | undefined;
  #inFlight: Promise<GpuReport> | undefined;

  constructor(private readonly now: () => number) {}

  report(maxAgeMs: number): Promise<GpuReport> {
    if (this.#last && this.now() - this.#last.queried_at <= maxAgeMs) {
      return Promise.resolve(this.#last);
    }
    // Concurrent callers share one nvidia-smi run.
    this.#inFlight ??= runTool("nvidia-smi", NVIDIA_SMI_ARGS, NVIDIA_SMI_TIMEOUT_MS)
      .then((result) => (this.#last = gpuReportFrom(result, this.now())))
      .finally(() => (this.#inFlight = undefined));
    return this.#inFlight;
  }
}
