/**
 * The renter's dashboard in a real browser (Debian's Chromium, driven by
 * puppeteer-core; scripts/system/browser_setup.sh installs it) against a
 * devnet of real node processes: a seed with the ledger, two GPU nodes (a
 * stand-in nvidia-smi replaying recorded machines; containers on the test's
 * Podman, VMs on its libvirt) and a client-end that serves the dashboard at
 * `/ui`.
 *
 * The first GPU node is registered and validated and the renter funded
 * through the ledger API; everything after happens on the page: the market
 * lists both GPU nodes with their GPUs and states; a dev wallet typed in
 * (//Bob) rents the validated one, signing in the browser; it creates a
 * container, whose progress shows while it is made and whose state reaches
 * running; its page shows its console and usage charts; a VM made the same
 * way shows its login details and is deleted from its page; the GPU node's
 * operator page shows its status, metrics and event log; a browser
 * extension's account signs the same requests. A screenshot of each page is
 * written under the test's scratch directory, and their paths printed.
 */
import assert from "node:assert/strict";
import { hexToU8a, u8aToHex, u8aWrapBytes } from "@polkadot/util";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { devnetLayout, type DevnetNode } from "../../scripts/devnet.ts";
import { REPO_ROOT, scratchDir, waitFor, writeScript } from "../helpers.ts";
import {
  removeDomains,
  requireLibvirt,
  testGuest,
  testPrefix,
} from "../node_service/vm/libvirt_fixture.ts";
import { devWallets } from "../wallets.ts";
import { api, ok, operator, type Running, startNode, stop } from "./devnet_nodes.ts";

const CHROMIUM = "/usr/bin/chromium";
const TEST_IMAGE = "localhost/dbc-test-busybox:latest";
/** What the container runs: a line for its console, then a little work every second for the charts. */
const COMMAND =
  `sh -c "echo dashboard-hello; while true; do seq 1 20000 >/dev/null; sleep 1; done"`;
/** The shortest validation round the ledger takes: 9 slots of 10 s. */
const VERIFICATION_WINDOW_S = 90;
/** GPU nodes announce often, so the market shows a new ledger state within seconds. */
const ANNOUNCE_INTERVAL_S = 3;
const PRICE_PER_HOUR = "1200";
/** What the first GPU node declares (and its validators observe). */
const MACHINE_CONFIG = {
  gpu_model: "NVIDIA H100 80GB HBM3",
  gpu_count: 2,
  cpu_model: "AMD EPYC",
  cpu_cores: 1,
  memory_gib: 1,
  disk_gib: 1,
};
/**
 * A browser wallet extension as the page sees one (`window.injectedWeb3`, the protocol
 * polkadot-js, Talisman and SubWallet implement), whose key stays in the test process: `signRaw`
 * goes to the exposed `dbcTestExtensionSign`, which signs as the polkadot-js extension does.
 */
const STAND_IN_EXTENSION = `window.injectedWeb3 = {
  "test-extension": {
    version: "1.0.0",
    enable: async () => ({
      accounts: { get: async () => [{ address: await dbcTestExtensionAddress(), name: "Bob", type: "sr25519" }] },
      signer: { signRaw: async (payload) => ({ id: 1, signature: await dbcTestExtensionSign(payload) }) },
    }),
  },
};`;

/** How long the page may take for one step (a market refresh is 10 s, a create a few). */
const PAGE_STEP_MS = 60_000;

const step = (what: string) =>
  console.error(`[ui browser test ${new Date().toISOString()}] ${what}`);

/** A stand-in nvidia-smi that answers the node's GPU query with a recorded machine. */
async function gpuPath(dir: string, recording: string): Promise<string> {
  const bin = `${dir}/bin-${recording}`;
  await Deno.mkdir(bin, { recursive: true });
  await writeScript(
    `${bin}/nvidia-smi`,
    `case "$*" in *--query-gpu=index,uuid,name,pci.bus_id,*--format=csv,noheader,nounits*) cat '${REPO_ROOT}/tests/fixtures/nvidia-smi/${recording}.csv';; *) echo "unexpected arguments: $*" >&2; exit 2;; esac`,
  );
  return `${bin}:${Deno.env.get("PATH") ?? ""}`;
}

async function screenshot(page: Page, dir: string, name: string, shots: string[]): Promise<void> {
  const path = `${dir}/${name}.png`;
  await page.screenshot({ path: path as `${string}.png`, fullPage: true });
  shots.push(path);
}

/** The text of the first element `selector` matches. */
function textOf(page: Page, selector: string): Promise<string> {
  return page.$eval(selector, (element) => element.textContent ?? "");
}

/** Waits until the text of `selector` passes `test`; returns it. */
function waitForText(
  page: Page,
  selector: string,
  test: (text: string) => boolean,
  what: string,
): Promise<string> {
  return waitFor(what, async () => {
    const text = await textOf(page, selector).catch(() => undefined);
    return text !== undefined && test(text) ? text : undefined;
  }, PAGE_STEP_MS);
}

Deno.test({
  name:
    "dashboard in Chromium: the market lists both GPU nodes, a typed-in dev wallet rents one and creates a container that reaches running",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    try {
      await Deno.stat(CHROMIUM);
    } catch {
      throw new Error(`${CHROMIUM} is missing: run scripts/system/browser_setup.sh (as root)`);
    }
    await requireLibvirt();
    const guest = await testGuest();
    const dir = await scratchDir("ui-browser");
    const shotsDir = await scratchDir("ui-screenshots");
    const basePort = 30_000 + Math.floor(Math.random() * 8_000);
    const domainRoot = testPrefix();
    const [seedNode, gpuNode, gpu2Node, clientNode] = devnetLayout(basePort, dir, domainRoot) as [
      DevnetNode,
      DevnetNode,
      DevnetNode,
      DevnetNode,
    ];
    const { alice, bob, charlie, dave, eve, ferdie } = await devWallets();
    const running: Running[] = [];
    const shots: string[] = [];
    let browser: Browser | undefined;
    let containerId: string | undefined;
    const pageErrors: string[] = [];
    try {
      const seed = await startNode(seedNode, seedNode.p2pPort, undefined, {}, [
        "--ledger-verification-window-s",
        String(VERIFICATION_WINDOW_S),
      ]);
      running.push(seed);
      const gpuArgs = [
        "--announce-interval-s",
        String(ANNOUNCE_INTERVAL_S),
        "--rent-price-per-hour",
        PRICE_PER_HOUR,
      ];
      const [gpu, gpu2, client] = await Promise.all([
        startNode(gpuNode, seedNode.p2pPort, seed.nodeId, {
          PATH: await gpuPath(dir, "two_h100"),
        }, gpuArgs),
        startNode(gpu2Node, seedNode.p2pPort, seed.nodeId, {
          PATH: await gpuPath(dir, "one_rtx4090"),
        }, gpuArgs),
        startNode(clientNode, seedNode.p2pPort, seed.nodeId),
      ]);
      running.push(gpu, gpu2, client);
      step("nodes up");

      // Its operator offers a VM image (a blank disk: the VM runs, its guest has nothing to boot).
      // (Retried while its node service is still starting and has not made its image directory.)
      await waitFor("the VM image added", async () => {
        await Deno.copyFile(guest.baseDisk, `${gpu.dataDir}/images/blank.qcow2`);
        return await operator(gpu, "POST", "images/vm", {
          name: "blank.qcow2",
          path: `${gpu.dataDir}/images/blank.qcow2`,
        });
      }, 30_000);
      // The owner registers the first GPU node (its node key agrees through its operator API),
      // three validators report in their slots, the ledger admin funds the renter.
      const token = (await Deno.readTextFile(`${gpu.dataDir}/operator.token`)).trim();
      const made = await fetch(`http://127.0.0.1:${gpu.httpPort}/api/v1/operator/registration`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ prices: { hour: PRICE_PER_HOUR }, config: MACHINE_CONFIG }),
      });
      const registration = (await made.json()).data.registration;
      assert.equal(made.status, 200);
      ok(await api(seed, "POST", "/api/v1/ledger/machines", { signer: alice, body: registration }));
      const machinePath = `/api/v1/ledger/machines/${gpu.nodeId}`;
      for (const validator of [charlie, dave, eve]) {
        ok(await api(seed, "POST", `${machinePath}/grab`, { signer: validator }));
      }
      for (const validator of [charlie, dave, eve]) {
        await waitFor(`${validator.address} reports in its slot`, async () => {
          const reported = await api(seed, "POST", `${machinePath}/report`, {
            signer: validator,
            body: { report: { kind: "observed", observed: registration.config } },
          });
          if (reported.status === 403) return undefined; // Not yet its slot.
          return ok(reported);
        }, VERIFICATION_WINDOW_S * 1_000);
      }
      assert.equal(ok(await api(seed, "GET", machinePath)).status, "online");
      ok(
        await api(seed, "POST", `/api/v1/ledger/accounts/${bob.address}/fund`, {
          signer: ferdie,
          body: { amount: "100000" },
        }),
      );
      step("machine online, renter funded");

      browser = await puppeteer.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: ["--no-sandbox", "--disable-dev-shm-usage"],
      });
      const page = await browser.newPage();
      await page.setViewport({ width: 1400, height: 900 });
      page.on("pageerror", (error) => pageErrors.push(String(error)));
      page.on("console", (message) => {
        if (message.type() === "error") pageErrors.push(message.text());
      });
      const ui = `http://127.0.0.1:${client.httpPort}/ui`;
      await page.goto(`${ui}#/`, { waitUntil: "load" });

      // 1. The market: both GPU nodes, with their GPUs; the validated one online.
      const row = (id: string) => `tr[data-node="${id}"]`;
      await page.waitForSelector(`${row(gpu.nodeId)} .badge`, { timeout: PAGE_STEP_MS });
      await page.waitForSelector(row(gpu2.nodeId), { timeout: PAGE_STEP_MS });
      await waitForText(
        page,
        `${row(gpu.nodeId)} td.state`,
        (text) => text === "online",
        "the validated machine online in the market",
      );
      assert.match(await textOf(page, row(gpu.nodeId)), /2 × NVIDIA H100 80GB HBM3/);
      assert.match(await textOf(page, row(gpu2.nodeId)), /GeForce RTX 4090/);
      assert.match(await textOf(page, row(gpu.nodeId)), /1\u202f200 \/ hour/);
      assert.equal(await textOf(page, `${row(gpu.nodeId)} .badge`), "available");
      await screenshot(page, shotsDir, "1-market", shots);
      step("market lists both GPU nodes");

      // 2. A dev wallet typed in; it rents the online machine, signing in the browser.
      await page.type(".wallet input[name=secret]", "//Bob");
      await page.click(".wallet button.primary");
      await page.waitForSelector(`.wallet .connected[data-address="${bob.address}"]`);
      const rentButton = `${row(gpu.nodeId)} button.rent-open`;
      await page.waitForSelector(rentButton, { timeout: PAGE_STEP_MS });
      await page.click(rentButton);
      await page.waitForSelector(`form.rent[data-machine="${gpu.nodeId}"]`);
      await page.click(`form.rent[data-machine="${gpu.nodeId}"] button.primary`);
      await waitForText(
        page,
        `${row(gpu.nodeId)} .badge`,
        (text) => text === "rented by you",
        "the market to show the rental",
      );
      const lease = ok(
        await api(client, "GET", `/api/v1/mining_nodes/${gpu.nodeId}/lease?account=${bob.address}`),
      );
      assert.equal(lease.renting, true, "the ledger has Bob's rental");
      step("rented in the browser");

      // 3. The machine's page: create a container, its progress shown until it is done.
      await page.goto(`${ui}#/machines/${gpu.nodeId}`);
      await page.waitForSelector("#create-container", { timeout: PAGE_STEP_MS });
      await page.$eval("#create-container input[name=image]", (input) => {
        (input as unknown as { value: string }).value = "";
      });
      await page.type("#create-container input[name=image]", TEST_IMAGE);
      await page.type("#create-container input[name=command]", COMMAND);
      await page.click("#create-container button.primary");
      await page.waitForSelector(".progress[data-task]", { timeout: PAGE_STEP_MS });
      containerId = await page.$eval(
        ".progress[data-task]",
        (panel) => panel.getAttribute("data-task")!,
      );
      await screenshot(page, shotsDir, "2-creating", shots);
      const ended = await waitForText(
        page,
        ".progress .badge",
        (text) => text !== "running",
        "the creation to end",
      );
      assert.equal(ended, "done", await textOf(page, ".progress"));
      // Its state reaches running on the page (the list refreshes itself).
      await page.waitForSelector(`tr[data-instance="${containerId}"] [data-state="running"]`, {
        timeout: PAGE_STEP_MS,
      });
      await screenshot(page, shotsDir, "3-machine", shots);
      const listed = ok(
        await api(client, "GET", `/api/v1/containers/${containerId}?node_id=${gpu.nodeId}`, {
          signer: bob,
        }),
      );
      assert.equal(listed.state, "running");
      assert.equal(listed.image, TEST_IMAGE);
      step(`container ${containerId} running`);

      // 4. The instance's page: its state, console and usage charts. The machine page redraws its
      // instance table as it polls, so the link is found and clicked in one step in the page
      // (puppeteer's click finds, scrolls, then clicks, and a redraw between them detaches it).
      await page.$eval(
        `tr[data-instance="${containerId}"] a`,
        (link) => (link as unknown as { click(): void }).click(),
      );
      await page.waitForSelector(".instance [data-state=running]", { timeout: PAGE_STEP_MS });
      // Two readings make the first rate.
      await waitForText(
        page,
        ".instance .usage-note",
        (text) => Number(/^(\d+) readings/.exec(text)?.[1] ?? 0) >= 2,
        "two usage readings",
      );
      assert.match(await textOf(page, "figure.chart .latest"), /%$/);
      await waitForText(page, "pre.log", (text) => text.includes("dashboard-hello"), "its console");
      await screenshot(page, shotsDir, "4-instance", shots);
      step("instance page with usage");

      // 4b. A VM made the same way: its login details on its page, then deleted from there.
      page.on("dialog", (dialog) => void dialog.accept());
      await page.goto(`${ui}#/machines/${gpu.nodeId}`);
      await page.waitForSelector("#create-vm option[value='blank.qcow2']", {
        timeout: PAGE_STEP_MS,
      });
      await page.$eval("#create-vm input[name=mem_size]", (input) => {
        (input as unknown as { value: string }).value = "0.25";
      });
      await page.$eval("#create-vm input[name=cpu_cores]", (input) => {
        (input as unknown as { value: string }).value = "1";
      });
      await page.type("#create-vm input[name=password]", "dashboard-pass-1");
      await page.click("#create-vm button.primary");
      const vmId = await waitFor("the VM's progress", async () => {
        const ids = await page.$$eval(
          ".progress[data-task]",
          (panels) => panels.map((panel) => panel.getAttribute("data-task")!),
        );
        return ids.find((id) => id.startsWith("vm-"));
      }, PAGE_STEP_MS);
      await page.waitForSelector(`tr[data-instance="${vmId}"] [data-state="running"]`, {
        timeout: PAGE_STEP_MS,
      });
      await page.click(`tr[data-instance="${vmId}"] a`);
      await page.waitForSelector(".instance code.login", { timeout: PAGE_STEP_MS });
      assert.match(await textOf(page, ".instance code.login"), /^ssh -p \d+ dbc@/);
      await page.click(".instance button.reveal");
      assert.equal(await textOf(page, ".instance code.secret"), "dashboard-pass-1");
      await screenshot(page, shotsDir, "4b-vm", shots);
      await page.click('.instance button[data-action="delete"]');
      await page.waitForSelector(".instance [data-state=deleted]", { timeout: PAGE_STEP_MS });
      step(`VM ${vmId} made, shown and deleted`);

      // 5. The GPU node's own page for its operator, on loopback, with its token: its status,
      // its metrics, and the container's creation in its event log.
      await page.goto(`http://127.0.0.1:${gpu.httpPort}/ui#/operator`);
      await page.waitForSelector("form.token input[name=token]");
      await page.type("form.token input[name=token]", token);
      await page.click("form.token button");
      await waitForText(
        page,
        "table.event-table",
        (text) => text.includes("container.create"),
        "the event log",
      );
      assert.match(await textOf(page, ".operator dl.facts"), new RegExp(gpu.nodeId));
      await waitForText(page, "figure.chart .latest", (text) => /^\d/.test(text), "the metrics");
      await screenshot(page, shotsDir, "5-operator", shots);
      step("operator page");

      // 6. The same renter through a browser extension: every request the page signs goes to the
      // extension's signRaw, and the nodes accept those signatures.
      const extensionPage = await browser.newPage();
      extensionPage.on("pageerror", (error) => pageErrors.push(String(error)));
      const signed: string[] = [];
      await extensionPage.exposeFunction("dbcTestExtensionAddress", () => bob.address);
      await extensionPage.exposeFunction(
        "dbcTestExtensionSign",
        (payload: { address: string; data: string; type: string }) => {
          assert.equal(payload.address, bob.address);
          assert.equal(payload.type, "bytes");
          signed.push(new TextDecoder().decode(hexToU8a(payload.data)).split("\n")[2]!);
          return u8aToHex(bob.sign(u8aWrapBytes(hexToU8a(payload.data)), { withType: true }));
        },
      );
      await extensionPage.evaluateOnNewDocument(STAND_IN_EXTENSION);
      await extensionPage.setViewport({ width: 1400, height: 900 });
      await extensionPage.goto(`${ui}#/machines/${gpu.nodeId}`);
      await extensionPage.click(".wallet button.extension");
      await extensionPage.waitForSelector(".wallet .status select");
      await extensionPage.click(".wallet .status button");
      await extensionPage.waitForSelector(`.wallet .connected[data-address="${bob.address}"]`);
      assert.match(await textOf(extensionPage, ".wallet .label"), /Bob \(test-extension\)/);
      await extensionPage.waitForSelector(
        `tr[data-instance="${containerId}"] [data-state="running"]`,
        {
          timeout: PAGE_STEP_MS,
        },
      );
      assert.ok(
        signed.some((path) => path.startsWith("/api/v1/containers?node_id=")),
        `the extension signed: ${signed.join(", ")}`,
      );
      await screenshot(extensionPage, shotsDir, "6-extension", shots);

      assert.deepEqual(pageErrors, [], "the page logged no errors");
      console.log(`screenshots:\n  ${shots.join("\n  ")}`);
    } catch (error) {
      // What the page showed and said when it went wrong.
      const page = (await browser?.pages())?.at(-1);
      if (page) {
        await screenshot(page, shotsDir, "failure", shots).catch(() => {});
        const text = await textOf(page, "body").catch(() => "(unreadable)");
        console.error(
          `page at failure (${page.url()}):\n${text}\nerrors: ${pageErrors.join("\n")}`,
        );
      }
      console.error(`screenshots:\n  ${shots.join("\n  ")}`);
      throw error;
    } finally {
      await browser?.close();
      const gpu = running.find((node) => node.name === gpuNode.name);
      const client = running.find((node) => node.name === clientNode.name);
      if (containerId && gpu && client) {
        await api(client, "POST", `/api/v1/containers/${containerId}/delete`, {
          signer: bob,
          body: { peer_nodes_list: [gpu.nodeId] },
        }).catch(() => undefined);
      }
      await Promise.all(running.map((node) => stop(node)));
      await removeDomains(domainRoot);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
