/**
 * The user-data of a check VM: a `#!/bin/sh` script, which cloud-init runs
 * once at first boot on real images (and the test guest's /init runs as
 * cloud-init would). It prints what the guest sees of its machine to the
 * serial console, one `DBC-CHECK <key>=<value>` line per fact between
 * `DBC-CHECK-BEGIN` and `DBC-CHECK-END`, where the node reads it back from the
 * VM's console log (console_facts.ts).
 *
 * POSIX sh that busybox runs too. It writes to /dev/ttyS0 itself, because
 * cloud-init sends a script's own output to its log file, not the console;
 * /dev/console where there is no serial port.
 *
 * Keys: `nproc`, `cpu_model` (/proc/cpuinfo "model name"), `memtotal_kb`,
 * `block.<disk>` (512-byte sectors, /sys/block) or, without /sys/block,
 * `partition_kb.<name>` (/proc/partitions), `pci.<address>` (`<vendor>
 * <device> <class>` as sysfs writes them), `nvidia_smi` (one line of
 * `nvidia-smi --query-gpu=name,memory.total --format=csv,noheader` each).
 */

/** The script; `\${` and `\\` below are the template literal's escapes for `${` and `\`. */
export const CHECK_SCRIPT = `#!/bin/sh
# DBC check VM: what this guest sees of its machine, on the serial console for the validator.
out=/dev/ttyS0
if ! { printf '\\n' >"$out"; } 2>/dev/null; then out=/dev/console; fi
report() {
  echo "DBC-CHECK-BEGIN"
  echo "DBC-CHECK nproc=$(nproc 2>/dev/null || grep -c '^processor' /proc/cpuinfo)"
  echo "DBC-CHECK cpu_model=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -n 1)"
  echo "DBC-CHECK memtotal_kb=$(sed -n 's/^MemTotal:[[:space:]]*\\([0-9][0-9]*\\).*/\\1/p' /proc/meminfo)"
  disks=0
  for dev in /sys/block/*; do
    [ -r "$dev/size" ] || continue
    disks=$((disks + 1))
    echo "DBC-CHECK block.\${dev##*/}=$(cat "$dev/size")"
  done
  if [ "$disks" = 0 ] && [ -r /proc/partitions ]; then
    awk 'NR > 2 && NF == 4 { print "DBC-CHECK partition_kb." $4 "=" $3 }' /proc/partitions
  fi
  for pci in /sys/bus/pci/devices/*; do
    [ -r "$pci/class" ] || continue
    echo "DBC-CHECK pci.\${pci##*/}=$(cat "$pci/vendor") $(cat "$pci/device") $(cat "$pci/class")"
  done
  if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null |
      while IFS= read -r line; do echo "DBC-CHECK nvidia_smi=$line"; done
  fi
  echo "DBC-CHECK-END"
}
report >"$out" 2>/dev/null
`;
