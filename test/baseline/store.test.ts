// Profiles on disk: one 0600 file per profile, replaced atomically, schema-checked, expired after the retention.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BaselineDetector } from '../../src/baseline/BaselineDetector.ts';
import { BaselinePersistence } from '../../src/baseline/BaselinePersistence.ts';
import { Profile } from '../../src/baseline/Profile.ts';
import { ProfileStore, parseProfileSnapshot, profileFileName } from '../../src/baseline/ProfileStore.ts';

const tempDir = () => path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'kubesentry-baseline-')), 'baseline');

function stableProfile(key: string, nowMs: number): Profile {
  const p = new Profile(key, nowMs - 10_000);
  p.classes.exec.learn('/bin/httpd [root]', nowMs - 9_000, 15);
  for (const c of Object.values(p.classes)) c.advance(nowMs, { minLearningMs: 5_000, quietMs: 1_000, maxLearningMs: 60_000 });
  p.lastSeenMs = nowMs;
  return p;
}

test('a saved profile is one 0600 file in a 0700 directory and loads back equal', () => {
  const dir = tempDir();
  const store = new ProfileStore(dir, () => {});
  const now = Date.now();
  const snapshot = stableProfile('shop/Deployment/web/httpd', now).snapshot();
  assert.equal(store.save(snapshot), true);
  const file = path.join(dir, profileFileName(snapshot.key));
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  assert.equal(fs.statSync(dir).mode & 0o777, 0o700);
  assert.deepEqual(fs.readdirSync(dir), [path.basename(file)], 'no temporary left behind');
  assert.deepEqual(new ProfileStore(dir, () => {}).load(now, 60_000, 10), [snapshot]);
});

test('files of another schema version or shape are skipped with one line each and counted', () => {
  const dir = tempDir();
  const warnings: string[] = [];
  const store = new ProfileStore(dir, (m) => warnings.push(m));
  const now = Date.now();
  const good = stableProfile('image/busybox', now).snapshot();
  store.save(good);
  fs.writeFileSync(path.join(dir, 'future.json'), JSON.stringify({ ...good, key: 'x', schema: 3 }));
  fs.writeFileSync(path.join(dir, 'garbage.json'), '{not json');
  fs.writeFileSync(path.join(dir, 'shape.json'), JSON.stringify({ ...good, key: 'y', classes: { ...good.classes, dns: { state: 'bored' } } }));
  assert.deepEqual(store.load(now, 60_000, 10).map((s) => s.key), ['image/busybox']);
  assert.equal(store.counters.invalid, 3);
  assert.equal(warnings.length, 3);
  assert.ok(warnings.every((w) => !w.includes('\n')));
  assert.match(warnings.join('\n'), /schema version 3, this agent reads 1 and 2/);
  assert.match(warnings.join('\n'), /classes\.dns\.state must be one of learning, stable, unstable, saturated/);
});

test('profiles of workloads not seen within the retention are deleted at load', () => {
  const dir = tempDir();
  const store = new ProfileStore(dir, () => {});
  const now = Date.now();
  const old = stableProfile('image/gone', now - 8 * 86_400_000).snapshot();
  store.save(old);
  store.save(stableProfile('image/here', now).snapshot());
  assert.deepEqual(store.load(now, 7 * 86_400_000, 10).map((s) => s.key), ['image/here']);
  assert.equal(store.counters.expired, 1);
  assert.equal(fs.existsSync(path.join(dir, profileFileName('image/gone'))), false);
});

test('at most maxProfiles load, the most recently seen first', () => {
  const dir = tempDir();
  const store = new ProfileStore(dir, () => {});
  const now = Date.now();
  for (let i = 0; i < 5; i++) store.save(stableProfile(`image/app${i}`, now - i * 1000).snapshot());
  assert.deepEqual(store.load(now, 60_000, 2).map((s) => s.key), ['image/app0', 'image/app1']);
});

test('persistence writes changed profiles on flush and restores them into a new detector as they were', () => {
  const dir = tempDir();
  const first = new BaselineDetector();
  const now = Date.now();
  first.restore(stableProfile('image/busybox', now).snapshot());
  first.profile('image/busybox')!.dirty = true;
  const persistence = new BaselinePersistence(first, dir, { persistIntervalMs: 60_000, retentionMs: 86_400_000 }, () => {});
  persistence.close();
  const second = new BaselineDetector();
  new BaselinePersistence(second, dir, { persistIntervalMs: 60_000, retentionMs: 86_400_000 }, () => {}).close();
  const restored = second.profile('image/busybox');
  assert.ok(restored);
  assert.equal(restored.state, 'stable');
  assert.equal(restored.classes.exec.knows('/bin/httpd [root]'), true);
  assert.deepEqual(restored.snapshot(), first.profile('image/busybox')!.snapshot());
});

test('a snapshot with a missing field names it', () => {
  assert.throws(() => parseProfileSnapshot({ schema: 1, key: 'k', createdMs: 1, lastSeenMs: 'soon', classes: {} }), /lastSeenMs must be a number/);
  assert.throws(() => parseProfileSnapshot([]), /profile must be an object/);
});

test('a file written before a class or image versions existed loads: the new class learns from now, no versions', () => {
  const now = Date.now();
  const older = JSON.parse(JSON.stringify(stableProfile('shop/Deployment/web/httpd', now).snapshot()));
  delete older.classes.listen;
  delete older.versions;
  const loaded = parseProfileSnapshot(older);
  assert.equal(loaded.classes.exec.state, 'stable', 'what it learned is kept');
  assert.equal(loaded.classes.listen.state, 'learning');
  assert.ok(loaded.classes.listen.startedMs >= now, 'learning starts at load, not at the file\'s time');
  assert.deepEqual(loaded.versions, []);
  assert.throws(() => parseProfileSnapshot({ ...older, versions: [{ digest: 'sha256:x' }] }), /versions\[0\]\.firstSeenMs must be a number/);
});
