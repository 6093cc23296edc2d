import { InvalidArgumentError } from 'commander';

const MULTIPLIERS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** Parses a byte count: 2097152, 2M, 2MiB, 512k (binary multiples, as qemu-img and nbdcopy read them). */
export function parseBytes(text: string): number {
  const match = /^(\d+)\s*([kmg]?)(?:i?b)?$/i.exec(text.trim());
  if (!match) throw new InvalidArgumentError(`not a size: ${JSON.stringify(text)} (write bytes, or use K, M or G)`);
  return Number(match[1]) * MULTIPLIERS[match[2]!.toLowerCase()]!;
}

/** A whole number within bounds, for commander options. */
export function boundedInteger(min: number, max: number, what: string): (text: string) => number {
  return (text) => {
    const value = Number(text);
    if (!Number.isInteger(value) || value < min || value > max) throw new InvalidArgumentError(`${what} is a whole number from ${min} to ${max}`);
    return value;
  };
}
