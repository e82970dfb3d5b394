/** SSH keys on container creation: validated strictly at the edge, passed on as root's keys. */
import assert from "node:assert/strict";
import { type AppDeps, createApp } from "../../http/mod.ts";
import { RpcError, silentLogger } from "../../mod/mod.ts";
import { devWallets } from "../wallets.ts";
import { appRequest } from "./app_request.ts";

const KEY =
  "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGb7n6cXq1B2Ht0qW8Qy7Vd0m3tO9qkOqg2rS6uYF5Zy me@home";

Deno.test("containers/create takes ssh_key (one or a list); bad keys are 400 before the node is asked", async () => {
  const { alice } = await devWallets();
  const created: Array<Record<string, unknown>> = [];
  const call = ((method: string, params: Record<string, unknown>) => {
    if (method !== "container.create") {
      return Promise.reject(new RpcError("unavailable", `${method} is not wired in this test`));
    }
    created.push(params);
    return new Promise(() => {}); // The operation runs on; the answer is the 202.
  }) as unknown as AppDeps["call"];
  const app = createApp({ call, log: silentLogger });
  const create = async (extra: Record<string, unknown>) =>
    (await appRequest(app, "POST", "/api/v1/containers/create", { signer: alice }, {
      image: "localhost/dbc-test-busybox:latest",
      ...extra,
    })).status;
  assert.equal(await create({ ssh_key: KEY }), 202);
  assert.equal(await create({ ssh_key: [KEY, KEY.replace("me@home", "laptop")] }), 202);
  assert.equal(await create({ ssh: true }), 202);
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.deepEqual(created.map((params) => params.ssh), [
    { authorized_keys: [KEY] },
    { authorized_keys: [KEY, KEY.replace("me@home", "laptop")] },
    { authorized_keys: undefined },
  ]);
  for (
    const bad of [
      "not a key",
      `${KEY}\nssh-ed25519 AAAA injected`,
      `command="rm -rf /" ${KEY}`,
      "ssh-dss AAAAB3NzaC1kc3M=",
      [],
      Array(9).fill(KEY),
    ]
  ) {
    assert.equal(await create({ ssh_key: bad }), 400, JSON.stringify(bad));
  }
  assert.equal(created.length, 3);
});
