// A cluster on this one machine, for demos, tests and benchmarks: N replicas on 127.0.0.1,
// client ports P, P+1, …, peer ports P+100, P+101, …, data under <data>/replica-<id>.
//
// The config is written once, to <data>/cluster.json, when the data directory is new; that is
// also the only moment the launcher formats replica directories. On every later start the
// existing config is used as it is, and a replica whose directory has gone missing refuses to
// start (disk rule D7, docs/architecture.md) instead of being silently re-created empty.

import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { loadConfig, validateConfig, ConfigError, type ClusterConfig } from '../server/config.js';
import { formatDataDir, OWNER_ONLY_DIRECTORY_MODE, OWNER_ONLY_FILE_MODE } from '../storage/replica-store.js';

const PEER_PORT_OFFSET = 100;

/** The config of a cluster on 127.0.0.1 with these ports (replica i gets clientPorts[i] and
 *  peerPorts[i]) and data under <dataDir>/replica-<id>, with a fresh random name and secret. */
export function localConfig(dataDir: string, clientPorts: number[], peerPorts: number[], name = 'local'): ClusterConfig {
  return validateConfig(rawLocalConfig(clientPorts, peerPorts, name), resolve(dataDir));
}

function rawLocalConfig(clientPorts: number[], peerPorts: number[], name: string) {
  return {
    cluster: `${name}-${randomBytes(4).toString('hex')}`,
    secret: randomBytes(24).toString('hex'),
    replicas: clientPorts.map((client, id) => ({
      id,
      client: `127.0.0.1:${client}`,
      peer: `127.0.0.1:${peerPorts[id]}`,
      data: `replica-${id}`,
    })),
  };
}

/** Writes <dataDir>/cluster.json (mode 0600: it holds the secret) for a new local cluster, with
 *  data directories relative to it, in a folder only its owner can enter (0700: it holds every
 *  replica's data and log). Formatting the replicas is a separate, explicit step. */
export function writeLocalConfig(dataDir: string, clientPorts: number[], peerPorts: number[], name = 'local'): { config: ClusterConfig; configPath: string } {
  const raw = rawLocalConfig(clientPorts, peerPorts, name);
  mkdirSync(dataDir, { recursive: true, mode: OWNER_ONLY_DIRECTORY_MODE });
  const configPath = join(dataDir, 'cluster.json');
  // 'wx': the mode given applies only to a file this call creates, so never write over one.
  writeFileSync(configPath, JSON.stringify(raw, null, 2) + '\n', { mode: OWNER_ONLY_FILE_MODE, flag: 'wx' });
  return { config: validateConfig(raw, resolve(dataDir)), configPath };
}

/** The explicit format step (disk rule D7) for every replica of a new cluster. */
export async function formatLocalCluster(config: ClusterConfig): Promise<void> {
  for (const replica of config.replicas) await formatDataDir(replica.data, { cluster: config.cluster, replica: replica.id });
}

/** Loads <dataDir>/cluster.json, or creates it and formats every replica if the cluster is new. */
export async function prepareLocalCluster(options: { replicas: number; port: number; dataDir: string }): Promise<{ config: ClusterConfig; configPath: string; created: boolean }> {
  const dataDir = resolve(options.dataDir);
  const configPath = join(dataDir, 'cluster.json');
  if (existsSync(configPath)) {
    const config = loadConfig(configPath);
    if (config.replicas.length !== options.replicas) {
      throw new ConfigError(`${configPath} describes ${config.replicas.length} replicas, not ${options.replicas}; use --replicas ${config.replicas.length} or another --data`);
    }
    return { config, configPath, created: false };
  }
  const ports = (offset: number) => Array.from({ length: options.replicas }, (_, id) => options.port + offset + id);
  const { config } = writeLocalConfig(dataDir, ports(0), ports(PEER_PORT_OFFSET));
  await formatLocalCluster(config);
  return { config, configPath, created: true };
}
