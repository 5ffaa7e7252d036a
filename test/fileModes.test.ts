// The state directory holds detections: whatever the umask, the agent keeps it 0700 and its files 0600, tightens a
// looser one it finds, and refuses one that someone else could have prepared (a symlink, another uid's directory).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { Spool, SpoolKind } from '../src/otel/internal/Spool.ts';
import { createTelemetry } from '../src/otel/index.ts';
import { AGENT_BIN } from './helpers/agent.ts';
import { run } from './helpers/run.ts';
import { syntheticDetection } from './otelcol/syntheticDetections.ts';

const temps: string[] = [];
after(() => {
  for (const dir of temps) fs.rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubesentry-modes-'));
  temps.push(dir);
  return dir;
}

/** Runs fn with umask 000, so any mode the code does not set itself shows up as world-writable. */
async function withOpenUmask<T>(fn: () => T | Promise<T>): Promise<T> {
  const previous = process.umask(0o000);
  try {
    return await fn();
  } finally {
    process.umask(previous);
  }
}

/** Every directory and file under root (root included), with its permission bits. */
function modesUnder(root: string): { path: string; kind: 'dir' | 'file'; mode: number }[] {
  const found: { path: string; kind: 'dir' | 'file'; mode: number }[] = [];
  const visit = (p: string) => {
    const stat = fs.lstatSync(p);
    found.push({ path: p, kind: stat.isDirectory() ? 'dir' : 'file', mode: stat.mode & 0o7777 });
    if (stat.isDirectory()) for (const name of fs.readdirSync(p)) visit(path.join(p, name));
  };
  visit(root);
  return found;
}

function assertPrivate(root: string): void {
  const loose = modesUnder(root)
    .filter((e) => e.mode !== (e.kind === 'dir' ? 0o700 : 0o600))
    .map((e) => `${path.relative(root, e.path) || '.'} ${e.kind} 0${e.mode.toString(8)}`);
  assert.deepEqual(loose, [], 'every directory is 0700 and every file 0600');
}

/** A loopback port nothing listens on: the Collector stays unreachable, so everything stays spooled. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function telemetryWritingEverything(stateDir: string, diagnostics: string[] = []): Promise<void> {
  const telemetry = createTelemetry({
    endpoint: `http://127.0.0.1:${await closedPort()}`,
    stateDir,
    // Small enough that the detections below overflow it, so the eviction tally is written too.
    spool: { maxBytes: 512 * 1024 },
    metrics: { otlp: false },
    env: {},
    onDiagnostic: (m) => diagnostics.push(m),
  });
  try {
    for (let i = 0; i < 600; i++) {
      telemetry.emit(syntheticDetection({ sequence: i }));
      if (i % 50 === 49) await telemetry.persisted();
    }
    await telemetry.persisted();
  } finally {
    await telemetry.shutdown(1);
  }
}

describe('state directory and spool file modes', () => {
  test('a spool created under umask 000 is 0700 with 0600 segments and cursor', async () => {
    const dir = path.join(tempDir(), 'state', 'spool');
    await withOpenUmask(() => {
      const spool = new Spool(dir, { maxBytes: 1024 * 1024, fsync: 'never', fsyncIntervalMs: 1000, onEvict: () => {} });
      spool.append([{ kind: SpoolKind.Logs, payload: Buffer.from('argv: cat /etc/shadow') }]);
      spool.ack(spool.peek(10)!); // writes the cursor
      spool.close();
    });
    const names = fs.readdirSync(dir).sort();
    assert.ok(names.includes('cursor') && names.some((n) => n.endsWith('.seg')), `cursor and a segment written: ${names}`);
    assertPrivate(path.dirname(dir));
  });

  test('telemetry under umask 000 writes its whole state directory private: spool, instance id, eviction tally', async () => {
    const stateDir = path.join(tempDir(), 'kubesentry');
    await withOpenUmask(() => telemetryWritingEverything(stateDir));
    for (const name of ['instance-id', 'unreported-evictions.json', 'spool/logs', 'spool/traces']) {
      assert.ok(fs.existsSync(path.join(stateDir, name)), `${name} written`);
    }
    assertPrivate(stateDir);
  });

  test('an existing 0755 state directory from an older version is tightened, files included, and the log says so', async () => {
    const stateDir = path.join(tempDir(), 'kubesentry');
    fs.mkdirSync(path.join(stateDir, 'spool', 'logs'), { recursive: true, mode: 0o755 });
    for (const dir of [stateDir, path.join(stateDir, 'spool'), path.join(stateDir, 'spool', 'logs')]) fs.chmodSync(dir, 0o755);
    fs.writeFileSync(path.join(stateDir, 'instance-id'), 'old-instance\n', { mode: 0o644 });
    fs.writeFileSync(path.join(stateDir, 'spool', 'logs', '0000000000000001.seg'), '', { mode: 0o644 });
    fs.chmodSync(path.join(stateDir, 'instance-id'), 0o644);
    const diagnostics: string[] = [];
    await withOpenUmask(() => telemetryWritingEverything(stateDir, diagnostics));
    assertPrivate(stateDir);
    assert.equal(fs.readFileSync(path.join(stateDir, 'instance-id'), 'utf8'), 'old-instance\n', 'tightened, not replaced');
    assert.ok(
      diagnostics.some((m) => m.includes(`tightened ${stateDir} from mode 0755 to 0700`)),
      `a diagnostic names the state directory: ${diagnostics.join(' | ')}`,
    );
  });

  test('a symlinked state directory is refused with one line, and nothing is written where it points', async () => {
    const root = tempDir();
    const elsewhere = path.join(root, 'elsewhere');
    fs.mkdirSync(elsewhere, { mode: 0o700 });
    const stateDir = path.join(root, 'kubesentry');
    fs.symlinkSync(elsewhere, stateDir);
    assert.throws(
      () => createTelemetry({ endpoint: 'http://127.0.0.1:4317', stateDir, metrics: { otlp: false }, env: {} }),
      { message: /^refusing to use .*kubesentry: it is a symlink$/ },
    );
    assert.deepEqual(fs.readdirSync(elsewhere), []);
  });

  test('a dangling symlink as state directory is refused, and its target is not created', () => {
    const root = tempDir();
    const target = path.join(root, 'where-the-attacker-wants-it');
    const stateDir = path.join(root, 'kubesentry');
    fs.symlinkSync(target, stateDir);
    assert.throws(
      () => createTelemetry({ endpoint: 'http://127.0.0.1:4317', stateDir, metrics: { otlp: false }, env: {} }),
      { message: /^refusing to use .*kubesentry: it is a symlink$/ },
    );
    assert.equal(fs.existsSync(target), false);
  });

  test('an atomic rewrite does not inherit the mode of a temporary a crash left behind', async () => {
    const dir = path.join(tempDir(), 'spool');
    fs.mkdirSync(dir, { mode: 0o700 });
    fs.writeFileSync(path.join(dir, 'cursor.tmp'), 'torn', { mode: 0o666 });
    fs.chmodSync(path.join(dir, 'cursor.tmp'), 0o666);
    await withOpenUmask(() => {
      const spool = new Spool(dir, { maxBytes: 1024 * 1024, fsync: 'never', fsyncIntervalMs: 1000, onEvict: () => {} });
      spool.append([{ kind: SpoolKind.Logs, payload: Buffer.from('x') }]);
      spool.ack(spool.peek(10)!);
      spool.close();
    });
    assert.equal(fs.statSync(path.join(dir, 'cursor')).mode & 0o777, 0o600);
  });

  test('a state directory owned by another uid is refused', { skip: process.geteuid!() !== 0 && 'needs root to chown' }, () => {
    const stateDir = path.join(tempDir(), 'kubesentry');
    fs.mkdirSync(stateDir, { mode: 0o700 });
    fs.chownSync(stateDir, 65534, 65534);
    assert.throws(
      () => createTelemetry({ endpoint: 'http://127.0.0.1:4317', stateDir, metrics: { otlp: false }, env: {} }),
      { message: /^refusing to use .*kubesentry: it is owned by uid 65534, not the agent's uid 0$/ },
    );
    assert.deepEqual(fs.readdirSync(stateDir), []);
  });

  test('the agent exits 1 with one line when its state directory is a symlink', async () => {
    const root = tempDir();
    fs.mkdirSync(path.join(root, 'elsewhere'));
    const stateDir = path.join(root, 'kubesentry');
    fs.symlinkSync(path.join(root, 'elsewhere'), stateDir);
    // A missing BTF makes an agent that got past its state directory fail fast instead of loading BPF programs.
    const args = ['run', '--otlp.endpoint', 'http://127.0.0.1:4317', '--state-dir', stateDir, '--kernel.btf-path', '/nonexistent/vmlinux'];
    const r = await run(process.execPath, [AGENT_BIN, ...args], { timeoutMs: 60_000 });
    assert.equal(r.code, 1);
    assert.deepEqual(r.stderr.trim().split('\n'), [`kubesentry: otlp: refusing to use ${stateDir}: it is a symlink`]);
  });
});
