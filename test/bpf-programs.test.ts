// The kernel programs of build/kubesentry.bpf.o, hook by hook, on the real kernel: build/ks-trigger (or a
// plain command) does one thing, and the record it causes is found by its tgid, decoded by the agent's own
// decoder, and checked field by field. Needs root and kernel BTF; never skipped (CI=true runs as root).
// The module syscalls are not covered here: this VM's kernel has no CONFIG_MODULES, so no tracepoints.

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readlinkSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createDecoderStats, decodeBatch } from '../src/receiver/decoder.ts';
import {
  AddressFamily,
  EventType,
  ExecFlag,
  HeaderFlag,
  IoUringOpcode,
  IpProtocol,
  Op,
  PayloadKind,
  SocketType,
  type ConnectEvent,
  type KernelEvent,
} from '../src/receiver/events.ts';
import { openKernelSource, type HookVariant, type KernelSource, type KernelSourceOptions } from '../src/receiver/kernel.ts';
import { kernelDevOf } from '../src/receiver/HostRuntimeBinaries.ts';
import { cgroup2Root } from './helpers/cgroup.ts';
import { startContainer, type Container } from './helpers/podman.ts';
import { waitFor } from './helpers/wait.ts';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const TRIGGER = path.join(REPO, 'build/ks-trigger');
const IO_URING_OPS = path.join(REPO, 'build/simulator/io_uring_ops');

const CLONE_NEWNS = 0x00020000n;
const CLONE_NEWUTS = 0x04000000n;
const CAP_SYS_ADMIN = 21n;
const UNCHANGED = 0xffffffff;
const AT_FDCWD = -100;
const SIGKILL = 9;

const PATTERNS = ['/etc/shadow', '/tmp/ks-bpf-test-*', '/tmp/ks-sfx-*.key', '/tmp/ks-ifx-*/secret/*'];
const PatternId = { shadow: 0, prefix: 1, suffix: 2, infix: 3 } as const;

type EventOf<T extends KernelEvent['type']> = Extract<KernelEvent, { type: T }>;

/** Everything one kernel source delivers, decoded, for tests to search. */
class Recorder {
  readonly events: KernelEvent[] = [];
  readonly source: KernelSource;
  private readonly stats = createDecoderStats();

  constructor(variants?: readonly HookVariant[], hostFilesystems?: KernelSourceOptions['hostFilesystems']) {
    this.source = openKernelSource({ agentTgid: process.pid, pathPatterns: PATTERNS, wakeupBatchBytes: 0, variants, hostFilesystems });
    this.source.start((batch) => decodeBatch(batch, (event) => this.events.push(event), this.stats));
  }

  of<T extends KernelEvent['type']>(type: T, tgid: number, where: (e: EventOf<T>) => boolean = () => true): EventOf<T>[] {
    return this.events.filter((e): e is EventOf<T> => e.type === type && e.tgid === tgid && where(e as EventOf<T>));
  }

  async find<T extends KernelEvent['type']>(
    type: T,
    tgid: number,
    what: string,
    where: (e: EventOf<T>) => boolean = () => true,
  ): Promise<EventOf<T>> {
    return waitFor(() => this.of(type, tgid, where)[0], { what });
  }

  /** The exit record closes a process's records: once it is here, everything before it is too. */
  async exited(tgid: number): Promise<void> {
    await this.find(EventType.Exit, tgid, `the exit of ${tgid}`);
  }

  close(): void {
    this.source.close();
  }
}

interface Ran {
  pid: number;
  stdout: string;
  /** key=value lines the trigger printed */
  out: Record<string, string>;
}

/** Runs a command to its end; a trigger that could not do its job fails the test with its stderr. */
function run(command: string, args: string[], expectedExit = 0): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      const status = code ?? -(signal === 'SIGKILL' ? SIGKILL : 1);
      if (status !== expectedExit) {
        reject(new Error(`${command} ${args.join(' ')} exited ${code ?? signal}: ${stderr.trim()}`));
        return;
      }
      const out: Record<string, string> = {};
      for (const line of stdout.split('\n')) {
        const eq = line.indexOf('=');
        if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1);
      }
      resolve({ pid: child.pid!, stdout, out });
    });
  });
}

const trigger = (args: string[], expectedExit = 0) => run(TRIGGER, args, expectedExit);

/** A port nothing listens on right now, for a program that opens its own listener. */
async function freePort(): Promise<number> {
  const server = createServer();
  const port = await listen(server, '127.0.0.1');
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** io_uring_setup, then an OPENAT and a CONNECT submitted through the ring, as the records carry them. */
async function checkIoUringRecords(rec: Recorder): Promise<void> {
  const port = await freePort();
  const ran = await run(IO_URING_OPS, ['/etc/hostname', String(port)]);
  assert.match(ran.stdout, /io_uring_setup: ok\n.*openat: ok\n.*connect: ok/);
  await rec.exited(ran.pid);
  assert.deepEqual(
    rec.of(EventType.IoUring, ran.pid).map((e) => [e.op, e.opcode, e.fd === -100 || e.op === Op.IoUringSetup ? e.fd : 'socket', e.path, e.address, e.port]),
    [
      [Op.IoUringSetup, 0, -1, '', '', 0],
      [Op.IoUringSubmit, IoUringOpcode.Openat, -100, '/etc/hostname', '', 0],
      [Op.IoUringSubmit, IoUringOpcode.Connect, 'socket', '', '127.0.0.1', port],
    ],
  );
}

function nsInode(pid: number | 'self', ns: string): number {
  return Number(/\[(\d+)\]/.exec(readlinkSync(`/proc/${pid}/ns/${ns}`))![1]);
}

function listen(server: Server, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : 0);
    });
  });
}

before(() => {
  execFileSync('make', ['-s', 'bpf', 'build/ks-trigger', 'simulator'], { cwd: REPO, stdio: ['ignore', 'ignore', 'inherit'] });
});

describe('kernel programs (tp_btf variants where the kernel has them)', () => {
  let rec: Recorder;
  let scratch: string;

  before(() => {
    rec = new Recorder();
    scratch = mkdtempSync(path.join(tmpdir(), 'ks-bpf-'));
  });

  after(() => {
    rec.close();
    rmSync(scratch, { recursive: true, force: true });
  });

  test('exec reports path, argv, argc, parent, credentials, host namespaces and the executable inode', async () => {
    const ran = await trigger(['exit', '0']);
    const exec = await rec.find(EventType.Exec, ran.pid, 'the exec of ks-trigger');
    const stat = statSync(TRIGGER, { bigint: true });
    assert.equal(exec.path, TRIGGER);
    assert.equal(exec.exePath, realpathSync(TRIGGER), 'the executed file, resolved');
    assert.deepEqual(exec.argv, [TRIGGER, 'exit', '0']);
    assert.equal(exec.argc, 3);
    assert.equal(exec.ppid, process.pid);
    assert.equal(exec.comm, 'ks-trigger');
    assert.equal(exec.uid, process.getuid!());
    assert.equal(exec.euid, process.geteuid!());
    assert.equal(exec.exeIno, stat.ino);
    assert.equal(exec.exeDev, kernelDevOf(stat.dev));
    assert.equal(exec.exeMtimeNs, stat.mtimeNs);
    assert.equal(exec.exeNlink, 1);
    assert.equal(exec.exeFlags, 0);
    assert.equal(exec.flags & HeaderFlag.Truncated, 0);
    // the child runs in this process's namespaces
    for (const [field, ns] of [['mnt', 'mnt'], ['pid', 'pid'], ['net', 'net'], ['user', 'user'], ['uts', 'uts'], ['ipc', 'ipc'], ['cgroup', 'cgroup']] as const) {
      assert.equal(exec.ns[field], nsInode('self', ns), `${ns} namespace`);
    }
    assert.ok((exec.capEffective >> CAP_SYS_ADMIN) & 1n, 'root has CAP_SYS_ADMIN');
  });

  test('an argv longer than the record keeps the real argc and is flagged truncated', async () => {
    const args = Array.from({ length: 100 }, (_, i) => `argument-${i}`);
    const ran = await run('/bin/true', args);
    const exec = await rec.find(EventType.Exec, ran.pid, 'the exec of /bin/true');
    assert.equal(exec.argc, 101);
    assert.ok(exec.flags & HeaderFlag.Truncated);
    assert.deepEqual(exec.argv.slice(0, 3), ['/bin/true', 'argument-0', 'argument-1']);
  });

  test('executing a memfd is flagged memfd (and unlinked: a memfd has no links)', async () => {
    const ran = await trigger(['memfd-exec', 'ks-payload']);
    const exec = await rec.find(EventType.Exec, ran.pid, 'the exec of the memfd', (e) => e.argv[0] === 'true');
    assert.equal(exec.exeFlags, ExecFlag.Memfd | ExecFlag.Unlinked);
    assert.equal(exec.exeNlink, 0);
  });

  test('executing a deleted file is flagged unlinked, not memfd', async () => {
    const ran = await trigger(['unlinked-exec', path.join(scratch, 'deleted-true')]);
    const exec = await rec.find(EventType.Exec, ran.pid, 'the exec of the deleted file', (e) => e.argv[0] === 'true');
    assert.equal(exec.exeFlags, ExecFlag.Unlinked);
  });

  test('fork reports a new process, with the child identity its own records carry; threads are not reported', async () => {
    const ran = await trigger(['fork']);
    const child = Number(ran.out.child);
    const fork = await rec.find(EventType.Fork, ran.pid, 'the fork', (e) => e.childTgid === child);
    assert.equal(fork.childPid, child);
    const childExit = await rec.find(EventType.Exit, child, 'the exit of the forked child');
    assert.equal(childExit.startBoottimeNs, fork.childStartBoottimeNs);
    assert.equal(fork.cloneFlags & 0x100n, 0n, 'fork() shares no memory');

    const threaded = await trigger(['thread']);
    await rec.exited(threaded.pid);
    assert.deepEqual(rec.of(EventType.Fork, threaded.pid), []);
  });

  test('every record carries its process\'s start time, the same from exec to exit; a fork record carries the parent\'s', async () => {
    const unshared = await trigger(['unshare-uts']);
    const exec = await rec.find(EventType.Exec, unshared.pid, 'the exec of the trigger');
    const ns = await rec.find(EventType.Namespace, unshared.pid, 'the unshare');
    const exit = await rec.find(EventType.Exit, unshared.pid, 'the exit of the trigger');
    assert.ok(exec.startBoottimeNs > 0n && exec.startBoottimeNs <= exec.ktimeNs);
    assert.deepEqual([ns.startBoottimeNs, exit.startBoottimeNs], [exec.startBoottimeNs, exec.startBoottimeNs]);

    const forked = await trigger(['fork']);
    const child = Number(forked.out.child);
    const fork = await rec.find(EventType.Fork, forked.pid, 'the fork', (e) => e.childTgid === child);
    assert.equal(fork.startBoottimeNs, (await rec.find(EventType.Exec, forked.pid, 'the exec of the forking trigger')).startBoottimeNs);
    assert.equal((await rec.find(EventType.Exit, child, 'the exit of the forked child')).startBoottimeNs, fork.childStartBoottimeNs);
  });

  test('exit is reported once per process with the wait(2) status', async () => {
    const ran = await trigger(['exit', '3'], 3);
    await rec.exited(ran.pid);
    const exits = rec.of(EventType.Exit, ran.pid);
    assert.equal(exits.length, 1);
    assert.equal(exits[0].exitCode, 3 << 8);
    const exec = rec.of(EventType.Exec, ran.pid)[0];
    assert.equal(exits[0].startBoottimeNs, exec.startBoottimeNs);

    const killed = await trigger(['kill-self'], -SIGKILL);
    assert.equal((await rec.find(EventType.Exit, killed.pid, 'the exit of the killed trigger')).exitCode, SIGKILL);

    const threaded = await trigger(['thread']);
    await rec.exited(threaded.pid);
    assert.equal(rec.of(EventType.Exit, threaded.pid).length, 1, 'a thread exiting does not end the process');
  });

  test('unshare and clone3 with CLONE_NEW* flags are reported; plain fork is not', async () => {
    const unshared = await trigger(['unshare-uts']);
    const ns = await rec.find(EventType.Namespace, unshared.pid, 'the unshare');
    assert.equal(ns.op, Op.Unshare);
    assert.equal(ns.cloneFlags, CLONE_NEWUTS);

    const cloned = await trigger(['clone3-uts']);
    const clone3 = await rec.find(EventType.Namespace, cloned.pid, 'the clone3');
    assert.equal(clone3.op, Op.Clone3);
    assert.equal(clone3.cloneFlags, CLONE_NEWUTS);
    const fork = await rec.find(EventType.Fork, cloned.pid, 'the fork of clone3');
    assert.equal(fork.cloneFlags & CLONE_NEWUTS, CLONE_NEWUTS, 'the child is seen in a new UTS namespace');

    const forked = await trigger(['fork']);
    await rec.exited(forked.pid);
    assert.deepEqual(rec.of(EventType.Namespace, forked.pid), []);
  });

  test('setns on an nsfs file names the target namespace; on a pidfd the target is unknown', async () => {
    const ran = await trigger(['setns-uts']);
    const setns = await rec.find(EventType.Setns, ran.pid, 'the setns');
    assert.equal(setns.fd, Number(ran.out.fd));
    assert.equal(setns.nstype, Number(CLONE_NEWUTS));
    assert.equal(setns.targetNsIno, nsInode('self', 'uts'));
    assert.equal(setns.targetNsType, Number(CLONE_NEWUTS));

    const pidfd = await trigger(['setns-pidfd']);
    const viaPidfd = await rec.find(EventType.Setns, pidfd.pid, 'the setns on a pidfd');
    assert.equal(viaPidfd.targetNsIno, 0);
    assert.equal(viaPidfd.targetNsType, 0);
  });

  test('mount, umount2, fsopen, fsconfig, fsmount, move_mount, chroot and pivot_root are reported with their strings', async () => {
    const dir = path.join(scratch, 'mnt');
    mkdirSync(dir);
    const ran = await trigger(['mounts', dir]);
    await rec.exited(ran.pid);
    const mounts = rec.of(EventType.Mount, ran.pid);
    const mount = mounts.find((m) => m.op === Op.Mount && m.target === dir);
    assert.ok(mount, 'mount(2) of the tmpfs');
    assert.deepEqual([mount.source, mount.fstype, mount.mountFlags], ['ks-source', 'tmpfs', 2n /* MS_NOSUID */]);
    assert.ok(mounts.some((m) => m.op === Op.Umount && m.target === dir && m.mountFlags === 2n /* MNT_DETACH */));
    assert.ok(mounts.some((m) => m.op === Op.Fsopen && m.fstype === 'tmpfs'));
    const create = mounts.find((m) => m.op === Op.Fsconfig);
    assert.ok(create, 'fsconfig(FSCONFIG_CMD_CREATE)');
    // the type comes from the fs_context the fd holds, not from the caller: fsconfig passes none
    assert.deepEqual([create.mountFlags, create.fstype, create.source, create.facts], [6n /* FSCONFIG_CMD_CREATE */, 'tmpfs', '', 0]);
    assert.ok(mounts.some((m) => m.op === Op.Fsmount));
    assert.ok(mounts.some((m) => m.op === Op.MoveMount && m.target === dir));
    const roots = rec.of(EventType.RootChange, ran.pid);
    assert.ok(roots.some((r) => r.op === Op.Chroot && r.newRoot === '/'));
    assert.ok(roots.some((r) => r.op === Op.PivotRoot && r.newRoot === dir && r.putOld === `${dir}/old`));
    assert.ok(rec.of(EventType.Namespace, ran.pid).some((n) => n.cloneFlags === CLONE_NEWNS));
  });

  test('opens are reported only when the path matches a pattern, with the pattern that matched', async () => {
    const cases: Array<[string, string[], number | null]> = [
      ['openat', ['/etc/shadow'], PatternId.shadow],
      ['openat', ['/etc/shadow-'], null], // exact means exact
      ['openat', ['/etc/passwd'], null],
      ['openat', [path.join(scratch, 'x')], null],
      ['openat', ['/tmp/ks-bpf-test-anything'], PatternId.prefix],
      ['openat', ['/tmp/ks-sfx-a.key'], PatternId.suffix],
      ['openat', ['/tmp/ks-sfx-a.key.bak'], null],
      ['openat', ['/tmp/ks-ifx-1/a/secret/b'], PatternId.infix],
      ['openat', ['/tmp/ks-ifx-1/a/public/b'], null],
    ];
    for (const [how, args, patternId] of cases) {
      const ran = await trigger([how, ...args]);
      await rec.exited(ran.pid);
      const opens = rec.of(EventType.Open, ran.pid);
      if (patternId === null) {
        assert.deepEqual(opens, [], `${args[0]} is not sensitive`);
      } else {
        assert.equal(opens.length, 1, `${args[0]} is reported once`);
        assert.deepEqual([opens[0].path, opens[0].patternId, opens[0].op, opens[0].dirfd], [args[0], patternId, Op.Openat, AT_FDCWD]);
      }
    }
  });

  test('open, openat2 and creat are matched like openat and carry their flags', async () => {
    const O_CLOEXEC = 0o2000000;
    const O_CREAT_WRONLY_TRUNC = 0o100 | 0o1 | 0o1000;
    const expectations: Array<[string, string, number, number]> = [
      ['open', '/etc/shadow', Op.Open, 0],
      ['openat2', '/etc/shadow', Op.Openat2, O_CLOEXEC],
      ['creat', '/tmp/ks-bpf-test-created', Op.Creat, O_CREAT_WRONLY_TRUNC],
    ];
    for (const [how, file, op, flags] of expectations) {
      const ran = await trigger([how, file]);
      const open = await rec.find(EventType.Open, ran.pid, `the ${how}`);
      assert.deepEqual([open.op, open.path, open.openFlags], [op, file, flags]);
    }
    rmSync('/tmp/ks-bpf-test-created', { force: true });
  });

  test('open_by_handle_at is always reported, with the mount fd', async () => {
    const ran = await trigger(['open-by-handle', '/etc/hosts']);
    const open = await rec.find(EventType.Open, ran.pid, 'the open_by_handle_at');
    assert.equal(open.op, Op.OpenByHandleAt);
    assert.equal(open.dirfd, Number(ran.out.mount_fd));
    assert.equal(open.path, '');
  });

  test('the first writes on a fresh TCP connection are reported with their stream offsets, over IPv4 and IPv6', async () => {
    const server = createServer((socket) => socket.resume());
    const port = await listen(server, '127.0.0.1');
    try {
      const ran = await trigger(['tcp-send', String(port)]);
      const connect = await rec.find(EventType.Connect, ran.pid, 'the connect');
      assert.deepEqual([connect.family, connect.address, connect.port, connect.fd], [AddressFamily.Inet, '127.0.0.1', port, Number(ran.out.fd)]);
      await rec.exited(ran.pid);
      const payloads = rec.of(EventType.Payload, ran.pid);
      assert.deepEqual(
        payloads.map((p) => [p.kind, p.op, p.port, p.totalLen, p.streamOffset, Buffer.from(p.data).toString()]),
        [
          [PayloadKind.TcpFirstBytes, Op.Write, port, 11, 0, 'FIRST-BYTES'],
          [PayloadKind.TcpFirstBytes, Op.Sendto, port, 6, 11, 'second'],
        ],
        'each of the first writes, with its offset in the stream',
      );
    } finally {
      server.close();
    }

    const serverIov = createServer((socket) => socket.resume());
    const portIov = await listen(serverIov, '127.0.0.1');
    try {
      const ran = await trigger(['tcp-iovecs', String(portIov)]);
      await rec.exited(ran.pid);
      assert.deepEqual(
        rec.of(EventType.Payload, ran.pid).map((p) => [p.op, p.streamOffset, Buffer.from(p.data).toString()]),
        [[Op.Writev, 0, 'a'], [Op.Writev, 1, 'bc'], [Op.Sendmsg, 3, 'd'], [Op.Sendmsg, 4, 'ef']],
        'writev and sendmsg report each iovec as a write of the stream',
      );
    } finally {
      serverIov.close();
    }

    const server6 = createServer((socket) => socket.resume());
    const port6 = await listen(server6, '::1');
    try {
      const ran = await trigger(['tcp6-nonblock-send', String(port6)]);
      const payload = await rec.find(EventType.Payload, ran.pid, 'the first IPv6 bytes');
      assert.deepEqual([payload.family, payload.address, payload.port, payload.op], [AddressFamily.Inet6, '::1', port6, Op.Sendmsg]);
      assert.equal(Buffer.from(payload.data).toString(), 'v6-first');
    } finally {
      server6.close();
    }
  });

  test('a connect carries its socket\'s type and protocol: TCP and UDP over IPv4, TCP over IPv6, a unix stream socket', async () => {
    const socketKind = (c: ConnectEvent) => [c.family, c.port, c.sockType, c.protocol];
    const server = createServer((socket) => socket.resume());
    const port = await listen(server, '127.0.0.1');
    const server6 = createServer((socket) => socket.resume());
    const port6 = await listen(server6, '::1');
    try {
      const tcp = await trigger(['tcp-send', String(port)]);
      assert.deepEqual(socketKind(await rec.find(EventType.Connect, tcp.pid, 'the TCP connect')),
        [AddressFamily.Inet, port, SocketType.Stream, IpProtocol.Tcp]);
      const tcp6 = await trigger(['tcp6-nonblock-send', String(port6)]);
      assert.deepEqual(socketKind(await rec.find(EventType.Connect, tcp6.pid, 'the IPv6 TCP connect')),
        [AddressFamily.Inet6, port6, SocketType.Stream, IpProtocol.Tcp]);
    } finally {
      server.close();
      server6.close();
    }
    const udp = await trigger(['dns']);
    assert.deepEqual(socketKind(await rec.find(EventType.Connect, udp.pid, 'the UDP connect')),
      [AddressFamily.Inet, 53, SocketType.Dgram, IpProtocol.Udp]);
    const unix = await trigger(['unix-connect', path.join(scratch, 'nobody-listens.sock')]);
    assert.deepEqual(socketKind(await rec.find(EventType.Connect, unix.pid, 'the unix connect')),
      [AddressFamily.Unix, 0, SocketType.Stream, 0], 'a unix socket: its type only');
  });

  test('DNS queries over UDP are reported, sent to port 53 or on a socket connected to it', async () => {
    const ran = await trigger(['dns']);
    await rec.exited(ran.pid);
    const queries = rec.of(EventType.Payload, ran.pid);
    assert.equal(queries.length, 2);
    for (const query of queries) {
      assert.equal(query.kind, PayloadKind.DnsQuery);
      assert.equal(query.port, 53);
      assert.match(Buffer.from(query.data).toString('latin1'), /\x07example\x03com/);
    }
    assert.deepEqual(queries.map((q) => [q.op, q.address, q.fd]), [
      [Op.Sendto, '127.0.0.53', Number(ran.out.fd)],
      [Op.Write, '127.0.0.1', Number(ran.out.connected_fd)],
    ]);
  });

  test('DNS answers received on a socket a query went out on are reported (recvfrom, recvmsg); the server\'s receives are not', async () => {
    const ran = await trigger(['dns-answer']);
    await rec.exited(ran.pid);
    const answers = rec.of(EventType.Payload, ran.pid).filter((p) => p.kind === PayloadKind.DnsAnswer);
    assert.deepEqual(answers.map((a) => [a.op, a.fd, a.address, a.port, a.totalLen, a.data.length]), [
      [Op.Recvfrom, Number(ran.out.fd), '127.0.0.77', 53, Number(ran.out.answer_len), Number(ran.out.answer_len)],
      [Op.Recvmsg, Number(ran.out.connected_fd), '127.0.0.77', 53, Number(ran.out.answer_len), Number(ran.out.answer_len)],
    ]);
    for (const a of answers) assert.deepEqual([...a.data.slice(-4)], [203, 0, 113, 50], 'the A record\'s address');
  });

  test('io_uring_setup is reported, and OPENAT and CONNECT requests submitted through a ring with path and peer', () =>
    checkIoUringRecords(rec));

  test('a successful listen is reported with its port, address, protocol and backlog; the port an unbound listen got too; a failed one not', async () => {
    const port = await freePort();
    const ran = await trigger(['listen', String(port)]);
    await rec.exited(ran.pid);
    const listens = rec.of(EventType.Listen, ran.pid);
    assert.deepEqual(
      listens.map((l) => [l.op, l.fd, l.family, l.address, l.port, l.protocol, l.sockType, l.backlog]),
      [
        [Op.Listen, Number(ran.out.fd), AddressFamily.Inet, '127.0.0.1', port, 6, 1, 7],
        [Op.Listen, Number(ran.out.bound6), AddressFamily.Inet6, '::1', Number(ran.out.bound6_port), 6, 1, 5],
        [Op.Listen, Number(ran.out.fd6), AddressFamily.Inet6, '::', Number(ran.out.port6), 6, 1, 3],
      ],
      'the UDP socket\'s failed listen is not reported',
    );
    assert.ok(Number(ran.out.port6) > 0 && Number(ran.out.bound6_port) > 0, 'ports the kernel picked');
  });

  test('connect to unix sockets reports the path, abstract names with a leading @', async () => {
    const socketPath = path.join(scratch, 'nobody-listens.sock');
    const ran = await trigger(['unix-connect', socketPath]);
    const connect = await rec.find(EventType.Connect, ran.pid, 'the unix connect');
    assert.deepEqual([connect.family, connect.unixPath], [AddressFamily.Unix, socketPath]);
    const abstract = await trigger(['unix-connect', '@ks-abstract-name']);
    assert.equal((await rec.find(EventType.Connect, abstract.pid, 'the abstract connect')).unixPath, '@ks-abstract-name');
  });

  test('ptrace reports the request and resolves the tracee to its host tgid, detach included', async () => {
    const ran = await trigger(['ptrace-attach']);
    const child = Number(ran.out.child);
    await rec.exited(ran.pid);
    const calls = rec.of(EventType.Ptrace, ran.pid);
    assert.deepEqual(calls.map((c) => [c.op, Number(c.request), c.targetPidArg, c.targetTgid]), [
      [Op.Ptrace, 16 /* ATTACH */, child, child],
      [Op.Ptrace, 2 /* PEEKDATA */, child, child],
      [Op.Ptrace, 17 /* DETACH */, child, child],
    ]);
    assert.equal(calls[1].addr, 0x1000n);
  });

  test('process_vm_writev reports the target pid and the remote address', async () => {
    const ran = await trigger(['process-vm-writev']);
    const write = await rec.find(EventType.Ptrace, ran.pid, 'the process_vm_writev');
    assert.deepEqual([write.op, write.targetPidArg, write.addr], [Op.ProcessVmWritev, ran.pid, BigInt(ran.out.addr)]);
  });

  test('bpf(BPF_PROG_LOAD) reports the program type; perf_event_open the attr type and config', async () => {
    const loaded = await trigger(['bpf-prog-load']);
    const bpf = await rec.find(EventType.Bpf, loaded.pid, 'the bpf() call');
    assert.deepEqual([bpf.op, bpf.cmd, bpf.progType], [Op.Bpf, 5 /* BPF_PROG_LOAD */, 1 /* SOCKET_FILTER */]);
    const perf = await trigger(['perf-event-open']);
    const event = await rec.find(EventType.Bpf, perf.pid, 'the perf_event_open');
    assert.deepEqual([event.op, event.cmd, event.config, event.targetPid], [Op.PerfEventOpen, 1 /* SOFTWARE */, 0n /* CPU_CLOCK */, 0]);
  });

  test('memfd_create reports its name and flags; userfaultfd its flags', async () => {
    const memfd = await trigger(['memfd', 'ks-anonymous']);
    const created = await rec.find(EventType.FdCreate, memfd.pid, 'the memfd_create');
    assert.deepEqual([created.op, created.name, created.fdFlags], [Op.MemfdCreate, 'ks-anonymous', 1 /* MFD_CLOEXEC */]);
    const uffd = await trigger(['userfaultfd']);
    const fault = await rec.find(EventType.FdCreate, uffd.pid, 'the userfaultfd');
    assert.deepEqual([fault.op, fault.fdFlags], [Op.Userfaultfd, 0o2000000 /* O_CLOEXEC */]);
  });

  test('the setuid family reports ids as passed, unchanged ones as -1, with euid and capabilities before', async () => {
    const ran = await trigger(['setresuid']);
    await rec.exited(ran.pid);
    const calls = rec.of(EventType.Creds, ran.pid);
    assert.deepEqual(calls.map((c) => [c.op, ...c.args]), [
      [Op.Setresuid, UNCHANGED, 0, UNCHANGED],
      [Op.Setreuid, 0, UNCHANGED, UNCHANGED],
      [Op.Setfsuid, 0, UNCHANGED, UNCHANGED],
      [Op.Setgid, 0, UNCHANGED, UNCHANGED],
    ]);
    const exec = rec.of(EventType.Exec, ran.pid)[0];
    for (const call of calls) {
      assert.equal(call.euidBefore, 0);
      assert.equal(call.capEffectiveBefore, exec.capEffective);
    }
  });

  test('capset reports the capabilities asked for next to those held', async () => {
    const ran = await trigger(['capset-drop-sys-admin']);
    const capset = await rec.find(EventType.Creds, ran.pid, 'the capset');
    assert.equal(capset.op, Op.Capset);
    assert.equal(capset.capEffectiveNew, capset.capEffectiveBefore & ~(1n << CAP_SYS_ADMIN));
    assert.equal(capset.capPermittedNew, capset.capPermittedBefore);
  });

  test('cgroup2 mkdir and rmdir report the id that tasks inside carry, level and path', async () => {
    const name = `ks-bpf-test-${process.pid}`;
    const dir = path.join(cgroup2Root(), name);
    const ran = await run('/bin/sh', ['-c', `mkdir ${dir} && stat -c %i ${dir} && rmdir ${dir}`]);
    const id = BigInt(ran.stdout.trim());
    // mkdir and rmdir are children of the shell, so their records are found by path
    const cgroupRecord = (op: Op) => () => rec.events.find((e) => e.type === EventType.Cgroup && e.op === op && e.path === `/${name}`);
    const made = await waitFor(cgroupRecord(Op.CgroupMkdir), { what: 'the cgroup mkdir' });
    const removed = await waitFor(cgroupRecord(Op.CgroupRmdir), { what: 'the cgroup rmdir' });
    assert.ok(made.type === EventType.Cgroup && removed.type === EventType.Cgroup);
    assert.deepEqual([made.id, made.level, removed.id], [id, 1, id]);
  });

  test('mkdirs in cgroup v1 hierarchies are not reported', async (t) => {
    const memoryV1 = '/sys/fs/cgroup/memory';
    let isV1 = false;
    try {
      isV1 = statSync(path.join(memoryV1, 'memory.limit_in_bytes')).isFile();
    } catch {
      // a pure cgroup2 host has no v1 hierarchy to be quiet about
    }
    if (!isV1) {
      t.diagnostic('no cgroup v1 memory hierarchy on this host');
      return;
    }
    const name = `ks-bpf-v1-${process.pid}`;
    const ran = await run('/bin/sh', ['-c', `mkdir ${memoryV1}/${name} && rmdir ${memoryV1}/${name} && ${TRIGGER} exit 0`]);
    const marker = await waitFor(() => rec.events.find((e) => e.type === EventType.Exec && e.ppid === ran.pid && e.path === TRIGGER), { what: 'the exec after the v1 mkdir' });
    assert.ok(marker);
    assert.deepEqual(rec.events.filter((e) => e.type === EventType.Cgroup && e.path === `/${name}`), []);
  });

  test('the snapshot reports a process that existed before it, with path, argv and identity', async () => {
    const sleeper = spawn('/bin/sleep', ['30'], { stdio: 'ignore' });
    try {
      await waitFor(() => readlinkSync(`/proc/${sleeper.pid}/exe`) === '/usr/bin/sleep', { what: 'sleep to be running' });
      rec.source.snapshot();
      const snap = await rec.find(EventType.Exec, sleeper.pid!, 'the snapshot of sleep', (e) => (e.exeFlags & ExecFlag.Snapshot) !== 0);
      assert.equal(snap.path, '/usr/bin/sleep');
      assert.deepEqual(snap.argv, ['/bin/sleep', '30']);
      assert.equal(snap.argc, 2);
      assert.equal(snap.ppid, process.pid);
      assert.equal(snap.comm, 'sleep');
      assert.equal(snap.exeIno, statSync('/usr/bin/sleep', { bigint: true }).ino);
      assert.equal(snap.ns.mnt, nsInode(sleeper.pid!, 'mnt'));
      // the snapshot is the same process its later records will name
      sleeper.kill('SIGKILL');
      const exit = await rec.find(EventType.Exit, sleeper.pid!, 'the exit of sleep');
      assert.equal(exit.startBoottimeNs, snap.startBoottimeNs);
    } finally {
      sleeper.kill('SIGKILL');
    }
  });

  test("the agent's own process is never reported", async () => {
    writeFileSync('/tmp/ks-bpf-test-agent-own', 'x'); // an open that matches a pattern, by the agent itself
    rmSync('/tmp/ks-bpf-test-agent-own');
    const ran = await trigger(['openat', '/tmp/ks-bpf-test-after-agent']); // a later record to wait for
    await rec.find(EventType.Open, ran.pid, 'the trigger open');
    assert.deepEqual(rec.events.filter((e) => e.tgid === process.pid), []);
    assert.equal([...rec.source.drops().values()].reduce((a, b) => a + b, 0n), 0n, 'nothing was dropped');
  });
});

describe('kernel programs, seen from inside a real container (podman + runc)', () => {
  let rec: Recorder;
  let container: Container;

  before(async () => {
    rec = new Recorder();
    container = await startContainer();
  });

  after(async () => {
    await container?.remove();
    rec.close();
  });

  test("an exec in the container carries the container's cgroup id and namespaces, and its own view of the path", async () => {
    const ran = await container.exec(['/bin/cat', '/etc/hostname']);
    assert.equal(ran.code, 0, ran.stderr);
    const exec = await waitFor(
      () => rec.events.find((e) => e.type === EventType.Exec && e.cgroupId === container.cgroupId && e.path === '/bin/cat'),
      { what: 'the exec of cat in the container' },
    );
    assert.ok(exec.type === EventType.Exec);
    assert.deepEqual(exec.argv, ['/bin/cat', '/etc/hostname']);
    assert.equal(exec.exePath, '/bin/busybox', 'cat is a link to busybox: the executed file, rooted at the container root');
    for (const ns of ['mnt', 'pid', 'net', 'uts', 'ipc'] as const) {
      assert.equal(exec.ns[ns], nsInode(container.initPid, ns), `${ns} namespace of the container`);
      assert.notEqual(exec.ns[ns], nsInode('self', ns), `${ns} namespace differs from the host's`);
    }
  });

  test('the snapshot rebuilds the executable path as the container sees it', async () => {
    rec.source.snapshot();
    const snap = await rec.find(EventType.Exec, container.initPid, "the snapshot of the container's init", (e) => (e.exeFlags & ExecFlag.Snapshot) !== 0);
    assert.equal(snap.cgroupId, container.cgroupId);
    assert.equal(snap.path, '/bin/busybox', 'sleep is a link to busybox; the exe is busybox, rooted at the container root');
    assert.deepEqual(snap.argv, ['sleep', 'infinity']);
    assert.equal(snap.ns.pid, nsInode(container.initPid, 'pid'));
  });

  test('a sensitive open inside the container is reported with the container path', async () => {
    const ran = await container.exec(['/bin/cat', '/etc/shadow']);
    const open = await waitFor(
      () => rec.events.find((e) => e.type === EventType.Open && e.cgroupId === container.cgroupId && e.path === '/etc/shadow'),
      { what: 'the open of /etc/shadow in the container' },
    );
    assert.ok(open.type === EventType.Open && open.patternId === PatternId.shadow, `cat exited ${ran.code}`);
  });
});

describe('module programs, on stand-in tracepoints (this kernel has no CONFIG_MODULES)', () => {
  test('init_module, finit_module and delete_module records carry op, fd, flags and name', async () => {
    execFileSync('make', ['-s', 'build/ks-probe'], { cwd: REPO, stdio: ['ignore', 'ignore', 'inherit'] });
    const scratch = mkdtempSync(path.join(tmpdir(), 'ks-mod-'));
    const dir = path.join(scratch, 'as-module-name');
    const file = path.join(scratch, 'module-file.ko');
    writeFileSync(file, 'not a module');
    try {
      const probe = await run(path.join(REPO, 'build/ks-probe'), [
        '--retarget', 'sys_enter_delete_module__tp=syscalls/sys_enter_mkdir',
        '--retarget', 'sys_enter_init_module__tp=syscalls/sys_enter_sync',
        '--retarget', 'sys_enter_finit_module__tp=syscalls/sys_enter_lseek',
        path.join(REPO, 'build/kubesentry.bpf.o'), '--', TRIGGER, 'module-stand-ins', dir, file,
      ]);
      const pid = probe.out.pid;
      const records = probe.stdout.split('\n').filter((line) => line.startsWith('module ') && line.includes(` tgid=${pid} `));
      const fields = (line: string) => line.split(' | ')[1];
      assert.deepEqual(records.map(fields), [
        `op=${Op.DeleteModule} fd=-1 flags=1c0 name=${dir}`, // mkdir's mode 0700 where delete_module has flags
        `op=${Op.InitModule} fd=-1 flags=0 name=`,
        `op=${Op.FinitModule} fd=${probe.out.fd} flags=2 name=module-file.ko`, // SEEK_END where finit_module has flags
      ]);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });
});

describe('kernel programs (fallback variants: raw_tp and tracepoint only)', () => {
  let rec: Recorder;

  before(() => {
    rec = new Recorder(['raw_tp', 'tp']);
  });

  after(() => rec.close());

  test('only fallback variants are loaded', () => {
    const chosen = rec.source.hooks().map((h) => h.variant);
    assert.ok(!chosen.includes('tp_btf'));
    assert.ok(chosen.includes('raw_tp') && chosen.includes('tp'));
  });

  test('exec, fork and exit carry the same fields through the fallback programs', async () => {
    const ran = await trigger(['fork']);
    const exec = await rec.find(EventType.Exec, ran.pid, 'the exec via the tracepoint');
    assert.equal(exec.path, TRIGGER);
    assert.deepEqual(exec.argv, [TRIGGER, 'fork']);
    assert.equal(exec.argc, 2, 'argc read from the initial stack');
    assert.equal(exec.exeIno, statSync(TRIGGER, { bigint: true }).ino);
    assert.equal(exec.exePath, realpathSync(TRIGGER));
    const child = Number(ran.out.child);
    const fork = await rec.find(EventType.Fork, ran.pid, 'the fork via raw_tp', (e) => e.childTgid === child);
    const exit = await rec.find(EventType.Exit, child, 'the exit via raw_tp');
    assert.equal(exit.startBoottimeNs, fork.childStartBoottimeNs);
  });

  test('io_uring requests go through the raw_tp program', () => checkIoUringRecords(rec));

  test('cgroup mkdir goes through the raw_tp program', async () => {
    const name = `ks-bpf-fallback-${process.pid}`;
    const dir = path.join(cgroup2Root(), name);
    const ran = await run('/bin/sh', ['-c', `mkdir ${dir} && stat -c %i ${dir} && rmdir ${dir}`]);
    const made = await waitFor(() => rec.events.find((e) => e.type === EventType.Cgroup && e.path === `/${name}`), { what: 'the cgroup mkdir' });
    assert.equal(made.type === EventType.Cgroup && made.id, BigInt(ran.stdout.trim()));
  });
});

describe('urgent wakeups', () => {
  test('a record that may be a detection wakes the reader at once; batched records before it come along', async () => {
    const file = `/tmp/ks-bpf-test-urgent-${process.pid}`; // matches the pattern /tmp/ks-bpf-test-*
    writeFileSync(file, 'x');
    const events: KernelEvent[] = [];
    // The batch threshold is never reached and the reader polls only every 60 s: nothing but an urgent wakeup
    // can bring these records within the wait below.
    const source = openKernelSource({ agentTgid: process.pid, pathPatterns: PATTERNS, wakeupBatchBytes: 1 << 20 });
    try {
      source.start((batch) => decodeBatch(batch, (event) => events.push(event), createDecoderStats()), { pollIntervalMs: 60_000 });
      const read = await run('/bin/cat', [file]); // a read-only open of a pattern path: batched
      const unshared = await trigger(['unshare-uts']); // a namespace record: urgent
      const ns = await waitFor(() => events.find((e) => e.type === EventType.Namespace && e.tgid === unshared.pid), {
        what: 'the unshare, well before the 60 s poll',
        timeoutMs: 10_000,
      });
      assert.ok(ns.ktimeNs > 0n);
      assert.ok(
        events.some((e) => e.type === EventType.Open && e.tgid === read.pid && e.path === file),
        'the read-only open submitted before it arrives with the same read',
      );
    } finally {
      source.close();
      rmSync(file, { force: true });
    }
  });
});

describe('32-bit (int 0x80) system calls', () => {
  const COMPAT_CALL = path.join(REPO, 'build/simulator/compat_call');
  const I386_GETPPID = 64;
  const I386_UNSHARE = 310;
  const CLONE_NEWUSER = 0x10000000;
  let rec: Recorder;

  before(() => {
    const hostMountNs = nsInode('self', 'mnt');
    rec = new Recorder(undefined, { mountNamespaceInode: hostMountNs, devices: [] });
  });
  after(() => rec?.close());

  /** The process's 32-bit syscall records, once its exit record shows that all of them are in. */
  async function compatRecordsOf(pid: number): Promise<EventOf<typeof EventType.CompatSyscall>[]> {
    await rec.exited(pid);
    return rec.of(EventType.CompatSyscall, pid);
  }

  test('a call outside the host mount namespace is reported with its i386 number and registers; a 64-bit call is not', async () => {
    // unshare -m execs the program in place: outside the host's mount namespace, as a container process is.
    const ran = await run('unshare', ['-m', COMPAT_CALL, String(I386_UNSHARE), '0x10000000', '7', '8', '9', '10']);
    assert.match(ran.stdout, /compat_call: 310: ok/);
    const records = await compatRecordsOf(ran.pid);
    assert.deepEqual(
      records.map((e) => [e.nr, e.repeats, e.args.slice(0, 5), (e.flags & ~HeaderFlag.Truncated) >>> 0]),
      [[I386_UNSHARE, 0, [CLONE_NEWUSER, 7, 8, 9, 10], 0]],
      'one record: the 64-bit getppid, write and exit calls of the same process make none',
    );
  });

  test('repeats of a number within the window are folded into the next record of that number', async () => {
    const ran = await run('unshare', ['-m', COMPAT_CALL, '-n', '5', '-p', '1100', String(I386_GETPPID)]);
    const records = await compatRecordsOf(ran.pid);
    assert.deepEqual(records.map((e) => [e.nr, e.repeats]), [[I386_GETPPID, 0], [I386_GETPPID, 4]]);
  });

  test("a harmless call of a number does not hide another process's call of it that a check looks at (unshare(0) first)", async () => {
    const harmless = await run('unshare', ['-m', COMPAT_CALL, String(I386_UNSHARE), '0']);
    const real = await run('unshare', ['-m', COMPAT_CALL, String(I386_UNSHARE), String(CLONE_NEWUSER)]);
    await rec.exited(harmless.pid);
    assert.deepEqual((await compatRecordsOf(real.pid)).map((e) => [e.nr, e.args[0]]), [[I386_UNSHARE, CLONE_NEWUSER]]);
  });

  test('a host process (the host mount namespace) is not reported', async () => {
    const ran = await run(COMPAT_CALL, [String(I386_GETPPID)]);
    assert.deepEqual(await compatRecordsOf(ran.pid), []);
  });
});
