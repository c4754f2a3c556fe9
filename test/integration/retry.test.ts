// A client retries a send across a failover: the new primary answers from the replicated client
// table (VR §4) and the message exists once. Driven frame by frame, so the retry is exactly the
// one a connector would make: same clientId, same requestNumber, to another replica.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { TestCluster, waitFor } from './harness.js';
import { Connector } from '../../lib/client/connector.js';
import { readAll } from './history.js';
import { makeVerifier } from '../../lib/auth/scram.js';
import { RawClient } from './raw-client.js';

let cluster: TestCluster;

before(async () => {
  cluster = await TestCluster.start(3);
});

after(async () => {
  await cluster?.stop();
});

test('a request retried on the new primary after a failover is answered from the client table and applied once', async () => {
  const setup = new Connector({ servers: cluster.addresses });
  await setup.connect();
  for (const name of ['sam', 'tess']) assert.ok((await setup.createAccount(name, 'pw-' + name)).ok);
  await setup.close();

  const primary = await cluster.waitForPrimary();
  const clientId = randomBytes(16).toString('hex');
  const clientSecret = randomBytes(32).toString('hex');
  const first = await RawClient.open(cluster.addresses[primary]!);
  assert.equal((await first.request({ type: 'register', clientId, clientSecret })).ok, true);
  // `create` needs no login, and executing it twice would be visible: the second run fails.
  const call = { type: 'call', clientId, clientSecret, requestNumber: 1, command: { kind: 'create', name: 'retry-probe', verifier: makeVerifier('pw') } };
  const original = await first.request(call);
  assert.equal(original.ok, true, JSON.stringify(original));
  first.close();

  await cluster.kill(primary);
  const next = await cluster.waitForPrimary({ not: primary });
  const second = await RawClient.open(cluster.addresses[next]!);
  const retried = await second.request(call);
  assert.deepEqual(retried.result, original.result, 'the retry gets the saved reply');
  // Had the retry executed again, it would have failed with NAME_TAKEN instead.
  assert.equal(retried.ok, true);
  // A new request number is executed normally, and sees the account that exists once.
  const again = await second.request({ ...call, requestNumber: 2 });
  assert.equal((again.error as { code: string }).code, 'NAME_TAKEN');
  second.close();
  await cluster.restart(primary);
});

test('a send through the connector across a failover is delivered exactly once', async () => {
  const primary = await cluster.waitForPrimary();
  const sam = new Connector({ servers: cluster.addresses, requestTimeoutMs: 500 });
  await sam.connect();
  assert.ok((await sam.login('sam', 'pw-sam')).ok);
  const before = await sam.call({ kind: 'send', to: 'tess', text: 'before failover' });
  assert.ok(before.ok);
  await cluster.kill(primary);
  const during = await sam.call({ kind: 'send', to: 'tess', text: 'across failover' });
  assert.ok(during.ok, JSON.stringify(during));
  await sam.close();
  const tess = new Connector({ servers: cluster.addresses });
  await tess.connect();
  assert.ok((await tess.login('tess', 'pw-tess')).ok);
  const mailbox = await readAll(tess);
  await tess.close();
  assert.deepEqual(mailbox.map((m) => m.text), ['before failover', 'across failover']);
  await cluster.restart(primary);
  await waitFor('the restarted replica to rejoin', () => (cluster.statuses()[primary]?.status === 'normal' ? true : undefined), 30_000, () => cluster.describe());
});
