// Server addresses as --server and the replicas write them. The order in which the connector
// tries them is primary-finder.test.ts's.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseAddress, parseServerList, tryParseAddress } from '../../../lib/client/servers.js';

test('addresses: host:port and [v6]:port; anything else is refused by name', () => {
  assert.deepEqual(parseAddress('127.0.0.1:7001'), { host: '127.0.0.1', port: 7001 });
  assert.deepEqual(parseAddress('replica-3.example:65535'), { host: 'replica-3.example', port: 65535 });
  assert.deepEqual(parseAddress('[::1]:7001'), { host: '::1', port: 7001 });
  for (const bad of ['', 'localhost', ':7001', 'host:', 'host:0', 'host:65536', 'host:70000', '::1:7001', 'a b:1']) {
    assert.equal(tryParseAddress(bad), null, bad);
  }
  assert.throws(() => parseAddress('nope'), /bad server address 'nope'/);
});

test('--server lists are comma-separated, spaces allowed', () => {
  assert.deepEqual(parseServerList('127.0.0.1:7001, 127.0.0.1:7002'), ['127.0.0.1:7001', '127.0.0.1:7002']);
  assert.throws(() => parseServerList('127.0.0.1:7001,'), /bad server address ''/);
});
