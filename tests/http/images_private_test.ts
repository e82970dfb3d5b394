/**
 * Renter images through the real app over a real image store (SQLite, files,
 * qemu-img, a download server on loopback) and real signatures: a renter's
 * image is its own (nobody else lists, reads, boots or deletes it), names are
 * per owner (a renter's "ubuntu" does not take the operator's), and the
 * per-renter cap holds against parallel adds.
 */
import assert from "node:assert/strict";
import type { AppDeps } from "../../http/mod.ts";
import { MAX_IMAGES_PER_RENTER } from "../../http/routes/images.ts";
import { openDatabase, RpcError } from "../../mod/mod.ts";
import { ImageError, ImageStore } from "../../node_service/vm/images/image_store.ts";
import { SERVICE_MIGRATIONS } from "../../node_service/migrations.ts";
import { scratchDir } from "../helpers.ts";
import { run } from "../node_service/vm/libvirt_fixture.ts";
import { devWallets } from "../wallets.ts";
import { appRequest, gpuApp, TEST_GPU_NODE } from "./app_request.ts";

const NODE = TEST_GPU_NODE;

Deno.test("a renter's image is its own: others neither see, read, boot nor delete it; names are per owner; the cap holds in parallel", async () => {
  const { alice, bob } = await devWallets();
  const dir = await scratchDir("images-private");
  const db = openDatabase(`${dir}/node.db`, SERVICE_MIGRATIONS);
  const store = new ImageStore({
    db,
    imageDir: `${dir}/images`,
    now: Date.now,
    usersOf: () => [],
    // The download server is on loopback: an operator who allows private addresses.
    downloads: { hosts: ["127.0.0.1"], privateAddresses: "allow", deniedHosts: [] },
  });
  const made = await run("qemu-img", ["create", "-q", "-f", "qcow2", `${dir}/served.qcow2`, "1M"]);
  assert.equal(made.code, 0, made.stderr);
  const served = await Deno.readFile(`${dir}/served.qcow2`);
  const sha256 = [...new Uint8Array(await crypto.subtle.digest("SHA-256", served))]
    .map((byte) => byte.toString(16).padStart(2, "0")).join("");
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => new Response(served),
  );
  // The operator's image, shared by every renter.
  await Deno.copyFile(`${dir}/served.qcow2`, `${dir}/operator.qcow2`);
  await store.add("ubuntu", { kind: "path", path: `${dir}/operator.qcow2` }, sha256).done;
  // The node service's answers (as node_service/vm/handlers.ts gives them), over the real store.
  const call = ((method: string, params: Record<string, unknown>) => {
    try {
      switch (method) {
        case "lease.check":
          return Promise.resolve({
            renting: true,
            lease: { state: "active", rental_id: "r1", ends_at: 9e12 },
            verification: "ledger",
            checked_at: 1,
          });
        case "vm_image.list":
          return Promise.resolve({
            images: params.owner === undefined
              ? store.list()
              : store.listFor(params.owner as string),
          });
        case "container_image.list":
          return Promise.resolve([]);
        case "vm_image.add":
          return Promise.resolve(
            store.add(
              params.name as string,
              params.source as { kind: "url"; url: string },
              params.sha256 as string,
              params.added_by as string,
              params.max_per_owner as number,
            ).image,
          );
        case "vm_image.delete":
          if (params.owner === undefined) store.delete(params.name as string);
          else store.deleteFor(params.owner as string, params.name as string);
          return Promise.resolve({ name: params.name, deleted: true });
      }
    } catch (error) {
      if (error instanceof ImageError) {
        return Promise.reject(
          new RpcError(error.kind === "not_found" ? "not_found" : "conflict", error.message),
        );
      }
      throw error;
    }
    return Promise.reject(new RpcError("unavailable", `${method} is not wired in this test`));
  }) as unknown as AppDeps["call"];
  const { app } = gpuApp(call);
  const request = (method: string, path: string, signer: typeof alice, body?: unknown) =>
    appRequest(app, method, path, { signer }, body);
  const add = (name: string) => ({
    peer_nodes_list: [NODE],
    name,
    url: `http://127.0.0.1:${server.addr.port}/${name}.qcow2`,
    sha256,
  });
  try {
    // Alice's "ubuntu" is hers: the operator's keeps its name for everyone else.
    const squat = await request("POST", "/api/v1/images/add", alice, add("ubuntu"));
    assert.equal(squat.status, 202, JSON.stringify(squat.body));
    const secret = await request("POST", "/api/v1/images/add", alice, add("alices"));
    assert.equal(secret.status, 202, JSON.stringify(secret.body));
    await store.settle();

    const bobs = await request("GET", `/api/v1/images?node_id=${NODE}`, bob);
    assert.deepEqual(
      bobs.body.data.vm.map((image: { name: string; mine: boolean }) => [image.name, image.mine]),
      [["ubuntu", false]],
    );
    const alices = await request("GET", `/api/v1/images?node_id=${NODE}`, alice);
    assert.deepEqual(
      alices.body.data.vm.map((image: { name: string; mine: boolean }) => [image.name, image.mine])
        .sort(),
      [["alices", true], ["ubuntu", true]],
      "Alice sees her own ubuntu in place of the operator's",
    );
    assert.equal((await request("GET", `/api/v1/images/alices?node_id=${NODE}`, bob)).status, 404);
    const target = { peer_nodes_list: [NODE] };
    assert.equal((await request("POST", "/api/v1/images/alices/delete", bob, target)).status, 404);
    assert.equal((await request("POST", "/api/v1/images/ubuntu/delete", bob, target)).status, 403);

    // Booting: what VM create resolves, for each owner.
    assert.equal(store.readyImageFor(bob.address, "ubuntu").name, "ubuntu");
    const alicesUbuntu = store.readyImageFor(alice.address, "ubuntu");
    assert.notEqual(alicesUbuntu.name, "ubuntu");
    assert.throws(() => store.readyImageFor(bob.address, "alices"), /no image alices/);
    assert.throws(() => store.readyImageFor(bob.address, alicesUbuntu.name), /no image/);

    // Two of Alice's three places are taken; six adds at once leave exactly one more.
    const answers = await Promise.all(
      [1, 2, 3, 4, 5, 6].map((index) =>
        request("POST", "/api/v1/images/add", alice, add(`parallel-${index}`))
      ),
    );
    assert.deepEqual(
      answers.map((answer) => answer.status).sort(),
      [202, 409, 409, 409, 409, 409],
      JSON.stringify(answers.map((answer) => answer.body.error_message)),
    );
    await store.settle();
    assert.equal(
      store.list().filter((image) => image.added_by === alice.address).length,
      MAX_IMAGES_PER_RENTER,
    );
    // Alice deletes her own ubuntu; the operator's stays.
    const deleted = await request("POST", "/api/v1/images/ubuntu/delete", alice, target);
    assert.equal(deleted.status, 200, JSON.stringify(deleted.body));
    assert.equal(store.get("ubuntu")?.state, "ready");
    assert.equal(store.readyImageFor(alice.address, "ubuntu").name, "ubuntu");
  } finally {
    await server.shutdown();
    await store.close();
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
});
