// Nothing a replica keeps lets anyone in (docs/security.md): after many logins — right and wrong
// passwords, resumed sessions, across failovers — no password, nonce, proof, session token or
// client secret appears in any file under the cluster's directory (data, snapshots, logs), and
// every file and folder there is owner-only. The client speaks the protocol frame by frame, so
// the test knows every secret that crossed the wire and can look for each one on disk.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { makeVerifier, newNonce } from '../../lib/auth/scram.js';
import { newClientSecret } from '../../lib/auth/client-secret.js';
import { newToken } from '../../lib/auth/tokens.js';
import { prepareLogin } from '../../lib/client/login.js';
import { VERIFIER_ITERATIONS_MIN } from '../../lib/chat/limits.js';
import type { LoginStartResult } from '../../lib/protocol/messages.js';
import { TestCluster } from './harness.js';
import { RawClient } from './raw-client.js';

const NAME = 'keeper';
const PASSWORD = 'correct horse battery staple';
const LOGINS = 12;
const FAILOVER_EVERY = 4;

let cluster: TestCluster | undefined;

after(async () => {
  await cluster?.stop();
});

/** One client identity, speaking to whichever replica is primary. */
class Client {
  readonly clientId = randomBytes(16).toString('hex');
  readonly clientSecret = newClientSecret();
  private requestNumber = 0;
  private raw: RawClient | null = null;

  constructor(private readonly cluster: TestCluster) {}

  async connect(): Promise<void> {
    this.raw?.close();
    const primary = await this.cluster.waitForPrimary();
    this.raw = await RawClient.open(this.cluster.addresses[primary]!);
  }

  request(frame: Record<string, unknown>): Promise<Record<string, unknown>> {
    assert.ok(this.raw !== null, 'connect first');
    return this.raw.request(frame);
  }

  call(command: Record<string, unknown>): Promise<Record<string, unknown>> {
    this.requestNumber += 1;
    return this.request({ type: 'call', clientId: this.clientId, clientSecret: this.clientSecret, requestNumber: this.requestNumber, command });
  }

  close(): void {
    this.raw?.close();
  }
}

const ok = (reply: Record<string, unknown>, what: string): Record<string, unknown> => {
  assert.equal(reply.ok, true, `${what}: ${JSON.stringify(reply)}`);
  return reply.result as Record<string, unknown>;
};

/** Every file and folder below `root`. */
function walk(root: string): Array<{ path: string; isDirectory: boolean; mode: number }> {
  return readdirSync(root).flatMap((name) => {
    const path = join(root, name);
    const stat = statSync(path);
    const entry = { path, isDirectory: stat.isDirectory(), mode: stat.mode & 0o777 };
    return stat.isDirectory() ? [entry, ...walk(path)] : [entry];
  });
}

test('after logins across failovers, no password, nonce, proof, token or client secret is on disk, and every file is owner-only', async () => {
  cluster = await TestCluster.start(3);
  const client = new Client(cluster);
  await client.connect();
  const firstView = cluster.statuses()[await cluster.waitForPrimary()]!.view;
  ok(await client.request({ type: 'register', clientId: client.clientId, clientSecret: client.clientSecret }), 'register');
  ok(await client.call({ kind: 'create', name: NAME, verifier: makeVerifier(PASSWORD, VERIFIER_ITERATIONS_MIN) }), 'create');

  /** Every secret that crossed the wire, each of which must be nowhere on disk. */
  const secrets = new Map<string, string>([['password', PASSWORD], ['client secret', client.clientSecret]]);
  for (let i = 1; i <= LOGINS; i++) {
    if (i % FAILOVER_EVERY === 0) {
      // Kill the primary mid-run and carry on with the next one; bring the old one back.
      const primary = await cluster.waitForPrimary();
      await cluster.kill(primary);
      await client.connect();
      await cluster.restart(primary);
    }
    const wrong = i % 3 === 0;
    const clientNonce = newNonce();
    const challenge = ok(await client.request({ type: 'login-start', name: NAME, clientNonce }), 'login-start') as unknown as LoginStartResult;
    const token = newToken();
    const attempt = prepareLogin(NAME, wrong ? `${PASSWORD}?` : PASSWORD, token, clientNonce, challenge);
    const reply = await client.call(attempt.command);
    if (wrong) assert.equal((reply.error as { code: string }).code, 'AUTH_FAILED', JSON.stringify(reply));
    else ok(reply, `login ${i}`);
    secrets.set(`nonce of login ${i}`, challenge.nonce);
    secrets.set(`proof of login ${i}`, attempt.command.proof);
    secrets.set(`token of login ${i}`, token);
    if (!wrong) ok(await client.request({ type: 'resume', token, lastSeen: 0 }), `resume ${i}`);
  }
  client.close();
  const lastView = cluster.statuses()[await cluster.waitForPrimary()]!.view;
  assert.ok(lastView >= firstView + Math.floor(LOGINS / FAILOVER_EVERY), `expected a failover every ${FAILOVER_EVERY} logins: views ${firstView} → ${lastView}`);

  // Every replica, the restarted ones included, has everything before the files are read.
  const live = cluster.statuses().filter((status) => status !== null);
  const commit = Math.max(...live.map((status) => status!.commit));
  await cluster.waitForCatchUp([0, 1, 2], commit);
  await cluster.launcher.stopAll(2000);

  const entries = walk(cluster.dir);
  const files = entries.filter((entry) => !entry.isDirectory);
  assert.ok(files.some((entry) => entry.path.endsWith('.seg')), `expected segment files under ${cluster.dir}`);
  assert.ok(files.some((entry) => entry.path.endsWith('.log')), `expected the replicas' log files under ${cluster.dir}`);
  const found: string[] = [];
  for (const { path } of files) {
    const text = readFileSync(path, 'latin1');
    for (const [what, secret] of secrets) if (text.includes(secret)) found.push(`${what} in ${path}`);
  }
  assert.deepEqual(found, [], 'secrets at rest');
  const notOwnerOnly = entries
    .filter((entry) => entry.mode !== (entry.isDirectory ? 0o700 : 0o600))
    .map((entry) => `${entry.path} ${entry.mode.toString(8)}`);
  assert.deepEqual(notOwnerOnly, [], 'files and folders that are not owner-only');
});
