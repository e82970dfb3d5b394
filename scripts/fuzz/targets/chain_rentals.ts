/**
 * What the GPU node makes of the DBC chain's rent orders
 * (node_service/chain/rentals.ts `leaseFromOrders`): any mix of live orders
 * (any renter, status, end block) and history entries, at any block.
 *
 * Contract: the answer fits `LeaseStatusSchema`; `active` only for a live
 * order of this renter that ends after the block, with that order's id and
 * the latest such end; otherwise `ended` with the latest history entry, else
 * `none`.
 */
import fc from "fast-check";
import { LeaseStatusSchema } from "../../../mod/mod.ts";
import {
  leaseFromOrders,
  RENT_STATUSES,
  type RentOrder,
} from "../../../node_service/chain/rentals.ts";
import { expect, type FuzzTarget } from "../target.ts";

const RENTERS = ["0x01", "0x02"] as const;
const block = fc.integer({ min: 0, max: 2 ** 32 - 1 });

const order: fc.Arbitrary<RentOrder> = fc.record({
  rentId: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  machineId: fc.string(),
  renter: fc.constantFrom(...RENTERS),
  rentStart: block,
  confirmRent: block,
  rentEnd: block,
  stakeAmount: fc.bigInt({ min: 0n, max: 2n ** 128n - 1n }),
  status: fc.constantFrom(...RENT_STATUSES),
  gpuNum: fc.integer({ min: 0, max: 16 }),
  gpuIndex: fc.array(fc.integer({ min: 0, max: 15 }), { maxLength: 16 }),
});

const input = fc.record({
  view: fc.record({
    hash: fc.constant("0x00"),
    block,
    nowMs: fc.integer({ min: 0, max: 2 ** 45 }),
  }),
  orders: fc.array(order, { maxLength: 6 }),
  history: fc.array(
    fc.record({
      rentId: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
      rentStart: block,
      rentEnd: block,
    }),
    { maxLength: 6 },
  ),
});
type Input = typeof input extends fc.Arbitrary<infer T> ? T : never;

export const target: FuzzTarget<Input> = {
  name: "chain.rentals",
  about:
    "leaseFromOrders answers a LeaseStatus that follows the renter's live orders, else its history",
  property: () => ({
    arbitrary: input,
    check(value) {
      const status = leaseFromOrders({ ...value, renter: RENTERS[0] });
      expect(
        LeaseStatusSchema.safeParse(status).success,
        () => `not a LeaseStatus: ${String(status)}`,
      );
      const live = value.orders.filter((o) =>
        o.renter === RENTERS[0] && o.status !== "RentExpired" && o.rentEnd > value.view.block
      );
      if (live.length > 0) {
        const end = Math.max(...live.map((o) => o.rentEnd));
        expect(status.state === "active", "a live order of the renter reads active");
        expect(
          status.state === "active" &&
            live.some((o) => o.rentEnd === end && o.rentId.toString() === status.rental_id),
          "active names the order that ends last",
        );
      } else if (value.history.length > 0) {
        expect(status.state === "ended", "without a live order, the history says ended");
      } else {
        expect(status.state === "none", "nothing on the chain reads none");
      }
    },
  }),
};
