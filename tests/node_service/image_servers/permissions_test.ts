/**
 * Image-server requests under the node service's own permissions (a worker
 * with exactly `workerPermissions("node_service")` for a node whose operator
 * names a server): the worker cannot reach the server itself, yet lists it,
 * reads a file and puts one through the request process, whose grants are
 * the configured servers only; and a private address, or a host that is not
 * a server, refused at the connection.
 */
import assert from "node:assert/strict";
import { loadConfig, nodePaths, serviceProgramPaths, workerPermissions } from "../../../mod/mod.ts";
import {
  ImageServerClient,
  processRequester,
  serversFromConfig,
  TransferError,
  transferPolicy,
} from "../../../node_service/image_servers/mod.ts";
import { scratchDir } from "../../helpers.ts";
import type {
  ImageServerProbe,
  ImageServerProbeReport,
} from "../../fixtures/image_server_probe.ts";
import { startNginx } from "./nginx_fixture.ts";

Deno.test("under the node service's own permissions: the server only through the request process", async () => {
  const dir = await scratchDir("image-server-permissions");
  const nginx = await startNginx();
  const { config } = loadConfig({
    args: ["--data-dir", `${dir}/data`, "--image-servers", `lan=${nginx.url}`],
    env: { DBC_IMAGE_SERVER_PRIVATE: "true" },
    cwd: dir,
  });
  const paths = nodePaths(config.data_dir);
  await Deno.mkdir(paths.serviceDir, { recursive: true });
  await Deno.writeFile(`${nginx.root}/probe.img`, new Uint8Array(70_000));
  const permissions = workerPermissions("node_service", {
    config,
    paths,
    programPaths: serviceProgramPaths(Deno.env.get("PATH")),
  });
  const worker = new Worker(new URL("../../fixtures/image_server_probe.ts", import.meta.url), {
    type: "module",
    deno: { permissions },
  } as WorkerOptions);
  try {
    const report = await new Promise<ImageServerProbeReport>((resolve, reject) => {
      worker.onmessage = (event) => resolve(event.data);
      worker.onerror = (event) => {
        event.preventDefault();
        reject(new Error(event.message));
      };
      worker.postMessage({ url: nginx.url } satisfies ImageServerProbe);
    });
    assert.equal(report.directFetch, "denied", "the node service cannot reach the server itself");
    assert.deepEqual(report.listed, ["probe.img"]);
    assert.equal(report.readBytes, 70_000);
    assert.equal(report.put, "ok");
    assert.equal(
      await Deno.readTextFile(`${nginx.root}/probe-up.img`),
      "uploaded by the probe",
    );
  } finally {
    worker.terminate();
    await nginx.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a server on a loopback or private address is refused at the connection unless allowed", async () => {
  const nginx = await startNginx();
  try {
    const servers = serversFromConfig({ image_servers: [`lan=${nginx.url}`] });
    const denied = new ImageServerClient(
      processRequester(transferPolicy(servers, { image_server_private: false }, [])),
    );
    await assert.rejects(
      denied.list(servers[0]!),
      (error: unknown) =>
        error instanceof TransferError && error.kind === "not_allowed" &&
        /image_server_private/.test(error.message),
    );
    // Nor may it reach a host that is not one of the servers, whatever the path says.
    const other = new ImageServerClient(
      processRequester(transferPolicy(servers, { image_server_private: true }, [])),
    );
    await assert.rejects(
      other.list({ id: "x", url: new URL(`http://127.0.0.2:${nginx.port}/`) }),
      (error: unknown) => error instanceof TransferError && error.kind === "not_allowed",
    );
    // Only the fixture's own readiness probe reached the server.
    assert.deepEqual((await nginx.accessLog()).filter((line) => !line.startsWith("OPTIONS ")), []);
  } finally {
    await nginx.stop();
  }
});
