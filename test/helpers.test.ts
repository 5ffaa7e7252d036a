// Tests of the shared test helpers themselves: if these fail, every container and cgroup test is suspect.
// Needs root, podman + runc and the busybox test image (scripts/setup.sh provides all three).
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { waitFor, WaitTimeoutError } from './helpers/wait.ts';
import { run, runOrThrow, spawnBackground } from './helpers/run.ts';
import {
  cgroup2Root,
  cgroupIdOf,
  cgroupOfPid,
  cgroupPids,
  createCgroup,
  kubepodsSystemdPath,
  runInCgroup,
} from './helpers/cgroup.ts';
import { startContainer, type Container } from './helpers/podman.ts';

/** A zombie counts as gone: it has exited, only its reaping (by whichever init adopted it) is pending. */
function processExists(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

describe('waitFor', () => {
  it('resolves with the first truthy value the probe returns', async () => {
    let calls = 0;
    const value = await waitFor(() => (++calls >= 3 ? `ready after ${calls}` : undefined), {
      what: 'the third call',
      intervalMs: 1,
    });
    assert.equal(value, 'ready after 3');
  });

  it('accepts an async probe', async () => {
    let calls = 0;
    const value = await waitFor(async () => (++calls === 2 ? 42 : false), { what: 'the second call', intervalMs: 1 });
    assert.equal(value, 42);
  });

  it('rejects at the deadline naming what it waited for and the probe’s last error', async () => {
    await assert.rejects(
      waitFor(() => {
        throw new Error('socket not there');
      }, { what: 'the agent socket', timeoutMs: 50, intervalMs: 5 }),
      (err: unknown) =>
        err instanceof WaitTimeoutError && /the agent socket/.test(err.message) && /socket not there/.test(err.message),
    );
  });

  it('does not hang on a probe that never settles', async () => {
    await assert.rejects(
      waitFor(() => new Promise<never>(() => {}), { what: 'a promise that never settles', timeoutMs: 50 }),
      /a promise that never settles/,
    );
  });
});

describe('run', () => {
  it('returns exit code, stdout and stderr without throwing on failure', async () => {
    const result = await run('/bin/sh', ['-c', 'echo out; echo err >&2; exit 3']);
    assert.deepEqual(result, { code: 3, signal: null, stdout: 'out\n', stderr: 'err\n' });
  });

  it('feeds input on stdin', async () => {
    const result = await run('cat', [], { input: 'hello' });
    assert.equal(result.stdout, 'hello');
  });

  it('kills a command that outlives its timeout and says so', async () => {
    await assert.rejects(run('sleep', ['30'], { timeoutMs: 100 }), /sleep 30 did not finish within 100 ms/);
  });

  it('runOrThrow quotes the command and its stderr on a non-zero exit', async () => {
    await assert.rejects(
      runOrThrow('/bin/sh', ['-c', 'echo broken pipe dream >&2; exit 7']),
      /\/bin\/sh -c 'echo broken pipe dream >&2; exit 7' failed with exit code 7; last output: broken pipe dream/,
    );
  });

  it('rejects with a clear message when the command does not exist', async () => {
    await assert.rejects(run('/nonexistent/tool', []), /cannot run \/nonexistent\/tool/);
  });
});

describe('spawnBackground', () => {
  it('finds lines printed before and after the wait started, on stdout and stderr', async () => {
    const proc = spawnBackground('/bin/sh', ['-c', 'echo first; read -r _ <&0; echo second >&2; sleep 30'], { stdin: 'pipe' });
    try {
      await proc.waitForLine(/^first$/);
      const later = proc.waitForLine(/^sec(\w+)$/);
      proc.child.stdin!.end('go\n');
      const match = await later;
      assert.equal(match[1], 'ond');
      assert.deepEqual(proc.lines, ['first', 'second']);
    } finally {
      await proc.kill();
    }
  });

  it('rejects waitForLine as soon as the process exits without printing the line', async () => {
    const proc = spawnBackground('/bin/sh', ['-c', 'echo nope; exit 4']);
    await assert.rejects(proc.waitForLine(/never/, 30_000), /exited \(exit code 4\) without printing a line matching \/never\/; last output: nope/);
  });

  it('kill() reaches the grandchildren a shell started', async () => {
    const proc = spawnBackground('/bin/sh', ['-c', 'sleep 300 & echo child=$!; wait']);
    const grandchild = Number((await proc.waitForLine(/^child=(\d+)$/))[1]);
    assert.ok(processExists(grandchild));
    const status = await proc.kill();
    assert.equal(status.signal, 'SIGTERM');
    await waitFor(() => !processExists(grandchild), { what: `grandchild ${grandchild} to be gone` });
  });
});

describe('cgroup helpers', () => {
  it('finds the cgroup2 mount from mountinfo', () => {
    const root = cgroup2Root();
    assert.ok(existsSync(path.join(root, 'cgroup.procs')), `${root} is not a cgroup2 root`);
    assert.equal(cgroupOfPid(process.pid).startsWith('/'), true);
  });

  it('builds the containerd + systemd-driver path with underscores in the pod UID', () => {
    const p = kubepodsSystemdPath({ podUid: '1b2c-3d', containerId: 'a'.repeat(64) });
    assert.equal(
      p.relPath,
      `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1b2c_3d.slice/cri-containerd-${'a'.repeat(64)}.scope`,
    );
    assert.equal(
      kubepodsSystemdPath({ podUid: 'x-y', containerId: 'b'.repeat(64), qos: 'guaranteed' }).relPath,
      `/kubepods.slice/kubepods-podx_y.slice/cri-containerd-${'b'.repeat(64)}.scope`,
    );
  });

  it('rejects paths that could escape the cgroup2 tree', () => {
    assert.throws(() => createCgroup('relative/path'), /must be absolute/);
    assert.throws(() => createCgroup('/a/../../etc'), /free of \. and \.\./);
  });

  it('runInCgroup execs the command inside the cgroup, and its children stay there', async () => {
    const { relPath } = kubepodsSystemdPath({ podUid: randomUUID() });
    const started = await runInCgroup(relPath, '/bin/sh', ['-c', 'echo ready; sleep 300 & echo child=$!; wait']);
    try {
      // The exec has happened by the time runInCgroup resolves: the PID runs the requested program.
      const cmdline = readFileSync(`/proc/${started.pid}/cmdline`, 'utf8').split('\0');
      assert.deepEqual(cmdline.slice(0, 3), ['/bin/sh', '-c', 'echo ready; sleep 300 & echo child=$!; wait']);
      const child = Number((await started.process.waitForLine(/^child=(\d+)$/))[1]);
      assert.equal(cgroupOfPid(started.pid), relPath);
      assert.equal(cgroupOfPid(child), relPath);
      assert.deepEqual(cgroupPids(relPath).sort(), [started.pid, child].sort());
      assert.equal(started.cgroup.id, statSync(started.cgroup.path, { bigint: true }).ino);
      assert.equal(cgroupIdOf(relPath), started.cgroup.id);
    } finally {
      await started.stop();
    }
    assert.equal(existsSync(started.cgroup.path), false, 'cgroup directory left behind');
    const podSlice = path.dirname(started.cgroup.path);
    assert.equal(existsSync(podSlice), false, 'pod slice created by the helper left behind');
  });

  it('runInCgroup resolves after the exec for a program other than the shell too', async () => {
    const started = await runInCgroup(`/kubesentry-test-${randomUUID()}`, 'sleep', ['300']);
    try {
      assert.equal(readFileSync(`/proc/${started.pid}/comm`, 'utf8').trim(), 'sleep');
      assert.equal(cgroupOfPid(started.pid), started.cgroup.relPath);
    } finally {
      await started.stop();
    }
  });

  it('runInCgroup reports a command that cannot be executed through the process exit', async () => {
    const started = await runInCgroup(`/kubesentry-test-${randomUUID()}`, '/no/such/program');
    const status = await started.process.exited;
    assert.equal(status.code, 127);
    await started.stop();
    assert.equal(existsSync(started.cgroup.path), false);
  });

  it('remove() kills what is left and waits until the cgroup is empty', async () => {
    const cgroup = createCgroup(`/kubesentry-test-${randomUUID()}`);
    const proc = spawnBackground('sleep', ['300']);
    cgroup.addProcess(proc.pid);
    assert.deepEqual(cgroup.pids(), [proc.pid]);
    await cgroup.remove();
    assert.equal((await proc.exited).signal, 'SIGKILL');
    assert.equal(existsSync(cgroup.path), false);
  });
});

describe('podman containers', () => {
  const started: Container[] = [];
  after(async () => {
    for (const c of started) await c.remove();
  });

  it('starts a container whose cgroup carries the pod UID, and exec runs inside it', async () => {
    const podUid = randomUUID();
    const container = await startContainer({ podUid });
    started.push(container);

    assert.match(container.id, /^[0-9a-f]{64}$/);
    assert.equal(container.cgroupPath, `/kubepods/besteffort/pod${podUid}/libpod-${container.id}`);
    assert.equal(cgroupOfPid(container.initPid), container.cgroupPath);
    assert.equal(readFileSync(`/proc/${container.initPid}/comm`, 'utf8').trim(), 'sleep');
    assert.equal(container.cgroupId, cgroupIdOf(container.cgroupPath));

    const hostname = await container.exec(['hostname']);
    assert.equal(hostname.code, 0);
    assert.equal(hostname.stdout.trim(), container.id.slice(0, 12));

    // No cgroup namespace here: the exec'd process sees the same host-relative path.
    const inside = await container.exec(['cat', '/proc/self/cgroup']);
    assert.match(inside.stdout, new RegExp(`^0::${container.cgroupPath}$`, 'm'));

    const failing = await container.exec(['sh', '-c', 'echo no >&2; exit 5']);
    assert.deepEqual([failing.code, failing.stderr], [5, 'no\n']);

    const piped = await container.exec(['cat'], { input: 'through stdin' });
    assert.equal(piped.stdout, 'through stdin');

    const asNobody = await container.exec(['id', '-u'], { flags: ['--user', '65534'] });
    assert.equal(asNobody.stdout.trim(), '65534');
  });

  it('execDetached runs a background command whose host PID is in the container cgroup', async () => {
    const container = await startContainer({ podUid: randomUUID() });
    started.push(container);
    const before = new Set(container.pids());
    const proc = container.execDetached(['sh', '-c', 'echo started; exec sleep 300']);
    await proc.waitForLine(/^started$/);
    const sleeper = await waitFor(() => container.pids().find((pid) => !before.has(pid)), {
      what: 'the exec’d sleep to appear in the container cgroup',
    });
    assert.equal(cgroupOfPid(sleeper), container.cgroupPath);
    await container.stop();
    const status = await proc.exited;
    assert.notEqual(status.code, 0);
  });

  it('remove() deletes the container and the pod cgroup podman left behind', async () => {
    const podUid = randomUUID();
    const container = await startContainer({ podUid });
    const podDir = path.join(cgroup2Root(), `/kubepods/besteffort/pod${podUid}`);
    assert.ok(existsSync(podDir));
    await container.remove();
    assert.equal((await run('podman', ['container', 'exists', container.id])).code, 1);
    assert.equal(existsSync(podDir), false);
    assert.equal(processExists(container.initPid), false);
  });

  it('fails with a clear message when the container command cannot run, leaving nothing behind', async () => {
    const name = `ks-test-broken-${randomUUID().slice(0, 8)}`;
    await assert.rejects(startContainer({ name, cmd: ['/no/such/binary'] }), /podman .*run.* failed .*no\/such\/binary/);
    assert.equal((await run('podman', ['container', 'exists', name])).code, 1);
  });
});
