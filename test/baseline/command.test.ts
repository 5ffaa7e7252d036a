// `kubesentry baseline …` on a state directory, through the real CLI: list, show, export → delete → import
// restores the profile, accept makes an item normal (also for a running agent at its next flush), bad input is one
// line and exit 2.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AGENT_BIN } from '../helpers/agent.ts';
import { run } from '../helpers/run.ts';
import { BaselineDetector } from '../../src/baseline/BaselineDetector.ts';
import { BaselinePersistence } from '../../src/baseline/BaselinePersistence.ts';
import { Profile } from '../../src/baseline/Profile.ts';
import { ProfileStore } from '../../src/baseline/ProfileStore.ts';

const KEY = 'shop/Deployment/web/httpd';

function stateWithStableProfile(): string {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubesentry-baseline-cli-'));
  const now = Date.now();
  const p = new Profile(KEY, now - 10_000);
  p.classes.exec.learn('/usr/sbin/httpd [root]', now - 9_000, 15);
  for (const c of Object.values(p.classes)) c.advance(now, { minLearningMs: 5_000, quietMs: 1_000, maxLearningMs: 60_000 });
  new ProfileStore(path.join(stateDir, 'baseline'), () => {}).save(p.snapshot());
  return stateDir;
}

async function cli(stateDir: string, ...args: string[]) {
  const r = await run(process.execPath, [AGENT_BIN, 'baseline', ...args, '--state-dir', stateDir], { timeoutMs: 60_000 });
  return { ...r, errLines: r.stderr.trim().split('\n').filter(Boolean) };
}

const storeOf = (stateDir: string) => new ProfileStore(path.join(stateDir, 'baseline'), () => {});

test('list names each profile with its state, replicas and classes', async () => {
  const stateDir = stateWithStableProfile();
  const r = await cli(stateDir, 'list');
  assert.equal(r.code, 0, r.stderr);
  const [header, row] = r.stdout.trim().split('\n');
  assert.match(header, /^KEY\tSTATE\tREPLICAS/);
  assert.match(row, new RegExp(`^${KEY}\\tstable\\t0\\t`));
  assert.match(row, /\tstable:1\t/, 'exec: stable with one item');
});

test('export, delete and import of a profile restores it', async () => {
  const stateDir = stateWithStableProfile();
  const before = storeOf(stateDir).get(KEY);
  const file = path.join(stateDir, 'web.yaml');
  assert.equal((await cli(stateDir, 'export', KEY, '--file', file)).code, 0);
  assert.match(fs.readFileSync(file, 'utf8'), /\/usr\/sbin\/httpd \[root\]/);
  assert.equal((await cli(stateDir, 'delete', KEY)).code, 0);
  assert.equal(storeOf(stateDir).get(KEY), undefined);
  const imported = await cli(stateDir, 'import', file);
  assert.equal(imported.code, 0, imported.stderr);
  assert.match(imported.stdout, /imported shop\/Deployment\/web\/httpd \(stable\)/);
  assert.deepEqual(storeOf(stateDir).get(KEY), before);
});

test('accept makes an item part of the profile, and a running agent takes it over at its next flush', async () => {
  const stateDir = stateWithStableProfile();
  const detector = new BaselineDetector();
  const persistence = new BaselinePersistence(detector, path.join(stateDir, 'baseline'), { persistIntervalMs: 3_600_000, retentionMs: 86_400_000 }, () => {});
  assert.equal(detector.profile(KEY)!.classes.exec.knows('/bin/sh [root]'), false);
  const r = await cli(stateDir, 'accept', KEY, 'exec', '/bin/sh [root]');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(storeOf(stateDir).get(KEY)!.classes.exec.items.includes('/bin/sh [root]'), true);
  persistence.flush();
  assert.equal(detector.profile(KEY)!.classes.exec.knows('/bin/sh [root]'), true);
  assert.equal(detector.profile(KEY)!.classes.exec.state, 'stable');
  // ...and a delete makes it forget the profile.
  assert.equal((await cli(stateDir, 'delete', KEY)).code, 0);
  persistence.flush();
  assert.equal(detector.profile(KEY), undefined);
  persistence.close();
});

test('bad input is one line on stderr and exit 2', async () => {
  const stateDir = stateWithStableProfile();
  const cases: [string[], RegExp][] = [
    [['show', 'no/such/profile'], /no profile 'no\/such\/profile'/],
    [['accept', KEY, 'files', 'x'], /unknown class 'files' \(one of exec, exec_pair/],
    [['import', '/nonexistent.yaml'], /cannot read \/nonexistent.yaml/],
    [['frobnicate'], /unknown subcommand 'frobnicate'/],
    [['show'], /expected 1 argument/],
  ];
  const notProfile = path.join(stateDir, 'bad.yaml');
  fs.writeFileSync(notProfile, 'schema: 9\n');
  cases.push([['import', notProfile], /is not a profile: schema version 9, this agent reads 1/]);
  for (const [args, message] of cases) {
    const r = await cli(stateDir, ...args);
    assert.equal(r.code, 2, args.join(' '));
    assert.equal(r.errLines.length, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.errLines[0], message);
  }
});
