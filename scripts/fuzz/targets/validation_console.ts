/**
 * A check VM's console log as the node reads it back
 * (node_service/validation/console_facts.ts): the console is the guest's to
 * write, and the kernel prints there too. Logs are whole reports (rendered
 * from facts), the same with lines dropped, repeated, cut, interleaved or
 * garbled, and any text; some very long. Contract: `parseCheckConsole`
 * never throws; its answer fits `CheckFactsSchema`; a whole report reads
 * back as the facts it was written from.
 */
import fc from "fast-check";
import { CheckFactsSchema } from "../../../mod/mod.ts";
import { parseCheckConsole } from "../../../node_service/validation/console_facts.ts";
import { mutatedLines, oddString } from "../mutate.ts";
import { expect, type FuzzTarget } from "../target.ts";

type Facts = { nproc: number; memKb: number; diskSectors: number; model: string; gpus: number };
type Input = { facts: Facts; lines: string[]; whole: boolean };

const facts: fc.Arbitrary<Facts> = fc.record({
  nproc: fc.integer({ min: 1, max: 256 }),
  memKb: fc.integer({ min: 1, max: 2 ** 30 }),
  diskSectors: fc.integer({ min: 1, max: 2 ** 34 }),
  model: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9 ()@.-]{0,40}[A-Za-z0-9)]$/),
  gpus: fc.nat(4),
});

/** The report the check script prints, as check_script.ts writes it. */
function report(input: Facts): string {
  return [
    "[    0.000000] Linux version 6.1",
    "DBC-CHECK-BEGIN",
    `DBC-CHECK nproc=${input.nproc}`,
    `DBC-CHECK cpu_model=${input.model}`,
    `DBC-CHECK memtotal_kb=${input.memKb}`,
    `DBC-CHECK block.vda=${input.diskSectors}`,
    ...Array.from(
      { length: input.gpus },
      (_, i) => `DBC-CHECK pci.0000:0${i}:00.0=0x10de 0x2330 0x030200`,
    ),
    ...Array.from(
      { length: input.gpus },
      () => "DBC-CHECK nvidia_smi=NVIDIA H100 80GB HBM3, 81559 MiB",
    ),
    "DBC-CHECK-END",
  ].join("\n");
}

export const target: FuzzTarget<Input> = {
  name: "validation.console",
  about: "parseCheckConsole never throws, fits its schema and reads a whole report back",
  property: () => ({
    arbitrary: facts.chain((drawn) =>
      fc.oneof(
        {
          arbitrary: fc.constant({ facts: drawn, lines: report(drawn).split("\n"), whole: true }),
          weight: 2,
        },
        {
          arbitrary: mutatedLines(fc.constant(report(drawn)), 6).map((text) => ({
            facts: drawn,
            lines: text.split("\n"),
            whole: false,
          })),
          weight: 6,
        },
        {
          arbitrary: fc.array(oddString(80), { maxLength: 10 }).map((lines) => ({
            facts: drawn,
            lines,
            whole: false,
          })),
          weight: 1,
        },
        {
          arbitrary: fc.nat(3).map((kind) => ({
            facts: drawn,
            lines: kind === 0
              ? ["DBC-CHECK-BEGIN", "DBC-CHECK nproc=" + "9".repeat(5000), "DBC-CHECK-END"]
              : ["DBC-CHECK-BEGIN", ...Array(30_000).fill("DBC-CHECK block.vd=1"), "DBC-CHECK-END"],
            whole: false,
          })),
          weight: 1,
        },
      )
    ),
    check: ({ facts, lines, whole }) => {
      const result = parseCheckConsole(lines);
      expect(
        CheckFactsSchema.safeParse(result).success,
        () => `off its schema: ${JSON.stringify(result).slice(0, 300)}`,
      );
      if (!whole) return;
      expect(result.state === "ready", "a whole report was not read");
      const observed = result.observed;
      expect(observed.cpu_cores === facts.nproc, `cores ${observed.cpu_cores}`);
      // Runs of white space are one space, as the reader writes the model.
      expect(
        observed.cpu_model === facts.model.replace(/\s+/g, " "),
        `model ${observed.cpu_model}`,
      );
      expect(
        observed.memory_gib === Math.ceil(facts.memKb * 1024 / 1024 ** 3),
        `memory ${observed.memory_gib}`,
      );
      expect(
        observed.disk_gib === Math.floor(facts.diskSectors * 512 / 1024 ** 3),
        `disk ${observed.disk_gib}`,
      );
      expect(observed.gpus.length === facts.gpus, `${observed.gpus.length} GPUs`);
      expect(observed.missing.length === 0, `missing ${observed.missing}`);
    },
  }),
};
