import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseHostPort, validateConfig } from '../../../lib/server/config.js';
import { localConfig } from '../../../lib/cluster/local.js';

const replicas = (n: number) => Array.from({ length: n }, (_, id) => ({ id, client: `127.0.0.1:${7001 + id}`, peer: `127.0.0.1:${7101 + id}`, data: `r${id}` }));
const valid = (overrides: Record<string, unknown> = {}) => ({ cluster: 'c', secret: 'x'.repeat(16), replicas: replicas(3), ...overrides });

function rejects(value: unknown, pattern: RegExp) {
  assert.throws(() => validateConfig(value, '/base'), (error: unknown) => error instanceof ConfigError && pattern.test(error.message));
}

test('a valid config resolves data dirs against the config directory and sorts replicas', () => {
  const config = validateConfig(valid({ replicas: replicas(3).reverse() }), '/base');
  assert.deepEqual(config.replicas.map((r) => r.id), [0, 1, 2]);
  assert.equal(config.replicas[0]!.data, '/base/r0');
  assert.equal(config.tickMs, 10);
  assert.equal(config.clientConnectionsMax, 1000);
  assert.equal(validateConfig(valid({ clientConnectionsMax: 50 }), '/base').clientConnectionsMax, 50);
});

test('every mistake is named', () => {
  rejects([], /JSON object/);
  rejects(valid({ secret: undefined }), /secret is missing/);
  rejects(valid({ secret: 'short' }), /at least 16/);
  rejects(valid({ replicas: replicas(2) }), /1, 3, 5 or 7/);
  rejects(valid({ replicas: [...replicas(2), { ...replicas(1)[0]!, client: '127.0.0.1:9999', peer: '127.0.0.1:9998', data: 'z' }] }), /appears twice/);
  rejects(valid({ replicas: replicas(3).map((r) => (r.id === 2 ? { ...r, id: 5 } : r)) }), /must be 0..2/);
  rejects(valid({ replicas: replicas(3).map((r) => (r.id === 2 ? { ...r, client: '127.0.0.1:7001' } : r)) }), /also used by replica 0 client/);
  rejects(valid({ replicas: replicas(3).map((r) => (r.id === 1 ? { ...r, data: 'r0' } : r)) }), /data .* also used/);
  rejects(valid({ replicas: replicas(3).map((r) => (r.id === 1 ? { ...r, peer: 'nope' } : r)) }), /replicas\[1\]\.peer must be host:port/);
  rejects(valid({ replicas: replicas(3).map((r) => (r.id === 1 ? { ...r, colour: 'red' } : r)) }), /replicas\[1\]\.colour is not a known field/);
  rejects(valid({ tickMs: 0 }), /tickMs/);
  rejects(valid({ clientConnectionsMax: 0 }), /clientConnectionsMax must be an integer 1\.\.1000000/);
  rejects(valid({ clientConnectionsMax: 2.5 }), /clientConnectionsMax/);
  rejects(valid({ extra: 1 }), /"extra" is not a known field/);
});

test('host:port parsing', () => {
  assert.deepEqual(parseHostPort('127.0.0.1:7001'), { host: '127.0.0.1', port: 7001 });
  assert.deepEqual(parseHostPort('[::1]:80'), { host: '::1', port: 80 });
  assert.equal(parseHostPort('host:0'), null);
  assert.equal(parseHostPort('host:70000'), null);
  assert.equal(parseHostPort('host'), null);
});

test('a local config lays replicas out on the given ports with a fresh secret', () => {
  const a = localConfig('/data', [7001, 7002, 7003, 7004, 7005], [7101, 7102, 7103, 7104, 7105]);
  assert.deepEqual(a.replicas.map((r) => r.client), ['127.0.0.1:7001', '127.0.0.1:7002', '127.0.0.1:7003', '127.0.0.1:7004', '127.0.0.1:7005']);
  assert.equal(a.replicas[4]!.peer, '127.0.0.1:7105');
  assert.equal(a.replicas[2]!.data, '/data/replica-2');
  assert.notEqual(a.secret, localConfig('/data', [7001], [7101]).secret);
});
