/**
 * `virshQuoted` (how a password reaches virsh on its standard input, never
 * on its command line): virsh's own command reader, given the quoted text,
 * gives back exactly the text, whatever printable ASCII it holds.
 */
import assert from "node:assert/strict";
import { virshQuoted } from "../../../../node_service/vm/libvirt/libvirt.ts";

/** What `virsh echo <argument>` prints when virsh reads the command from its standard input. */
async function virshEcho(argument: string): Promise<string> {
  const child = new Deno.Command("virsh", {
    args: ["-q"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { LC_ALL: "C" },
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(`echo ${argument}\n`));
  await writer.close();
  const output = new TextDecoder().decode((await child.output()).stdout);
  // Read from a pipe, virsh still prompts and echoes: `virsh # <command>\n<answer>virsh # \n`.
  const match = /^virsh # [^\n]*\n([\s\S]*?)virsh # \n?$/.exec(output);
  assert.ok(match, JSON.stringify(output));
  return match[1]!;
}

Deno.test("virsh's command reader takes back exactly what virshQuoted quoted", async () => {
  const texts = [
    "plain-password",
    `n3w pa:ss "$x" \\ 'y'`,
    "'''",
    "  spaces around  ",
    "#not a comment",
    "semi;colon && $(true) `x`",
  ];
  for (const text of texts) assert.equal(await virshEcho(virshQuoted(text)), text, text);
});

Deno.test("virshQuoted refuses a newline, which would end the command", () => {
  assert.throws(() => virshQuoted("a\nb"), /newline/);
  assert.throws(() => virshQuoted("a\rb"), /newline/);
});
