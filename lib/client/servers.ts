// Which replica to try next. The connector knows a list of client addresses (from --server or
// its caller) and learns others from NOT_PRIMARY hints. It goes round the list in order, so a
// dead replica costs one attempt per round, and it jumps to a hinted address when it has one.

import assert from 'node:assert/strict';

interface Address {
  host: string;
  port: number;
}

/** Parses "host:port" or "[v6 host]:port"; null if the text is neither. */
export function tryParseAddress(text: string): Address | null {
  const match = /^(?:\[([^\]]+)\]|([^:\s]+)):(\d{1,5})$/.exec(text);
  if (!match) return null;
  const port = Number(match[3]);
  if (port < 1 || port > 65535) return null;
  return { host: (match[1] ?? match[2])!, port };
}

/** As tryParseAddress, for text from a person: throws a TypeError naming the bad text. */
export function parseAddress(text: string): Address {
  const address = tryParseAddress(text);
  if (address === null) throw new TypeError(`bad server address '${text}': expected host:port, e.g. 127.0.0.1:7001`);
  return address;
}

/** Parses a comma-separated list of addresses, as --server takes it. */
export function parseServerList(text: string): string[] {
  const addresses = text.split(',').map((part) => part.trim());
  for (const address of addresses) parseAddress(address);
  return addresses;
}

export class ServerRing {
  /** Index in `addresses` of the last address handed out; -1 before the first. */
  private position = -1;
  /** An address a hint told us to try next, tried once before the round continues. */
  private preferred: string | null = null;

  constructor(private readonly addresses: readonly string[]) {
    assert.ok(addresses.length > 0, 'a connector needs at least one server address');
    for (const address of addresses) parseAddress(address);
  }

  /** The address to connect to now. */
  next(): string {
    const preferred = this.preferred;
    if (preferred !== null) {
      this.preferred = null;
      // Continue the round after the hinted replica, so that if it dies we move on from there.
      const index = this.addresses.indexOf(preferred);
      if (index >= 0) this.position = index;
      return preferred;
    }
    this.position = (this.position + 1) % this.addresses.length;
    return this.addresses[this.position]!;
  }

  /** Makes `address` the next one tried. Returns false (and changes nothing) if it is not a
   *  usable address, so the caller knows it must go round the list instead. */
  prefer(address: string | null): boolean {
    if (address === null || tryParseAddress(address) === null) return false;
    this.preferred = address;
    return true;
  }
}
