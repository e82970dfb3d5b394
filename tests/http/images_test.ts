/**
 * The renter's image routes on the app, with a stand-in node service and real
 * signatures: only the renter of the machine adds (from a URL, with a
 * checksum, within a per-renter limit), follows the download as an
 * operation, and deletes only what it added; nobody sees where an image came
 * from or which VMs use it.
 */
import assert from "node:assert/strict";
import type { AppDeps } from "../../http/mod.ts";
import { MAX_IMAGES_PER_RENTER } from "../../http/routes/images.ts";
import { RpcError, type VmImage } from "../../mod/mod.ts";
import { devWallets } from "../wallets.ts";
import { appRequest, gpuApp, TEST_GPU_NODE } from "./app_request.ts";

const NODE = TEST_GPU_NODE;
const SHA = "a".repeat(64);

function image(name: string, overrides: Partial<VmImage> = {}): VmImage {
  return {
    name,
    state: "ready",
    format: "qcow2",
    size_bytes: 1,
    virtual_size_bytes: 2,
    sha256: SHA,
    source: "https://operator-only.example/secret-path.qcow2",
    error: null,
    added_at: 1,
    updated_at: 1,
    progress: null,
    used_by: ["vm-of-someone-else"],
    added_by: null,
    ...overrides,
  };
}

async function setup() {
  const { alice, bob } = await devWallets();
  const images = new Map<string, VmImage>([["ubuntu", image("ubuntu")]]);
  const calls: Array<{ method: string; params: Record<string, unknown> }> = [];
  const call = ((method: string, params: Record<string, unknown>) => {
    calls.push({ method, params });
    switch (method) {
      case "lease.check": {
        const renting = params.account === alice.address;
        return Promise.resolve({
          renting,
          lease: renting ? { state: "active", rental_id: "r1", ends_at: 9e12 } : { state: "none" },
          verification: "ledger",
          checked_at: 1,
        });
      }
      case "vm_image.list":
        return Promise.resolve({
          images: [...images.values()].filter((candidate) =>
            params.owner === undefined || candidate.added_by === null ||
            candidate.added_by === params.owner
          ),
        });
      case "container_image.list":
        return Promise.reject(new RpcError("unavailable", "no engine"));
      case "vm_image.add": {
        const name = params.name as string;
        if (images.has(name)) {
          return Promise.reject(new RpcError("conflict", `image ${name} already exists`));
        }
        const held = [...images.values()].filter((one) => one.added_by === params.added_by);
        if (held.length >= (params.max_per_owner as number)) {
          return Promise.reject(
            new RpcError("conflict", `you already keep ${held.length} (at most 3)`),
          );
        }
        const added = image(name, {
          state: "adding",
          added_by: params.added_by as string,
          progress: { done_bytes: 0, total_bytes: null },
          used_by: [],
        });
        images.set(name, added);
        // The download finishes a moment later; "broken" fails its checksum.
        setTimeout(() => {
          images.set(
            name,
            name === "broken"
              ? { ...added, state: "failed", error: "SHA-256 differs", progress: null }
              : { ...added, state: "ready", progress: null },
          );
        }, 20);
        return Promise.resolve(added);
      }
      case "vm_image.delete":
        images.delete(params.name as string);
        return Promise.resolve({ name: params.name, deleted: true });
      default:
        return Promise.reject(new RpcError("unavailable", `${method} is not wired in this test`));
    }
  }) as unknown as AppDeps["call"];
  const { app } = gpuApp(call);
  const request = (
    method: string,
    path: string,
    signer: typeof alice | undefined,
    body?: unknown,
  ) => appRequest(app, method, path, { signer }, body);
  const operation = async (id: string) => {
    for (let attempt = 0; attempt < 200; attempt++) {
      const { body } = await request("GET", `/api/v1/operations/${id}?node_id=${NODE}`, undefined);
      if (body.data.state !== "running") return body.data;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    throw new Error("operation did not finish");
  };
  return { alice, bob, images, calls, request, operation };
}

const add = (name: string) => ({
  peer_nodes_list: [NODE],
  name,
  url: `https://images.example/${name}.qcow2`,
  sha256: SHA,
});

Deno.test("a renter lists images without their source or users, and adds one by URL as an operation", async () => {
  const { alice, bob, calls, request, operation } = await setup();
  const listed = await request("GET", `/api/v1/images?node_id=${NODE}`, bob);
  assert.equal(listed.status, 200, JSON.stringify(listed.body));
  assert.deepEqual(listed.body.data.container, []);
  assert.equal(listed.body.data.vm[0].name, "ubuntu");
  assert.equal(listed.body.data.vm[0].mine, false);
  assert.doesNotMatch(JSON.stringify(listed.body), /secret-path|vm-of-someone-else/);

  const added = await request("POST", "/api/v1/images/add", alice, add("focal"));
  assert.equal(added.status, 202, JSON.stringify(added.body));
  assert.equal(added.body.data.state, "adding");
  const addCall = calls.find((entry) => entry.method === "vm_image.add")!;
  assert.deepEqual(addCall.params, {
    actor: alice.address,
    name: "focal",
    source: { kind: "url", url: "https://images.example/focal.qcow2" },
    sha256: SHA,
    added_by: alice.address,
    max_per_owner: MAX_IMAGES_PER_RENTER,
  });
  const done = await operation(added.body.data.operation_id);
  assert.equal(done.state, "done");
  const mine = await request("GET", `/api/v1/images/focal?node_id=${NODE}`, alice);
  assert.equal(mine.body.data.state, "ready");
  assert.equal(mine.body.data.mine, true);

  // A download whose checksum differs ends the operation failed, with the node's reason.
  const broken = await request("POST", "/api/v1/images/add", alice, add("broken"));
  const failed = await operation(broken.body.data.operation_id);
  assert.equal(failed.state, "failed");
  assert.match(failed.error.message, /SHA-256 differs/);
});

Deno.test("adding needs the rental, a checksum, an http(s) URL, a free name and room under the limit", async () => {
  const { alice, bob, images, request } = await setup();
  const refused = await request("POST", "/api/v1/images/add", bob, add("bobs"));
  assert.equal(refused.status, 403);
  assert.match(refused.body.error_message, /does not rent machine/);
  const { sha256: _, ...unchecked } = add("nosum");
  for (
    const body of [
      unchecked,
      { ...add("x"), url: "file:///etc/shadow" },
      { ...add("x"), url: "ftp://images.example/x" },
      { ...add("../x") },
    ]
  ) {
    const answer = await request("POST", "/api/v1/images/add", alice, body);
    assert.equal(answer.status, 400, JSON.stringify(body));
  }
  assert.equal((await request("POST", "/api/v1/images/add", alice, add("ubuntu"))).status, 409);
  for (let index = 0; index < MAX_IMAGES_PER_RENTER; index++) {
    images.set(`held-${index}`, image(`held-${index}`, { added_by: alice.address }));
  }
  const full = await request("POST", "/api/v1/images/add", alice, add("one-more"));
  assert.equal(full.status, 409);
  assert.match(full.body.error_message, /at most 3/);
  assert.equal((await request("GET", `/api/v1/images?node_id=${NODE}`, undefined)).status, 401);
});

Deno.test("a renter deletes only an image it added", async () => {
  const { alice, bob, images, request } = await setup();
  images.set("alices", image("alices", { added_by: alice.address }));
  const target = { peer_nodes_list: [NODE] };
  // Bob does not even see Alice's image.
  assert.equal((await request("POST", "/api/v1/images/alices/delete", bob, target)).status, 404);
  assert.equal((await request("POST", "/api/v1/images/ubuntu/delete", alice, target)).status, 403);
  assert.equal((await request("POST", "/api/v1/images/nothing/delete", alice, target)).status, 404);
  const deleted = await request("POST", "/api/v1/images/alices/delete", alice, target);
  assert.equal(deleted.status, 200, JSON.stringify(deleted.body));
  assert.equal(images.has("alices"), false);
});
