// A client id belongs to whoever registered it, and registrations cannot evict clients in use
// (docs/architecture.md, "Client table and exactly-once"). Three replicas run in this process
// (ReplicaServer, real sockets and disks) so that the client table can be made small; the
// attacker speaks the protocol frame by frame, as nothing but a raw client would.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatLocalCluster, writeLocalConfig } from '../../lib/cluster/local.js';
import { ReplicaServer } from '../../lib/server/replica-server.js';
import { Connector } from '../../lib/client/connector.js';
import { ClientError } from '../../lib/client/errors.js';
import { makeVerifier } from '../../lib/auth/scram.js';
import { freePorts, waitFor } from './harness.js';
import { RawClient } from './raw-client.js';

const REPLICAS = 3;
/** Small enough that a flood of registrations overflows it many times over. */
const CLIENT_TABLE_MAX = 8;

let dir: string;
let addresses: string[];
const servers: ReplicaServer[] = [];
/** Every log line the replicas printed, at debug level. */
const logLines: string[] = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'chatplus-ownership-'));
  const ports = await freePorts(2 * REPLICAS);
  const { config } = writeLocalConfig(dir, ports.slice(0, REPLICAS), ports.slice(REPLICAS), 'ownership');
  await formatLocalCluster(config);
  addresses = config.replicas.map((replica) => replica.client);
  for (let id = 0; id < REPLICAS; id++) {
    const server = new ReplicaServer({ config, id, logLevel: 'debug', writeLog: (line) => logLines.push(line), replicaOptions: { clientTableMax: CLIENT_TABLE_MAX } });
    servers.push(server);
    await server.start();
  }
});

after(async () => {
  for (const server of servers) await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** The primary's client address, once one replica is primary in status normal. */
async function primaryAddress(): Promise<string> {
  const primary = await waitFor('a primary', () => servers.find((s) => s.status().isPrimary && s.status().status === 'normal'), 20_000);
  return addresses[primary.status().replica]!;
}

const newId = () => randomBytes(16).toString('hex');
const newSecret = () => randomBytes(32).toString('hex');
const create = (name: string) => ({ kind: 'create', name, verifier: makeVerifier(`pw-${name}`) });
const code = (reply: Record<string, unknown>) => (reply.ok ? 'ok' : (reply.error as { code: string }).code);

/** Every file under `root`, as text. */
function filesUnder(root: string): string[] {
  return readdirSync(root).flatMap((name) => {
    const path = join(root, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [readFileSync(path, 'latin1')];
  });
}

test('a stolen client id with a wrong secret gets nothing and runs nothing; the secret is never logged or stored', async () => {
  const primary = await primaryAddress();
  const clientId = newId();
  const secret = newSecret();
  const victim = await RawClient.open(primary);
  assert.equal(code(await victim.request({ type: 'register', clientId, clientSecret: secret })), 'ok');
  const first = await victim.request({ type: 'call', clientId, clientSecret: secret, requestNumber: 1, command: create('victim-one') });
  assert.equal(code(first), 'ok');

  const thiefSecret = newSecret();
  const thief = await RawClient.open(primary);
  const attempts = [
    { type: 'register', clientId, clientSecret: thiefSecret }, // take the id over
    { type: 'call', clientId, clientSecret: thiefSecret, requestNumber: 1, command: create('victim-one') }, // the saved reply
    { type: 'call', clientId, clientSecret: thiefSecret, requestNumber: 2, command: create('thief-probe') }, // run under the id
  ];
  for (const attempt of attempts) assert.equal(code(await thief.request(attempt)), 'NOT_OWNER', JSON.stringify(attempt));
  thief.close();

  // The victim's next number is still free (not STALE_REQUEST), its answer its own, and the
  // thief's command never ran: its name is free.
  const second = await victim.request({ type: 'call', clientId, clientSecret: secret, requestNumber: 2, command: create('victim-two') });
  assert.deepEqual(second.result, { name: 'victim-two' });
  const probe = await victim.request({ type: 'call', clientId, clientSecret: secret, requestNumber: 3, command: create('thief-probe') });
  assert.equal(code(probe), 'ok', 'thief-probe was never created');
  victim.close();

  for (const hidden of [secret, thiefSecret]) {
    assert.ok(!logLines.some((line) => line.includes(hidden)), 'a client secret in a log line');
    assert.ok(!filesUnder(dir).some((text) => text.includes(hidden)), 'a client secret on disk');
  }
});

test('a flood of registrations leaves an established client working; a table full of clients in use refuses registers', async () => {
  const primary = await primaryAddress();
  const established = new Connector({ servers: addresses });
  assert.ok((await established.createAccount('steady', 'pw-steady')).ok);
  const clientId = established.status().clientId;

  const flood = await RawClient.open(primary);
  for (let i = 0; i < 5 * CLIENT_TABLE_MAX; i++) {
    assert.equal(code(await flood.request({ type: 'register', clientId: newId(), clientSecret: newSecret() })), 'ok', `flood register ${i}`);
  }
  assert.ok((await established.login('steady', 'pw-steady')).ok, 'still served after the flood');
  assert.equal(established.status().clientId, clientId, 'under the same client id: never evicted');

  // Fill the rows the flood holds with clients that make a call, until nobody is left to evict.
  for (let filled = 0; ; filled++) {
    const id = newId();
    const clientSecret = newSecret();
    const registered = code(await flood.request({ type: 'register', clientId: id, clientSecret }));
    if (registered === 'CLIENT_TABLE_FULL') break;
    assert.equal(registered, 'ok');
    assert.ok(filled < CLIENT_TABLE_MAX - 1, 'registers are refused once every row has made a call');
    assert.equal(code(await flood.request({ type: 'call', clientId: id, clientSecret, requestNumber: 1, command: { kind: 'list', pattern: '*', page: 1 } })), 'NOT_LOGGED_IN');
  }
  flood.close();
  const newcomer = new Connector({ servers: addresses });
  await assert.rejects(newcomer.call({ kind: 'list', pattern: '*', page: 1 }), (error) => error instanceof ClientError && error.code === 'CLIENT_TABLE_FULL');
  await newcomer.close();
  const list = await established.call({ kind: 'list', pattern: 'steady', page: 1 });
  assert.ok(list.ok && list.result.names.includes('steady'), 'the established client is still served');
  assert.equal(established.status().clientId, clientId);
  await established.close();
});
