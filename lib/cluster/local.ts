// A cluster on this one machine, for demos, tests and benchmarks: N replicas on 127.0.0.1,
// client ports P, P+1, …, peer ports P+100, P+101, …, data under <data>/replica-<id>.
//
// The config is written once, to <data>/cluster.json, when the data directory is new; that is
// also the only moment the launcher formats replica directories. On every later start the
// existing config is used as it is, and a replica whose directory has gone missing refuses to
// start (VR-NOTES D7) instead of being silently re-created empty.

import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { loadConfig, validateConfig, ConfigError, type ClusterConfig } from './config.js';
import { formatDataDir } from '../storage/replica-store.js';

export const PEER_PORT_OFFSET = 100;

export function localConfig(replicas: number, firstClientPort: number, dataDir: string): ClusterConfig {
  const value = {
    cluster: `local-${randomBytes(4).toString('hex')}`,
    secret: randomBytes(24).toString('hex'),
    replicas: Array.from({ length: replicas }, (_, id) => ({
      id,
      client: `127.0.0.1:${firstClientPort + id}`,
      peer: `127.0.0.1:${firstClientPort + PEER_PORT_OFFSET + id}`,
      data: `replica-${id}`,
    })),
  };
  return validateConfig(value, resolve(dataDir));
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
  const config = localConfig(options.replicas, options.port, dataDir);
  mkdirSync(dataDir, { recursive: true });
  for (const replica of config.replicas) await formatDataDir(replica.data, { cluster: config.cluster, replica: replica.id });
  const onDisk = { ...config, replicas: config.replicas.map((r) => ({ ...r, data: `replica-${r.id}` })) };
  writeFileSync(configPath, JSON.stringify(onDisk, null, 2) + '\n', { mode: 0o600 });
  return { config, configPath, created: true };
}
