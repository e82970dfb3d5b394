/**
 * PCI addresses as nvidia-smi prints them (`00000000:18:00.0`: domain, bus,
 * slot, function) turned into the form libvirt's `<address>` takes.
 */

export type PciAddress = {
  /** Up to 32 bits (VMD domains go past 0xffff). */
  domain: number;
  bus: number;
  slot: number;
  function: number;
};

const BUS_ID = /^([0-9A-Fa-f]{4,8}):([0-9A-Fa-f]{2}):([0-9A-Fa-f]{2})\.([0-7])$/;

/** Parses `DDDDDDDD:BB:SS.F` (4 to 8 domain digits); `undefined` when it is not one. */
export function parsePciBusId(text: string): PciAddress | undefined {
  const match = BUS_ID.exec(text.trim());
  if (!match) return undefined;
  const slot = parseInt(match[3]!, 16);
  // A PCI slot (device number) has 5 bits.
  if (slot > 0x1f) return undefined;
  return {
    domain: parseInt(match[1]!, 16),
    bus: parseInt(match[2]!, 16),
    slot,
    function: parseInt(match[4]!, 10),
  };
}

const hex = (value: number, digits: number) => `0x${value.toString(16).padStart(digits, "0")}`;

/** The attributes of libvirt's `<address type='pci'>` for `address`. */
export function libvirtPciAttributes(address: PciAddress): Record<string, string> {
  return {
    domain: hex(address.domain, 4),
    bus: hex(address.bus, 2),
    slot: hex(address.slot, 2),
    function: hex(address.function, 1),
  };
}
