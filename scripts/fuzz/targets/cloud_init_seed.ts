/**
 * The NoCloud seed's documents (node_service/vm/cloud_init/nocloud_seed.ts)
 * with any login user, password and SSH keys (odd text: quotes, newlines,
 * YAML and JSON syntax, controls, non-ASCII, lone surrogates) and any
 * instance id and host name. Contract: meta-data and user-data are printable
 * ASCII and line breaks only (so YAML reads them), user-data starts with
 * `#cloud-config`, and both parse as JSON to exactly the values given, each
 * key and password one string that cannot add keys of its own.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  seedMetaData,
  type SeedSpec,
  seedUserData,
} from "../../../node_service/vm/cloud_init/nocloud_seed.ts";
import { oddString } from "../mutate.ts";
import { expect, type FuzzTarget } from "../target.ts";

const text = fc.oneof(
  oddString(40),
  fc.constantFrom('"\n- evil: true', "key: value", "#cloud-config", "\\u0000", "a\\", "{}", "${x}"),
);
const specs: fc.Arbitrary<SeedSpec> = fc.record({
  instanceId: fc.oneof(fc.stringMatching(/^vm-[a-z0-9]{6}$/), text),
  hostname: fc.oneof(fc.stringMatching(/^vm-[a-z0-9]{6}$/), text),
  login: fc.record({
    user: fc.oneof(fc.constantFrom("dbc", "root"), text),
    password: text,
    sshKeys: fc.array(
      fc.oneof(fc.constant("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFuzz fuzz@host"), text),
      { maxLength: 3 },
    ),
    passwordSsh: fc.boolean(),
  }),
});

const PRINTABLE = /^[\x20-\x7e\n]*$/;

export const target: FuzzTarget<SeedSpec> = {
  name: "cloud_init.seed",
  about: "seed documents are printable ASCII and read back, as JSON, exactly as given",
  property: () => ({
    arbitrary: specs,
    check: (spec) => {
      const meta = seedMetaData(spec);
      const user = seedUserData(spec);
      expect(PRINTABLE.test(meta), "meta-data is not printable ASCII");
      expect(PRINTABLE.test(user), "user-data is not printable ASCII");
      expect(user.startsWith("#cloud-config\n"), "user-data does not start with #cloud-config");
      assert.deepEqual(JSON.parse(meta), {
        "instance-id": spec.instanceId,
        "local-hostname": spec.hostname,
      });
      const config = JSON.parse(user.slice("#cloud-config\n".length));
      const [entry] = config.users;
      expect(config.users.length === 1, "more than one user");
      expect(entry.name === spec.login.user, "the user does not read back");
      expect(entry.plain_text_passwd === spec.login.password, "the password does not read back");
      assert.deepEqual(entry.ssh_authorized_keys, [...spec.login.sshKeys]);
      expect(config.ssh_pwauth === spec.login.passwordSsh, "ssh_pwauth does not read back");
    },
  }),
};
