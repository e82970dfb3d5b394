/** The form that rents a machine for the connected wallet (`POST /api/v1/ledger/rentals`, signed). */
import type { RentUnit } from "../../../../mod/mod.ts";
import { type Dashboard, submitter } from "../context.ts";
import { field, h, labelled } from "../dom.ts";
import { formatAmount, formatTime, shortId } from "../format.ts";

const UNITS: RentUnit[] = ["hour", "day"];
const MAX_COUNT = 10_000;

export function rentForm(
  dashboard: Dashboard,
  machineId: string,
  /** Called after a rent; the views that show the wallet's account also hear of it. */
  onRented: () => void = () => {},
): HTMLFormElement {
  const status = h("span", { class: "status" });
  const form = h(
    "form",
    { class: "rent", "data-machine": machineId },
    h("strong", {}, `Rent ${shortId(machineId)}`),
    labelled(
      "for",
      h("input", {
        name: "count",
        type: "number",
        min: 1,
        max: MAX_COUNT,
        value: 1,
        required: true,
      }),
    ),
    labelled(
      "unit",
      h("select", { name: "unit" }, ...UNITS.map((unit) => h("option", { value: unit }, unit))),
    ),
    h("button", { type: "submit", class: "primary" }, "Rent"),
    status,
  );
  submitter(form, status, async () => {
    const count = Number(field(form, "count"));
    const unit = field(form, "unit") as RentUnit;
    if (!Number.isInteger(count) || count < 1 || count > MAX_COUNT) {
      throw new Error(`give a whole number from 1 to ${MAX_COUNT}`);
    }
    const rental = await dashboard.signed().rent({ machine_id: machineId, unit, count });
    dashboard.notify(
      `Rented ${shortId(machineId)}: rental ${rental.rental_id}, paid ${
        formatAmount(rental.total_amount)
      }, until ${formatTime(rental.ends_at)}`,
      "good",
    );
    onRented();
    dashboard.accountChanged();
  });
  return form;
}
