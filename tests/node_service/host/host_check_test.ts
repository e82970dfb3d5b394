/**
 * The host checks: the pure verdicts from given stat and id facts (a 0600
 * root:root /dev/kvm, a 0700 directory above the VM disks, root), the real
 * gathering with `stat` and `id` against directories made here with 0700 and
 * 0711, and a VM create on a VM directory QEMU cannot reach, refused before
 * anything is written or defined in libvirt.
 */
import assert from "node:assert/strict";
import { RpcError, silentLogger } from "../../../mod/mod.ts";
import {
  directoryCheck,
  type DirectoryFacts,
  engineCheck,
  evaluateHost,
  type FileFacts,
  type HostFacts,
  kvmCheck,
  libvirtQemuKind,
  parseIdOutput,
  parseQemuConf,
  parseStatOutput,
  pathComponents,
  type QemuUserFacts,
  vmCreateRefusal,
} from "../../../node_service/host/check.ts";
import { gatherHostFacts, HostChecker } from "../../../node_service/host/facts.ts";
import { scratchDir } from "../../helpers.ts";
import {
  LIBVIRT_URI,
  removeDomains,
  requireLibvirt,
  testPrefix,
  virsh,
} from "../vm/libvirt_fixture.ts";
import { guestRequest, openVmSetting } from "../vm/vm_fixture.ts";

const QEMU: QemuUserFacts = {
  kind: "known",
  name: "libvirt-qemu",
  uid: 64055,
  gids: [64055, 107],
  groupNames: ["libvirt-qemu", "kvm"],
  source: "default",
};
const ROOT: QemuUserFacts = {
  kind: "known",
  name: "root",
  uid: 0,
  gids: [0],
  groupNames: ["root"],
  source: "qemu.conf",
};

function file(
  path: string,
  mode: number,
  owner: [string, number] = ["root", 0],
  group: [string, number] = ["root", 0],
  type: "directory" | "char_device" = "directory",
): FileFacts {
  return {
    kind: "present",
    path,
    uid: owner[1],
    gid: group[1],
    owner: owner[0],
    group: group[0],
    mode,
    type,
  };
}

const kvmDevice = (mode: number, group: [string, number]) =>
  file("/dev/kvm", mode, ["root", 0], group, "char_device");

function vmDirFacts(components: FileFacts[]): DirectoryFacts {
  const path = components.at(-1)!.path;
  return { role: "vm_dir", path, resolved: path, components };
}

const OPEN_VM_DIR = vmDirFacts([
  file("/", 0o755),
  file("/var", 0o755),
  file("/var/lib", 0o755),
  file("/var/lib/dbc", 0o711),
  file("/var/lib/dbc/vms", 0o711),
]);

Deno.test("a 0600 root:root /dev/kvm is a problem for libvirt-qemu, with udev's fix; kvm domains are refused", () => {
  const check = kvmCheck(QEMU, kvmDevice(0o600, ["root", 0]), "kvm");
  assert.equal(check.state, "problem");
  assert.match(check.detail, /^KVM is not usable by libvirt-qemu: \/dev\/kvm is root:root 0600/);
  assert.match(check.detail, /every libvirt call re-probes QEMU \(tens of seconds\)/);
  assert.equal(check.fix, "chgrp kvm /dev/kvm && chmod 0660 /dev/kvm (what udev does)");
  const refusal = vmCreateRefusal([check], "kvm");
  assert.ok(refusal);
  assert.match(refusal, /KVM is not usable by libvirt-qemu.*Fix: chgrp kvm \/dev\/kvm/);

  // Emulated VMs still start (slowly, with every call re-probing): said, not refused.
  const emulated = kvmCheck(QEMU, kvmDevice(0o600, ["root", 0]), "qemu");
  assert.equal(emulated.state, "problem");
  assert.match(emulated.detail, /VMs run without hardware acceleration \(TCG\)/);
  assert.equal(vmCreateRefusal([emulated], "qemu"), undefined);

  // A user not in kvm is told to join it as well.
  const outsider: QemuUserFacts = { ...QEMU, gids: [64055], groupNames: ["libvirt-qemu"] };
  assert.equal(
    kvmCheck(outsider, kvmDevice(0o600, ["root", 0]), "kvm").fix,
    "chgrp kvm /dev/kvm && chmod 0660 /dev/kvm (what udev does), and usermod -aG kvm libvirt-qemu",
  );
});

Deno.test("a 0660 root:kvm /dev/kvm is usable by a user in kvm, and not by one outside it", () => {
  const check = kvmCheck(QEMU, kvmDevice(0o660, ["kvm", 107]), "kvm");
  assert.equal(check.state, "ok");
  assert.equal(
    check.detail,
    "KVM is usable by libvirt-qemu: /dev/kvm is root:kvm 0660 and libvirt-qemu is in its group kvm",
  );
  assert.equal(check.fix, undefined);

  const outsider: QemuUserFacts = { ...QEMU, gids: [64055], groupNames: ["libvirt-qemu"] };
  const refused = kvmCheck(outsider, kvmDevice(0o660, ["kvm", 107]), "kvm");
  assert.equal(refused.state, "problem");
  assert.match(refused.fix!, /^usermod -aG kvm libvirt-qemu/);

  // The group may be matched by name alone (qemu.conf's `group = "kvm"`, not resolved to a gid).
  const named: QemuUserFacts = { ...QEMU, gids: [64055], groupNames: ["kvm"] };
  assert.equal(kvmCheck(named, kvmDevice(0o660, ["kvm", 107]), "kvm").state, "ok");
});

Deno.test("no /dev/kvm: fine for emulated VMs, a refusal for kvm ones", () => {
  const missing: FileFacts = { kind: "missing", path: "/dev/kvm" };
  assert.equal(kvmCheck(QEMU, missing, "qemu").state, "ok");
  const check = kvmCheck(QEMU, missing, "kvm");
  assert.equal(check.state, "problem");
  assert.match(check.fix!, /set vm_domain_type to qemu/);
  assert.ok(vmCreateRefusal([check], "kvm"));
});

Deno.test("a 0700 directory above the VM directory blocks QEMU: named, with the chmod and the setting", () => {
  const dir = vmDirFacts([
    file("/", 0o755),
    file("/tmp", 0o1777),
    file("/tmp/tmp.abc", 0o700),
    file("/tmp/tmp.abc/checkout", 0o755),
    file("/tmp/tmp.abc/checkout/data", 0o711),
    file("/tmp/tmp.abc/checkout/data/vms", 0o711),
  ]);
  const check = directoryCheck(QEMU, dir);
  assert.equal(check.state, "problem");
  assert.equal(check.blocked_at, "/tmp/tmp.abc");
  assert.match(
    check.detail,
    /cannot reach the VM directory \/tmp\/tmp.abc\/checkout\/data\/vms.*\/tmp\/tmp.abc is root:root 0700/,
  );
  assert.equal(
    check.fix,
    "chmod o+x /tmp/tmp.abc, or set vm_dir to a directory QEMU can reach",
  );
  const refusal = vmCreateRefusal([check], "qemu");
  assert.ok(refusal);
  assert.match(refusal, /\/tmp\/tmp.abc\/checkout\/data\/vms/);
  assert.match(refusal, /Fix: chmod o\+x \/tmp\/tmp.abc/);

  // 0711 on the way is enough; so is 0750 for a member of the group.
  assert.equal(directoryCheck(QEMU, OPEN_VM_DIR).state, "ok");
  const grouped = vmDirFacts([
    file("/", 0o755),
    file("/srv", 0o750, ["root", 0], ["kvm", 107]),
    file("/srv/vms", 0o711),
  ]);
  assert.equal(directoryCheck(QEMU, grouped).state, "ok");
  // The owner's bits alone count for the owner, even where others may search.
  const owned = vmDirFacts([
    file("/", 0o755),
    file("/srv", 0o011, ["libvirt-qemu", 64055]),
    file("/srv/vms", 0o711),
  ]);
  const ownerCheck = directoryCheck(QEMU, owned);
  assert.equal(ownerCheck.state, "problem");
  assert.match(ownerCheck.fix!, /^chmod u\+x \/srv,/);
});

Deno.test("root passes everything: a 0600 /dev/kvm and 0700 directories", () => {
  const checks = evaluateHost({
    domainType: "kvm",
    qemuUser: ROOT,
    kvm: kvmDevice(0o600, ["root", 0]),
    directories: [vmDirFacts([file("/", 0o755), file("/root", 0o700), file("/root/vms", 0o700)])],
  });
  assert.deepEqual(checks.map((check) => [check.check, check.state]), [
    ["qemu_user", "ok"],
    ["kvm", "ok"],
    ["vm_dir", "ok"],
  ]);
  assert.equal(vmCreateRefusal(checks, "kvm"), undefined);
});

Deno.test("what cannot be told is unknown with the reason, and never refuses a create", () => {
  const facts: HostFacts = {
    domainType: "kvm",
    qemuUser: {
      kind: "unknown",
      name: "libvirt-qemu",
      reason: "there is no user libvirt-qemu (is libvirt installed?)",
    },
    kvm: kvmDevice(0o600, ["root", 0]),
    directories: [{
      role: "image_dir",
      path: "/var/lib/dbc/images",
      resolved: "/var/lib/dbc/images",
      components: [{ kind: "unknown", path: "/", reason: "stat is not installed (coreutils)" }],
    }],
  };
  const checks = evaluateHost(facts);
  assert.deepEqual(checks.map((check) => check.state), ["unknown", "unknown", "unknown"]);
  assert.match(checks[0]!.detail, /no user libvirt-qemu/);
  assert.equal(vmCreateRefusal(checks, "kvm"), undefined);
  // A known user, but stat missing: the directory is unknown, with stat's absence as the reason.
  const dir = directoryCheck(QEMU, facts.directories[0]!);
  assert.equal(dir.state, "unknown");
  assert.match(dir.detail, /stat is not installed/);
});

Deno.test("the engine check says whether the Docker Engine API answers", () => {
  assert.equal(
    engineCheck({
      state: "available",
      socket: "/run/docker.sock",
      engine: "Podman Engine",
      version: "4.9.3",
      api_version: "1.41",
    }).state,
    "ok",
  );
  const down = engineCheck({
    state: "unavailable",
    socket: "/run/docker.sock",
    reason: "/run/docker.sock does not exist: is the engine running?",
  });
  assert.equal(down.state, "problem");
  assert.match(down.detail, /does not answer at \/run\/docker.sock/);
  assert.ok(down.fix);
});

Deno.test("parsers: qemu.conf's user, id's answer, stat's records, libvirt URIs, path components", () => {
  assert.deepEqual(parseQemuConf('#user = "libvirt-qemu"\n# group = "kvm"\n'), {});
  assert.deepEqual(parseQemuConf('user = "qemu"\nuser = "+0"  # root\ngroup = "kvm"\n'), {
    user: "+0",
    group: "kvm",
  });
  assert.deepEqual(
    parseIdOutput(
      "uid=64055(libvirt-qemu) gid=107(kvm) groups=107(kvm),64055(libvirt-qemu)\n",
    ),
    { uid: 64055, name: "libvirt-qemu", gids: [107, 64055], groupNames: ["kvm", "libvirt-qemu"] },
  );
  assert.deepEqual(parseIdOutput("uid=1000 gid=1000 groups=1000,27(sudo)"), {
    uid: 1000,
    name: null,
    gids: [1000, 27],
    groupNames: ["sudo"],
  });
  assert.equal(parseIdOutput("nonsense"), undefined);
  const records = parseStatOutput("0 0 root root 41ed /\x000 107 root kvm 21b0 /dev/kvm\x00");
  assert.deepEqual(records.get("/"), file("/", 0o755));
  assert.deepEqual(records.get("/dev/kvm"), kvmDevice(0o660, ["kvm", 107]));
  assert.deepEqual(libvirtQemuKind("qemu:///system"), { kind: "system" });
  assert.deepEqual(libvirtQemuKind("qemu+unix:///session"), { kind: "session" });
  assert.equal(libvirtQemuKind("qemu+ssh://host/system").kind, "other");
  assert.equal(libvirtQemuKind("test:///default").kind, "other");
  assert.deepEqual(pathComponents("/var//lib/./dbc/../dbc/vms/"), [
    "/",
    "/var",
    "/var/lib",
    "/var/lib/dbc",
    "/var/lib/dbc/vms",
  ]);
  assert.equal(pathComponents("data/vms"), undefined);
});

// ---------------------------------------------------------------------------
// The real gathering, on this machine

Deno.test("gathering with stat and id on this machine: a VM directory under 0700 is blocked, one under 0711 is reachable", async () => {
  const dir = await scratchDir("host-check");
  try {
    await Deno.mkdir(`${dir}/locked/vms`, { recursive: true });
    await Deno.chmod(`${dir}/locked`, 0o700);
    await Deno.mkdir(`${dir}/open/images`, { recursive: true });
    await Deno.chmod(`${dir}/open`, 0o711);
    const facts = await gatherHostFacts({
      libvirtUri: LIBVIRT_URI,
      domainType: "qemu",
      vmDir: `${dir}/locked/vms`,
      imageDir: `${dir}/open/images`,
    });
    const checks = evaluateHost(facts);
    const byName = new Map(checks.map((check) => [check.check, check]));
    const user = byName.get("qemu_user")!;
    assert.equal(user.state, "ok", `${user.detail} (is libvirt installed?)`);
    // What the machine has is its own; that it was looked at is what counts here.
    assert.notEqual(byName.get("kvm")!.state, "unknown", byName.get("kvm")!.detail);
    const vmDir = byName.get("vm_dir")!;
    assert.equal(vmDir.state, "problem", vmDir.detail);
    assert.ok(vmDir.check === "vm_dir");
    assert.equal(vmDir.blocked_at, `${dir}/locked`);
    assert.equal(vmDir.fix, `chmod o+x ${dir}/locked, or set vm_dir to a directory QEMU can reach`);
    const imageDir = byName.get("image_dir")!;
    assert.equal(imageDir.state, "ok", imageDir.detail);

    // A directory not made yet is judged by what is above it.
    const later = await gatherHostFacts({
      libvirtUri: LIBVIRT_URI,
      domainType: "qemu",
      vmDir: `${dir}/open/not/yet`,
      imageDir: `${dir}/locked/not/yet`,
    });
    const [, , laterVm, laterImage] = evaluateHost(later);
    assert.equal(laterVm!.state, "ok", laterVm!.detail);
    assert.match(laterVm!.detail, /does not exist yet/);
    assert.equal(laterImage!.state, "problem", laterImage!.detail);

    // A libvirt that runs no QEMU here: unknown, with the reason.
    const elsewhere = evaluateHost(
      await gatherHostFacts({
        libvirtUri: "qemu+ssh://other.example/system",
        domainType: "kvm",
        vmDir: `${dir}/locked/vms`,
        imageDir: `${dir}/open/images`,
      }),
    );
    assert.ok(elsewhere.every((check) => check.state === "unknown"), JSON.stringify(elsewhere));
    assert.match(elsewhere[0]!.detail, /runs QEMU on another host/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the host checker caches its report, and a refusal looks again so a fix counts at once", async () => {
  const dir = await scratchDir("host-checker");
  try {
    await Deno.mkdir(`${dir}/locked/vms`, { recursive: true });
    await Deno.chmod(`${dir}/locked`, 0o700);
    await Deno.mkdir(`${dir}/images`);
    let now = 1_000;
    let engineAsked = 0;
    const checker = new HostChecker({
      libvirtUri: LIBVIRT_URI,
      domainType: "qemu",
      vmDir: `${dir}/locked/vms`,
      imageDir: `${dir}/images`,
      engineStatus: () => {
        engineAsked++;
        return Promise.resolve({ state: "unavailable", socket: "/nowhere", reason: "not here" });
      },
      now: () => now,
      log: silentLogger,
    });
    const report = await checker.report(0);
    assert.equal(report.state, "checked");
    assert.deepEqual(report.checks.map((check) => check.check), [
      "qemu_user",
      "kvm",
      "vm_dir",
      "image_dir",
      "container_engine",
    ]);
    assert.equal(
      report.problems,
      report.checks.filter((check) => check.state === "problem").length,
    );
    assert.ok(report.problems >= 2);
    now += 5_000;
    assert.equal(await checker.report(10_000), report);
    assert.equal(engineAsked, 1);
    assert.notEqual(await checker.report(1_000), report);
    assert.equal(engineAsked, 2);

    assert.match((await checker.vmCreateRefusal())!, new RegExp(`chmod o\\+x ${dir}/locked`));
    await Deno.chmod(`${dir}/locked`, 0o711);
    assert.equal(await checker.vmCreateRefusal(), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("VM create with a VM directory under a 0700 directory is refused at once, naming it; nothing is written or defined", async () => {
  await requireLibvirt();
  const dir = await scratchDir("host-refusal");
  const prefix = testPrefix();
  await Deno.mkdir(`${dir}/locked`, { mode: 0o700 });
  await Deno.chmod(`${dir}/locked`, 0o700);
  const vmDir = `${dir}/locked/vms`;
  const checker = new HostChecker({
    libvirtUri: LIBVIRT_URI,
    domainType: "qemu",
    vmDir,
    imageDir: `${dir}/images`,
    now: Date.now,
    log: silentLogger,
  });
  const setting = openVmSetting({
    dir,
    prefix,
    vmDir,
    hostRefusal: () => checker.vmCreateRefusal(),
  });
  try {
    const started = Date.now();
    await assert.rejects(
      setting.service.create(guestRequest({
        kernel: "",
        initrd: "",
        baseDisk: "",
        cmdline: "console=ttyS0",
        marker: "",
      })),
      (error: unknown) => {
        assert.ok(error instanceof RpcError);
        assert.equal(error.code, "unavailable");
        assert.match(error.message, new RegExp(`the VM directory ${vmDir}`));
        assert.match(error.message, new RegExp(`${dir}/locked is root:root 0700`));
        assert.match(
          error.message,
          new RegExp(`Fix: chmod o\\+x ${dir}/locked, or set vm_dir to a directory QEMU can reach`),
        );
        return true;
      },
    );
    assert.ok(Date.now() - started < 10_000, "refused at once, not after libvirt tried");
    // No record, no VM directory, no GPU held, no domain: the create stopped before all of them.
    assert.deepEqual(await setting.service.list({ includeDeleted: true }), []);
    assert.deepEqual([...Deno.readDirSync(vmDir)], []);
    assert.deepEqual(setting.gpus.list(), []);
    const domains = await virsh("list", "--all", "--name");
    assert.equal(domains.code, 0, domains.stderr);
    assert.deepEqual(domains.stdout.split("\n").filter((name) => name.startsWith(prefix)), []);
    // The refusal is in the event log, as every create is.
    const [event] = setting.events.list({ limit: 1 });
    assert.equal(event?.action, "vm.create");
    assert.equal(event?.result, "error");
  } finally {
    await setting.close();
    await removeDomains(prefix);
    await Deno.remove(dir, { recursive: true });
  }
});
