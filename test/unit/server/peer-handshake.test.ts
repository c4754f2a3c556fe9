import { test } from 'node:test';
import assert from 'node:assert/strict';
import { handshakeMac, macEquals, newPeerNonce, parseHandshakeFrame } from '../../../lib/server/peer-handshake.js';

const fields = { cluster: 'c1', dialer: 1, acceptor: 2, dialerNonce: newPeerNonce(), acceptorNonce: newPeerNonce() };

test('both sides compute the same proof only with the same secret', () => {
  assert.ok(macEquals(handshakeMac('s'.repeat(16), 'dialer', fields), handshakeMac('s'.repeat(16), 'dialer', fields)));
  assert.ok(!macEquals(handshakeMac('s'.repeat(16), 'dialer', fields), handshakeMac('t'.repeat(16), 'dialer', fields)));
});

test('a proof cannot be reflected to the other role, or replayed with new nonces or other ids', () => {
  const secret = 'x'.repeat(16);
  const dialer = handshakeMac(secret, 'dialer', fields);
  assert.ok(!macEquals(dialer, handshakeMac(secret, 'acceptor', fields)));
  assert.ok(!macEquals(dialer, handshakeMac(secret, 'dialer', { ...fields, acceptorNonce: newPeerNonce() })));
  assert.ok(!macEquals(dialer, handshakeMac(secret, 'dialer', { ...fields, dialer: 3 })));
  assert.ok(!macEquals(dialer, handshakeMac(secret, 'dialer', { ...fields, cluster: 'c2' })));
});

test('handshake frames are shape-checked', () => {
  const nonce = newPeerNonce();
  assert.deepEqual(parseHandshakeFrame({ type: 'peer-hello', cluster: 'c', from: 1, to: 2, nonce }), { type: 'peer-hello', cluster: 'c', from: 1, to: 2, nonce });
  assert.equal(parseHandshakeFrame({ type: 'peer-hello', cluster: 'c', from: '1', to: 2, nonce }), null);
  assert.equal(parseHandshakeFrame({ type: 'peer-hello', cluster: 'c', from: 1, to: 2, nonce: 'short' }), null);
  assert.equal(parseHandshakeFrame({ type: 'peer-challenge', nonce, mac: 'zz' }), null);
  assert.equal(parseHandshakeFrame({ type: 'peer-auth', mac: 'a'.repeat(64) })?.type, 'peer-auth');
  assert.equal(parseHandshakeFrame({ type: 'prepare' }), null);
  assert.equal(parseHandshakeFrame(null), null);
  assert.equal(parseHandshakeFrame('peer-hello'), null);
  assert.equal(macEquals('a', 'ab'), false);
});
