/**
 * The one "rentable instance" notion shared by virtual machines and
 * containers, so that the HTTP API and the lease loop can treat both alike:
 * the same kinds, the same states, the same summary. Each kind adds its own
 * detail on top of {@link InstanceSummarySchema}.
 */
import { z } from "zod";

export const INSTANCE_KINDS = ["vm", "container"] as const;
export const InstanceKindSchema = z.enum(INSTANCE_KINDS);
export type InstanceKind = z.infer<typeof InstanceKindSchema>;

/**
 * `creating` until the machine first runs; `failed` when creation did not
 * finish (it holds no GPUs and can only be deleted); `expired` when the lease
 * ended (stopped and kept for the retention period); `deleted` is final.
 */
export const INSTANCE_STATES = [
  "creating",
  "running",
  "stopped",
  "expired",
  "failed",
  "deleted",
] as const;
export const InstanceStateSchema = z.enum(INSTANCE_STATES);
export type InstanceState = z.infer<typeof InstanceStateSchema>;

/** An instance id: chosen by the node, safe in engine names, file names and URLs. */
export const InstanceIdSchema = z.string().regex(/^[a-z0-9][a-z0-9-]{2,62}$/, {
  message: "expected 3-63 lower-case letters, digits or dashes",
});

/** Who asks for an operation (a wallet address, a node id, or `node`); goes to the event log. */
export const ActorSchema = z.string().min(1).max(128);

/**
 * One OpenSSH public key, as in `authorized_keys`: a known type, its base64
 * body (which must decode to a key of that type, as sshd checks, so a typo
 * fails at once), an optional comment. No options prefix and no line breaks, so a key
 * can never add lines (or `command=` options) to the file it is written to.
 */
export const SshPublicKeySchema = z.string().max(16_384).regex(
  /^(?:ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(?:256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+={0,3}(?: [\x20-\x7e]{1,256})?$/,
  { message: "expected one OpenSSH public key: <type> <base64> [comment]" },
).refine(keyBodyNamesItsType, {
  message: "expected an OpenSSH public key whose base64 body is a key of the named type",
});
/** The keys a renter may install on one instance. */
export const MAX_SSH_KEYS = 8;
export const SshPublicKeysSchema = z.array(SshPublicKeySchema).min(1).max(MAX_SSH_KEYS);

/** What every rentable instance shows, whatever its kind. */
export const InstanceSummarySchema = z.object({
  id: InstanceIdSchema,
  kind: InstanceKindSchema,
  owner: z.string(),
  state: InstanceStateSchema,
  /** UUIDs of the GPUs allocated to it (empty once it holds none). */
  gpus: z.array(z.string()),
  created_at: z.number(),
  updated_at: z.number(),
  /** Why the last operation on it failed, if it did. */
  last_error: z.string().nullable(),
});
export type InstanceSummary = z.infer<typeof InstanceSummarySchema>;

/** `vm.recorded`, `container.recorded`: waits until the create of `id` has written its record. */
export const InstanceRecordedParamsSchema = z.object({ id: InstanceIdSchema });
/** `recorded`: the record is written (a restart keeps it); false: the create ended without one. */
export const InstanceRecordedSchema = z.object({ recorded: z.boolean() });

/** `<type> <base64>`: true when the body decodes to a key blob that starts with `<type>`. */
function keyBodyNamesItsType(key: string): boolean {
  const [type, body] = key.split(" ");
  if (type === undefined || body === undefined || body.length % 4 !== 0) return false;
  let blob: string;
  try {
    blob = atob(body);
  } catch {
    return false;
  }
  // The blob opens with the type as an SSH string: a 32-bit big-endian length, then the bytes.
  const length = ((blob.charCodeAt(0) << 24) | (blob.charCodeAt(1) << 16) |
    (blob.charCodeAt(2) << 8) | blob.charCodeAt(3)) >>> 0;
  return length === type.length && blob.slice(4, 4 + length) === type &&
    blob.length > 4 + length;
}
