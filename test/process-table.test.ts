import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { ContainerResolver } from '../src/receiver/ContainerResolver.ts';
import { EventType, ExecFlag, type ExecEvent, type ExitEvent, type ForkEvent } from '../src/receiver/events.ts';
import { ProcessTable, type ProcessTableOptions } from '../src/receiver/ProcessTable.ts';
import { parseProcStat, readProcProcess, sameStartTime } from '../src/receiver/procfs.ts';
import { cgroupIdOf, createCgroup, runInCgroup, type Cgroup } from './helpers/cgroup.ts';
import { waitFor } from './helpers/wait.ts';

const HOST_CGROUP = cgroupIdOf('/');
const S = 1_000_000_000n; // one second in ns

// Real cgroups stand in for containers: the table resolves them through the real resolver.
const top = `/ks-ptable-test-${randomBytes(4).toString('hex')}`;
const CONTAINER_A = 'a1'.repeat(32);
const CONTAINER_B = 'b2'.repeat(32);
const cgroups: Cgroup[] = [];
let containerA: bigint;
let containerB: bigint;
let resolver: ContainerResolver;

before(() => {
  for (const id of [CONTAINER_A, CONTAINER_B]) cgroups.push(createCgroup(`${top}/kubepods/besteffort/pod11111111-2222-4333-8444-555555555555/${id}`));
  [containerA, containerB] = cgroups.map((c) => c.id);
  resolver = new ContainerResolver({ nowBootNs: () => 0n });
  resolver.start();
});
after(async () => {
  for (const c of cgroups.reverse()) await c.remove();
});

function table(options: Partial<ProcessTableOptions> = {}): ProcessTable {
  return new ProcessTable({ maxEntries: 1000, exitedGraceMs: 30_000, containers: resolver, procfsReadsPerSecond: 0, ...options });
}

const header = { flags: 0, uid: 1000, gid: 1000, pid: 0, startBoottimeNs: 0n };

function exec(p: {
  tgid: number; start: bigint; ppid: number; path: string; at: bigint; cgroup?: bigint; snapshot?: boolean;
  exe?: { dev: number; ino: bigint }; exeFlags?: number; mnt?: number;
}): ExecEvent {
  return {
    ...header,
    type: EventType.Exec,
    ktimeNs: p.at,
    cgroupId: p.cgroup ?? HOST_CGROUP,
    tgid: p.tgid,
    pid: p.tgid,
    comm: p.path.split('/').at(-1)!.slice(0, 15),
    startBoottimeNs: p.start,
    exeIno: p.exe?.ino ?? 1n,
    exeDev: p.exe?.dev ?? 1,
    exeMtimeNs: 0n,
    ppid: p.ppid,
    euid: 1000,
    egid: 1000,
    exeFlags: (p.snapshot ? ExecFlag.Snapshot : 0) | (p.exeFlags ?? 0),
    exeNlink: 1,
    ns: { mnt: p.mnt ?? 1, pid: 2, net: 3, user: 4, uts: 5, ipc: 6, cgroup: 7 },
    capEffective: 0n,
    argc: 2,
    path: p.path,
    exePath: '',
    argv: [p.path, '--flag'],
  };
}

function fork(p: { parent: number; parentStart?: bigint; child: number; childStart: bigint; at: bigint; cgroup?: bigint }): ForkEvent {
  return {
    ...header,
    startBoottimeNs: p.parentStart ?? 0n,
    type: EventType.Fork,
    ktimeNs: p.at,
    cgroupId: p.cgroup ?? HOST_CGROUP,
    tgid: p.parent,
    comm: 'parent',
    childStartBoottimeNs: p.childStart,
    childTgid: p.child,
    childPid: p.child,
    cloneFlags: 0x11n,
  };
}

function exit(p: { tgid: number; start: bigint; at: bigint }): ExitEvent {
  return { ...header, type: EventType.Exit, ktimeNs: p.at, cgroupId: HOST_CGROUP, tgid: p.tgid, comm: 'x', startBoottimeNs: p.start, exitCode: 0 };
}

const pids = (infos: { tgid: number }[]) => infos.map((i) => i.tgid);

describe('process table', () => {
  it('records what an exec says about a process and the container its cgroup belongs to', () => {
    const t = table();
    t.onEvent(exec({ tgid: 500, start: 10n * S, ppid: 1, path: '/usr/bin/curl', at: 11n * S, cgroup: containerA }));
    const info = t.get(500);
    assert.ok(info);
    assert.deepEqual(
      [info.executable, info.argv, info.commandLine, info.execTimeNs, info.cgroupId, info.container?.id, info.container?.podUid],
      ['/usr/bin/curl', ['/usr/bin/curl', '--flag'], '/usr/bin/curl --flag', 11n * S, containerA, CONTAINER_A, '11111111-2222-4333-8444-555555555555'],
    );
  });

  it('gives a forked child its parent image and container until the child execs', () => {
    const t = table();
    t.onEvent(exec({ tgid: 600, start: 10n * S, ppid: 1, path: '/bin/bash', at: 10n * S, cgroup: containerA }));
    t.onEvent(fork({ parent: 600, child: 601, childStart: 12n * S, at: 12n * S, cgroup: containerA }));
    const child = t.get(601)!;
    assert.deepEqual([child.executable, child.ppid, child.parentStartBoottimeNs, child.startBoottimeNs, child.container?.id], ['/bin/bash', 600, 10n * S, 12n * S, CONTAINER_A]);
    t.onEvent(exec({ tgid: 601, start: 12n * S, ppid: 600, path: '/usr/bin/xmrig', at: 13n * S, cgroup: containerA }));
    assert.deepEqual([t.get(601)!.executable, t.get(601)!.parentStartBoottimeNs], ['/usr/bin/xmrig', 10n * S]);
  });

  it('keeps an exited process resolvable under its start time after its pid is reused', () => {
    const t = table();
    t.onEvent(exec({ tgid: 1, start: 0n, ppid: 0, path: '/sbin/init', at: 0n }));
    t.onEvent(exec({ tgid: 700, start: 10n * S, ppid: 1, path: '/old', at: 10n * S }));
    t.onEvent(exit({ tgid: 700, start: 10n * S, at: 11n * S }));
    t.onEvent(fork({ parent: 1, child: 700, childStart: 12n * S, at: 12n * S }));
    assert.equal(t.get(700)!.executable, '/sbin/init');
    assert.equal(t.get(700, 10n * S)!.executable, '/old');
    assert.equal(t.hasExited(700, 10n * S), true);
    assert.equal(t.hasExited(700, 12n * S), false);
  });

  it('ignores an exit whose start time belongs to an earlier holder of the pid', () => {
    const t = table();
    t.onEvent(exec({ tgid: 710, start: 20n * S, ppid: 1, path: '/new', at: 20n * S }));
    t.onEvent(exit({ tgid: 710, start: 5n * S, at: 21n * S }));
    assert.equal(t.hasExited(710, 20n * S), false);
    assert.equal(t.stats.unknownProcess, 1);
  });

  it('does not answer for a pid\'s new owner with the entry of an earlier holder whose exit record was lost', () => {
    const t = table();
    t.onEvent(exec({ tgid: 720, start: 10n * S, ppid: 1, path: '/usr/bin/old', at: 10n * S, cgroup: containerA }));
    // No exit record for it; a record of the process that holds pid 720 now (started at 30 s) asks for it.
    assert.equal(t.get(720, 30n * S), undefined);
    assert.deepEqual(t.ancestry(720, {}, 30n * S), []);
    assert.equal(t.get(720, 10n * S)?.executable, '/usr/bin/old', 'the earlier holder still resolves under its own start');
    assert.equal(t.hasExited(720, 10n * S), true);
    assert.equal(t.stats.reusedPids, 1);
  });

  it('does not give a fork by a pid\'s new owner the image of an earlier holder whose exit record was lost', () => {
    const t = table();
    t.onEvent(exec({ tgid: 730, start: 10n * S, ppid: 1, path: '/usr/bin/old', at: 10n * S, cgroup: containerA }));
    t.onEvent(fork({ parent: 730, parentStart: 30n * S, child: 731, childStart: 31n * S, at: 31n * S }));
    const child = t.get(731)!;
    assert.notEqual(child.executable, '/usr/bin/old');
    assert.equal(child.parentStartBoottimeNs, 30n * S);
    assert.equal(t.hasExited(730, 10n * S), true);
  });

  it('keeps a live entry when an older record of an earlier holder of its pid asks for that one', () => {
    const t = table();
    t.onEvent(exec({ tgid: 740, start: 30n * S, ppid: 1, path: '/usr/bin/new', at: 30n * S }));
    assert.equal(t.get(740, 10n * S), undefined);
    assert.equal(t.hasExited(740, 30n * S), false);
    assert.equal(t.stats.reusedPids, 0);
  });

  it('never follows a parent that started after its child (a reused parent pid)', () => {
    const t = table();
    t.onEvent(exec({ tgid: 801, start: 5n * S, ppid: 800, path: '/orphan', at: 5n * S, snapshot: true }));
    t.onEvent(exec({ tgid: 800, start: 9n * S, ppid: 1, path: '/impostor', at: 9n * S }));
    assert.deepEqual(pids(t.ancestry(801)), [801]);
  });

  it('links a snapshot child to a parent whose snapshot record came later', () => {
    const t = table();
    t.onEvent(exec({ tgid: 811, start: 7n * S, ppid: 810, path: '/child', at: 20n * S, snapshot: true }));
    t.onEvent(exec({ tgid: 810, start: 6n * S, ppid: 0, path: '/parent', at: 20n * S, snapshot: true }));
    assert.equal(t.get(811)!.parentStartBoottimeNs, 6n * S);
    assert.deepEqual(pids(t.ancestry(811)), [811, 810]);
  });

  describe('ancestry across a container boundary', () => {
    // host init 1 → containerd-shim 10 (host) → container init 20 (A) → sh 30 (A) → curl 40 (A)
    const build = () => {
      const t = table();
      t.onEvent(exec({ tgid: 1, start: 0n, ppid: 0, path: '/sbin/init', at: 0n }));
      t.onEvent(exec({ tgid: 10, start: 1n * S, ppid: 1, path: '/usr/bin/containerd-shim', at: 1n * S }));
      t.onEvent(fork({ parent: 10, child: 20, childStart: 2n * S, at: 2n * S }));
      t.onEvent(exec({ tgid: 20, start: 2n * S, ppid: 10, path: '/pause', at: 2n * S, cgroup: containerA }));
      t.onEvent(fork({ parent: 20, child: 30, childStart: 3n * S, at: 3n * S, cgroup: containerA }));
      t.onEvent(exec({ tgid: 30, start: 3n * S, ppid: 20, path: '/bin/sh', at: 3n * S, cgroup: containerA }));
      t.onEvent(fork({ parent: 30, child: 40, childStart: 4n * S, at: 4n * S, cgroup: containerA }));
      t.onEvent(exec({ tgid: 40, start: 4n * S, ppid: 30, path: '/usr/bin/curl', at: 4n * S, cgroup: containerA }));
      return t;
    };

    it('stops at the container init when asked to', () => {
      assert.deepEqual(pids(build().ancestry(40, { stopAtContainerInit: true })), [40, 30, 20]);
    });

    it('goes up to host init otherwise', () => {
      assert.deepEqual(pids(build().ancestry(40)), [40, 30, 20, 10, 1]);
    });

    it('stops where the container changes, even into another container', () => {
      const t = build();
      t.onEvent(fork({ parent: 40, child: 50, childStart: 5n * S, at: 5n * S, cgroup: containerA }));
      t.onEvent(exec({ tgid: 50, start: 5n * S, ppid: 40, path: '/bin/escapee', at: 5n * S, cgroup: containerB }));
      assert.deepEqual(pids(t.ancestry(50, { stopAtContainerInit: true })), [50]);
    });

    it('walks a host process up to host init whether or not asked to stop at a container init', () => {
      assert.deepEqual(pids(build().ancestry(10, { stopAtContainerInit: true })), [10, 1]);
    });

    it('still resolves the ancestry of a process that exited within the grace window', () => {
      const t = build();
      t.onEvent(exit({ tgid: 30, start: 3n * S, at: 6n * S }));
      t.onEvent(exit({ tgid: 40, start: 4n * S, at: 6n * S }));
      assert.deepEqual(pids(t.ancestry(40, { stopAtContainerInit: true })), [40, 30, 20]);
    });
  });

  it('forgets exited processes once the event clock passes their grace window', () => {
    const t = table({ exitedGraceMs: 1000 });
    t.onEvent(exec({ tgid: 900, start: 1n * S, ppid: 0, path: '/a', at: 1n * S }));
    t.onEvent(exit({ tgid: 900, start: 1n * S, at: 2n * S }));
    t.onEvent(exec({ tgid: 901, start: 2n * S, ppid: 0, path: '/b', at: 2n * S + S / 2n }));
    assert.ok(t.get(900, 1n * S));
    t.onEvent(exec({ tgid: 902, start: 3n * S, ppid: 0, path: '/c', at: 3n * S }));
    assert.equal(t.get(900, 1n * S), undefined);
    assert.equal(t.stats.expired, 1);
    assert.equal(t.size, 2);
  });

  it('evicts the oldest exited process first, then the least recently used live one, to stay within maxEntries', () => {
    const t = table({ maxEntries: 3 });
    t.onEvent(exec({ tgid: 1, start: 1n, ppid: 0, path: '/1', at: 1n }));
    t.onEvent(exec({ tgid: 2, start: 2n, ppid: 0, path: '/2', at: 2n }));
    t.onEvent(exec({ tgid: 3, start: 3n, ppid: 0, path: '/3', at: 3n }));
    t.onEvent(exit({ tgid: 3, start: 3n, at: 4n }));
    t.onEvent(exec({ tgid: 4, start: 5n, ppid: 0, path: '/4', at: 5n }));
    assert.equal(t.get(3, 3n), undefined);
    assert.equal(t.stats.evictedExited, 1);
    t.get(1); // 2 is now the least recently used
    t.onEvent(exec({ tgid: 5, start: 6n, ppid: 0, path: '/5', at: 6n }));
    assert.deepEqual([1, 2, 4, 5].map((tgid) => t.get(tgid) !== undefined), [true, false, true, true]);
    assert.equal(t.stats.evictedLive, 1);
    assert.equal(t.size, 3);
  });

  it('rejects a maxEntries below 1 with a clear message', () => {
    assert.throws(() => table({ maxEntries: 0 }), /processTable\.maxEntries must be at least 1, got 0/);
  });
});

describe('process table /proc fallback', () => {
  it('parses /proc/<pid>/stat with spaces and parentheses in comm', () => {
    const stat = parseProcStat('4242 (my (odd) name) S 17 4242 4242 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 123456 1 1');
    assert.deepEqual(stat, { comm: 'my (odd) name', ppid: 17, startBoottimeNs: 123456n * 10_000_000n });
  });

  it('matches a coarse /proc start time with the precise kernel one to the tick', () => {
    assert.equal(sameStartTime(123n * 10_000_000n, 123n * 10_000_000n + 9_999_999n), true);
    assert.equal(sameStartTime(123n * 10_000_000n, 124n * 10_000_000n), false);
  });

  it('reads a process it never saw from /proc, with its ancestry up to this test runner', async () => {
    const child = spawn('sleep', ['1000'], { stdio: 'ignore' });
    try {
      const pid = child.pid!;
      await waitFor(() => readProcProcess(pid)?.executable.endsWith('sleep'), { what: 'the sleep child to exec' });
      const t = table({ procfsReadsPerSecond: 100 });
      const info = t.get(pid);
      assert.ok(info);
      assert.deepEqual([info.executable, info.argv, info.ppid, info.container], [realpathSync(`/proc/${pid}/exe`), ['sleep', '1000'], process.pid, null]);
      assert.equal(pids(t.ancestry(pid)).slice(0, 2).join(), `${pid},${process.pid}`);
      assert.ok(t.stats.procfsReads >= 2);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('keeps children linked to a process read from /proc once its exec record brings the precise start time', async () => {
    const child = spawn('sleep', ['1000'], { stdio: 'ignore' });
    try {
      const pid = child.pid!;
      await waitFor(() => readProcProcess(pid)?.executable.endsWith('sleep'), { what: 'the sleep child to exec' });
      const t = table({ procfsReadsPerSecond: 100 });
      const coarse = t.get(pid)!.startBoottimeNs;
      const precise = coarse + 3_000_000n; // same clock tick
      t.onEvent(fork({ parent: pid, child: 4_100_000, childStart: precise + S, at: precise + S }));
      t.onEvent(exec({ tgid: pid, start: precise, ppid: process.pid, path: '/usr/bin/sleep', at: precise + 2n * S }));
      assert.equal(t.get(pid)!.startBoottimeNs, precise);
      // Gone from /proc, so only the table itself can link the child to it.
      const reaped = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await reaped;
      assert.deepEqual(pids(t.ancestry(4_100_000)).slice(0, 3), [4_100_000, pid, process.pid]);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('resolves the container of a process read from /proc', async () => {
    const containerId = 'c3'.repeat(32);
    const inside = await runInCgroup(`${top}/kubepods/besteffort/pod11111111-2222-4333-8444-555555555555/${containerId}`, 'sleep', ['1000']);
    try {
      await waitFor(() => readProcProcess(inside.pid)?.executable.endsWith('sleep'), { what: 'the process in the cgroup to exec' });
      const t = table({ procfsReadsPerSecond: 100 });
      const info = t.get(inside.pid)!;
      assert.deepEqual([info.container?.id, info.cgroupId], [containerId, inside.cgroup.id]);
    } finally {
      await inside.stop();
    }
  });

  it('counts processes already gone and stops reading /proc at its rate limit', () => {
    const t = table({ procfsReadsPerSecond: 0.001 });
    for (let i = 0; i < 30; i++) assert.equal(t.get(4_000_000 + i), undefined); // above pid_max: never exists
    assert.deepEqual([t.stats.procfsGone, t.stats.procfsRateLimited], [20, 10]);
  });

  it('seeds every running process from /proc at start-up, including this one', () => {
    const t = table();
    assert.ok(t.seedFromProc() > 1);
    const self = t.get(process.pid)!;
    assert.equal(self.executable, realpathSync(process.execPath));
    assert.equal(self.ppid, process.ppid);
  });
});
