/**
 * Puts every GPU node of the chaos network on the seed's ledger and rents it,
 * the cheapest honest way (as tests/integration/outage_test.ts does): its
 * operator API makes the registration its node key signs, the owner (//Alice,
 * the devnet's `owner_wallet`) signs the request; three validators grab the
 * order and, each in its slot of the shortest round, report what the owner
 * declared (open validation: no check VMs, which are not what this run
 * tests); the ledger admin (//Ferdie) funds the renters, and each GPU node is
 * rented by one of them. Done before any node is killed.
 */
import type { KeyringPair } from "@polkadot/keyring/types";
import { ApiClient, ApiClientError } from "../../http/mod.ts";
import type { MachineConfig, Rental } from "../../mod/mod.ts";
import { waitFor } from "../../tests/helpers.ts";
import { devWallets } from "../../tests/wallets.ts";
import type { ChaosCluster, ChaosNode, Progress } from "./cluster.ts";
import { sleep } from "./renter.ts";

/** Long past any run: no rental ends during one. */
const RENTAL_HOURS = 24;
const PRICE_PER_HOUR = "1";
const FUNDS = "1000000";
/** How long a node may take to answer what onboarding asks of it (it may still be starting). */
const ONBOARD_TIMEOUT_MS = 120_000;

export type Renter = { name: string; pair: KeyringPair };

export type RentalMade = { rental: Rental; renter: Renter; gpu: ChaosNode };

/** The renters, sr25519 and ed25519 wallets alike; none of them validates. */
export async function renters(): Promise<Renter[]> {
  const { eve, ferdie, aliceEd, bobEd } = await devWallets();
  return [
    { name: "eve", pair: eve },
    { name: "ferdie", pair: ferdie },
    { name: "alice-ed25519", pair: aliceEd },
    { name: "bob-ed25519", pair: bobEd },
  ];
}

/** Registers, validates and rents every GPU node; the rentals, one per GPU node. */
export async function onboard(cluster: ChaosCluster, progress: Progress): Promise<RentalMade[]> {
  const { alice, bob, charlie, dave, ferdie } = await devWallets();
  const at = (node: ChaosNode, signer?: KeyringPair) =>
    new ApiClient({ baseUrl: cluster.url(node), signer });
  const ledger = (signer?: KeyringPair) => at(cluster.seed, signer);
  const gpus = cluster.byRole("gpu");

  await Promise.all(gpus.map(async (gpu) => {
    const token = (await Deno.readTextFile(`${gpu.dataDir}/operator.token`)).trim();
    // Asked until the node service has started (the API answers before all its workers do).
    const { registration } = await waitFor(
      `${gpu.name}'s registration`,
      () => at(gpu).operatorRegistration(token, { prices: { hour: PRICE_PER_HOUR } }),
      ONBOARD_TIMEOUT_MS,
    );
    await ledger(alice).registerMachine(registration);
    for (const validator of [bob, charlie, dave]) {
      await ledger(validator).request("POST", `/api/v1/ledger/machines/${gpu.id}/grab`, {
        body: {},
      });
    }
    for (const validator of [bob, charlie, dave]) {
      await reportInSlot(ledger(validator), gpu.id, registration.config);
    }
    const status = (await ledger().ledgerMachine(gpu.id)).status;
    if (status !== "online") throw new Error(`${gpu.name} is ${status} after validation`);
  }));
  progress(`${gpus.length} GPU nodes registered and validated`);

  const people = await renters();
  for (const renter of people) await ledger(ferdie).fund(renter.pair.address, FUNDS);
  const rentals: RentalMade[] = [];
  for (const [index, gpu] of gpus.entries()) {
    const renter = people[index % people.length]!;
    const rental = await ledger(renter.pair).rent({
      machine_id: gpu.id,
      unit: "hour",
      count: RENTAL_HOURS,
    });
    rentals.push({ rental, renter, gpu });
  }
  // Each GPU node asks the seed's ledger over the network whether its renter rents it.
  await Promise.all(
    rentals.map(({ renter, gpu }) =>
      waitFor(`${gpu.name} to see its rental`, async () => {
        const check = await at(gpu).lease(gpu.id, renter.pair.address);
        return check.renting ? true : undefined;
      }, ONBOARD_TIMEOUT_MS)
    ),
  );
  progress(`${rentals.length} GPU nodes rented to ${Math.min(people.length, gpus.length)} renters`);
  return rentals;
}

/** Reports what the owner declared, in the validator's first slot that takes it. */
async function reportInSlot(
  client: ApiClient,
  machineId: string,
  observed: MachineConfig,
): Promise<void> {
  const machine = await client.ledgerMachine(machineId);
  const order = machine.validation.validators.find((order) => order.validator === client.address);
  if (!order) throw new Error(`${client.address} holds no order for ${machineId}`);
  for (const slot of order.slots) {
    if (Date.now() >= slot.ends_at) continue;
    await sleep(Math.max(0, slot.starts_at - Date.now()));
    try {
      await client.request("POST", `/api/v1/ledger/machines/${machineId}/report`, {
        body: { report: { kind: "observed", observed } },
      });
      return;
    } catch (error) {
      // Refused as outside the slot (a clock edge): the next slot takes it.
      if (!(error instanceof ApiClientError) || error.status !== 403) throw error;
    }
  }
  throw new Error(`${client.address} found no slot to report on ${machineId}`);
}
