// /readyz says what the agent is blind to: a rule the engine disabled after repeated errors is named in its body.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { degradation, serveHealth } from '../src/agent.ts';
import { DetectorEngine, RULE_ERROR_LIMIT } from '../src/detectors/index.ts';
import { EventType } from '../src/receiver/events.ts';
import { FakeAgent, ev } from './detectors/fixtures.ts';
import { freeLoopbackPort } from './otelcol/collector.ts';

const silent = { debug() {}, info() {}, warn() {}, error() {} };

test('/readyz stays 200 and names a rule disabled after repeated errors, on one escaped line', async () => {
  const meta = { ...new DetectorEngine().rules[0], id: 'KS-TEST-BROKEN', events: [EventType.Connect] };
  const engine = new DetectorEngine(undefined, [
    { meta, onEvent: () => { throw new Error('boom\n200 OK\x1b[2J'); } },
  ]);
  const port = await freeLoopbackPort();
  const server = serveHealth(`127.0.0.1:${port}`, () => undefined, () => degradation(engine), silent);
  try {
    if (!server.listening) await once(server, 'listening');
    const url = `http://127.0.0.1:${port}/readyz`;
    const before = await fetch(url);
    assert.equal(before.status, 200);
    assert.equal(await before.text(), 'ok\n');

    for (let i = 0; i < RULE_ERROR_LIMIT; i++) engine.process(ev.connect(), new FakeAgent());
    const after = await fetch(url);
    assert.equal(after.status, 200);
    assert.equal(await after.text(), 'ok\nrule KS-TEST-BROKEN disabled after repeated errors: Error: boom\n');
  } finally {
    server.close();
  }
});
