// Mutual authentication of two replicas with the cluster secret, before any replication message
// is trusted. Each side draws a nonce and proves knowledge of the secret with an HMAC over both
// nonces, both replica ids and the side it plays, so a recorded proof cannot be replayed (new
// nonces every time) nor reflected back (the role is signed).
//
//   dialer   → acceptor: { type: 'peer-hello', cluster, from, to, nonce: nD }
//   acceptor → dialer:   { type: 'peer-challenge', nonce: nA, mac: HMAC(secret, acceptor|…|nD|nA) }
//   dialer   → acceptor: { type: 'peer-auth', mac: HMAC(secret, dialer|…|nA|nD) }
//
// After that the connection carries replication messages from the dialer to the acceptor only;
// each replica dials every other one, so every ordered pair has its own connection.

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

const NONCE_BYTES = 16;

type HandshakeFrame =
  | { type: 'peer-hello'; cluster: string; from: number; to: number; nonce: string }
  | { type: 'peer-challenge'; nonce: string; mac: string }
  | { type: 'peer-auth'; mac: string };

/** The dialer's opening frame. */
export function peerHello(cluster: string, from: number, to: number, nonce: string): HandshakeFrame {
  return { type: 'peer-hello', cluster, from, to, nonce };
}

export function newPeerNonce(): string {
  return randomBytes(NONCE_BYTES).toString('hex');
}

export function handshakeMac(
  secret: string,
  role: 'acceptor' | 'dialer',
  fields: { cluster: string; dialer: number; acceptor: number; dialerNonce: string; acceptorNonce: string },
): string {
  const text = ['chatplus-peer-v1', role, fields.cluster, fields.dialer, fields.acceptor, fields.dialerNonce, fields.acceptorNonce].join('\n');
  return createHmac('sha256', secret).update(text).digest('hex');
}

export function macEquals(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

const HEX_NONCE = /^[0-9a-f]{32}$/;
const HEX_MAC = /^[0-9a-f]{64}$/;

/** Shape check for handshake frames from an unauthenticated socket; null if malformed. */
export function parseHandshakeFrame(value: unknown): HandshakeFrame | null {
  if (typeof value !== 'object' || value === null) return null;
  const v = value as Record<string, unknown>;
  switch (v.type) {
    case 'peer-hello':
      return typeof v.cluster === 'string' && Number.isInteger(v.from) && Number.isInteger(v.to) &&
        typeof v.nonce === 'string' && HEX_NONCE.test(v.nonce)
        ? peerHello(v.cluster, v.from as number, v.to as number, v.nonce)
        : null;
    case 'peer-challenge':
      return typeof v.nonce === 'string' && HEX_NONCE.test(v.nonce) && typeof v.mac === 'string' && HEX_MAC.test(v.mac)
        ? { type: 'peer-challenge', nonce: v.nonce, mac: v.mac }
        : null;
    case 'peer-auth':
      return typeof v.mac === 'string' && HEX_MAC.test(v.mac) ? { type: 'peer-auth', mac: v.mac } : null;
    default:
      return null;
  }
}
