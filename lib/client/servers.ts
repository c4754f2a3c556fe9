// Replica addresses as people and replicas write them: "host:port", or "[v6 host]:port". Which
// one to try next is primary-finder.ts's business.

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
