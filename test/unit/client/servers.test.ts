// Server addresses and the order in which the connector tries them.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseAddress, parseServerList, ServerRing, tryParseAddress } from '../../../lib/client/servers.js';

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

test('the ring goes round the list in order', () => {
  const ring = new ServerRing(['a:1', 'b:2', 'c:3']);
  assert.deepEqual([1, 2, 3, 4, 5].map(() => ring.next()), ['a:1', 'b:2', 'c:3', 'a:1', 'b:2']);
});

test('a hint is tried next, once; the round then continues after the hinted replica', () => {
  const ring = new ServerRing(['a:1', 'b:2', 'c:3']);
  assert.equal(ring.next(), 'a:1');
  assert.equal(ring.prefer('c:3'), true);
  assert.deepEqual([1, 2, 3].map(() => ring.next()), ['c:3', 'a:1', 'b:2']);
  assert.equal(ring.prefer('elsewhere:9'), true, 'a hinted address need not be in the list');
  assert.deepEqual([1, 2].map(() => ring.next()), ['elsewhere:9', 'c:3']);
});

test('a hint without a usable address changes nothing', () => {
  const ring = new ServerRing(['a:1', 'b:2']);
  assert.equal(ring.prefer(null), false);
  assert.equal(ring.prefer('garbage'), false);
  assert.deepEqual([1, 2].map(() => ring.next()), ['a:1', 'b:2']);
  assert.throws(() => new ServerRing([]), /at least one server/);
});
