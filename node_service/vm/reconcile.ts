/**
 * Start-up reconciliation, pure part: compares the node's VM records with
 * the domains libvirt reports and says what differs. Nothing is dropped: a
 * VM whose domain vanished keeps its record (marked failed, GPUs still held
 * until it is deleted), and a domain nobody recorded is reported, not adopted
 * (nor removed: no crash of this node leaves one, the record comes first).
 * What each VM's definition and disk need is repair_plan.ts's part.
 */
import type { InstanceState } from "../../mod/mod.ts";
import type { DomainState, DomainSummary } from "./libvirt/mod.ts";
import { observedVmState } from "./state.ts";

export type ReconcileRecord = { id: string; domain: string; state: InstanceState };

export type ReconcileFinding =
  /** The record's domain is gone from libvirt. */
  | { kind: "vanished"; id: string; domain: string; from: InstanceState; to: InstanceState }
  /** A domain with this node's prefix that no live record owns. */
  | { kind: "appeared"; domain: string; observed: DomainState }
  /** The domain runs (or not) other than the record says, e.g. after a host reboot. */
  | {
    kind: "state_changed";
    id: string;
    domain: string;
    from: InstanceState;
    to: InstanceState;
    observed: DomainState;
  }
  /** A creation that a node restart cut short; the VM service undoes it as a failed one. */
  | { kind: "interrupted"; id: string; domain: string; observed: DomainState | null };

export function reconcile(
  records: readonly ReconcileRecord[],
  domains: readonly DomainSummary[],
  domainPrefix: string,
): ReconcileFinding[] {
  const findings: ReconcileFinding[] = [];
  const byName = new Map(domains.map((domain) => [domain.name, domain.state]));
  const owned = new Set<string>();
  for (const record of records) {
    if (record.state === "deleted") continue;
    owned.add(record.domain);
    const observed = byName.get(record.domain);
    if (record.state === "creating") {
      findings.push({
        kind: "interrupted",
        id: record.id,
        domain: record.domain,
        observed: observed ?? null,
      });
      continue;
    }
    const next = observedVmState(record.state, observed);
    if (observed === undefined) {
      if (record.state !== "failed") {
        findings.push({
          kind: "vanished",
          id: record.id,
          domain: record.domain,
          from: record.state,
          to: next,
        });
      }
    } else if (next !== record.state) {
      findings.push({
        kind: "state_changed",
        id: record.id,
        domain: record.domain,
        from: record.state,
        to: next,
        observed,
      });
    }
  }
  for (const domain of domains) {
    if (domain.name.startsWith(domainPrefix) && !owned.has(domain.name)) {
      findings.push({ kind: "appeared", domain: domain.name, observed: domain.state });
    }
  }
  return findings;
}
