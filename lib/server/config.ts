// The cluster configuration file: one JSON document, the same on every machine, that names every
// replica (id, peer address, client address, data directory) and the secret replicas use to
// recognise each other. Validation is strict and every complaint names the field at fault,
// because a typo here is what an operator at 3 a.m. will have made.

import { readFileSync } from 'node:fs';
import { isAbsolute, resolve, dirname } from 'node:path';

interface ReplicaAddress {
  id: number;
  /** host:port the replica listens on for other replicas. */
  peer: string;
  /** host:port the replica listens on for clients. */
  client: string;
  /** Data directory, resolved against the config file's directory. */
  data: string;
}

export interface ClusterConfig {
  /** A name for this cluster, written into each data directory at format time so that a replica
   *  never opens another cluster's data by mistake. */
  cluster: string;
  /** Shared secret for the peer handshake (HMAC); at least SECRET_LENGTH_MIN characters. */
  secret: string;
  replicas: ReplicaAddress[];
  /** Milliseconds between ticks of the replication core (all its timeouts count ticks). */
  tickMs: number;
  /** Client connections a replica holds at once; past it a new one is refused
   *  (TOO_MANY_CONNECTIONS). The replica lowers it further to stay below its descriptor limit. */
  clientConnectionsMax: number;
}

const SECRET_LENGTH_MIN = 16;
const REPLICA_COUNTS = [1, 3, 5, 7] as const;
const TICK_MS_DEFAULT = 10;
/** Room for the clients of a busy deployment, while each costs at most a 64 KiB frame being
 *  received and a 4 MiB send backlog: well under the 1,024 descriptors many systems allow a
 *  process by default, and a bound on the memory strangers can make a replica hold. */
export const CLIENT_CONNECTIONS_MAX_DEFAULT = 1000;
const CLIENT_CONNECTIONS_MAX_LIMIT = 1_000_000;

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

const HOST_PORT = /^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):(\d{1,5})$/;

/** Splits "host:port", or returns null if it is not one. */
export function parseHostPort(text: string): { host: string; port: number } | null {
  const match = HOST_PORT.exec(text);
  if (!match) return null;
  const port = Number(match[2]);
  if (port < 1 || port > 65535) return null;
  return { host: match[1]!.replace(/^\[|\]$/g, ''), port };
}

function fail(message: string): never {
  throw new ConfigError(message);
}

function expectString(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0) fail(`${field} must be a non-empty string`);
  return value;
}

function parseReplica(value: unknown, index: number, baseDir: string): ReplicaAddress {
  const field = `replicas[${index}]`;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(`${field} must be an object`);
  const raw = value as Record<string, unknown>;
  for (const key of Object.keys(raw)) {
    if (!['id', 'peer', 'client', 'data'].includes(key)) fail(`${field}.${key} is not a known field`);
  }
  if (!Number.isInteger(raw.id)) fail(`${field}.id must be an integer`);
  const peer = expectString(raw.peer, `${field}.peer`);
  const client = expectString(raw.client, `${field}.client`);
  if (!parseHostPort(peer)) fail(`${field}.peer must be host:port, got "${peer}"`);
  if (!parseHostPort(client)) fail(`${field}.client must be host:port, got "${client}"`);
  const data = expectString(raw.data, `${field}.data`);
  return { id: raw.id as number, peer, client, data: isAbsolute(data) ? data : resolve(baseDir, data) };
}

/** Checks a parsed JSON value and returns a typed config. `baseDir` resolves relative data dirs. */
export function validateConfig(value: unknown, baseDir: string): ClusterConfig {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('the config must be a JSON object');
  const raw = value as Record<string, unknown>;
  for (const key of Object.keys(raw)) {
    if (!['cluster', 'secret', 'replicas', 'tickMs', 'clientConnectionsMax'].includes(key)) fail(`"${key}" is not a known field`);
  }
  const cluster = expectString(raw.cluster, 'cluster');
  if (typeof raw.secret !== 'string') fail('secret is missing: replicas authenticate each other with it');
  if (raw.secret.length < SECRET_LENGTH_MIN) fail(`secret must be at least ${SECRET_LENGTH_MIN} characters`);
  if (!Array.isArray(raw.replicas)) fail('replicas must be an array');
  const replicas = raw.replicas.map((r, i) => parseReplica(r, i, baseDir));
  if (!(REPLICA_COUNTS as readonly number[]).includes(replicas.length)) {
    fail(`replicas must list 1, 3, 5 or 7 replicas (2f+1), got ${replicas.length}`);
  }
  checkUnique(replicas);
  const tickMs = raw.tickMs ?? TICK_MS_DEFAULT;
  if (!Number.isInteger(tickMs) || (tickMs as number) < 1 || (tickMs as number) > 1000) fail('tickMs must be an integer 1..1000');
  const clientConnectionsMax = raw.clientConnectionsMax ?? CLIENT_CONNECTIONS_MAX_DEFAULT;
  if (!Number.isInteger(clientConnectionsMax) || (clientConnectionsMax as number) < 1 || (clientConnectionsMax as number) > CLIENT_CONNECTIONS_MAX_LIMIT) {
    fail(`clientConnectionsMax must be an integer 1..${CLIENT_CONNECTIONS_MAX_LIMIT}`);
  }
  return { cluster, secret: raw.secret, replicas: [...replicas].sort((a, b) => a.id - b.id), tickMs: tickMs as number, clientConnectionsMax: clientConnectionsMax as number };
}

/** Ids must be exactly 0..N-1 (the primary of view v is replica v mod N), and no two replicas may
 *  share an address or a data directory. */
function checkUnique(replicas: ReplicaAddress[]): void {
  const ids = replicas.map((r) => r.id).sort((a, b) => a - b);
  ids.forEach((id, i) => {
    if (id === ids[i - 1]) fail(`replica id ${id} appears twice`);
  });
  ids.forEach((id, i) => {
    if (id !== i) fail(`replica ids must be 0..${replicas.length - 1}, found ${ids.join(', ')}`);
  });
  const seen = new Map<string, string>();
  for (const r of replicas) {
    for (const [what, key] of [['peer', r.peer], ['client', r.client], ['data', r.data]] as const) {
      const id = what === 'data' ? `data:${key}` : `addr:${key}`;
      const previous = seen.get(id);
      if (previous) fail(`replica ${r.id} ${what} "${key}" is also used by ${previous}`);
      seen.set(id, `replica ${r.id} ${what}`);
    }
  }
}

export function loadConfig(path: string): ClusterConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    fail(`cannot read config ${path}: ${(error as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    fail(`config ${path} is not valid JSON: ${(error as Error).message}`);
  }
  return validateConfig(value, dirname(resolve(path)));
}

export function replicaById(config: ClusterConfig, id: number): ReplicaAddress {
  const replica = config.replicas.find((r) => r.id === id);
  if (!replica) fail(`replica ${id} is not in the config (ids are 0..${config.replicas.length - 1})`);
  return replica;
}
