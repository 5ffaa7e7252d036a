/**
 * Real containers for tests, through podman + runc, from the local image localhost/kubesentry-busybox:test
 * (built by test/fixtures/busybox/build.sh from busybox-static; no registry is reachable).
 *
 * ensureTestImage() → Promise<void>: builds and imports the image unless it exists. startContainer calls it.
 *
 * startContainer({ podUid, cgroupParent, name, cmd, extraArgs }) → Promise<Container>
 *   podUid        puts the container under --cgroup-parent /kubepods/besteffort/pod<podUid>, the kubelet
 *                 cgroupfs-driver layout, so the agent resolves it to that pod.
 *   cgroupParent  any other parent (wins over podUid).
 *   cmd           the container's init; default `sleep infinity`.
 *   extraArgs     more `podman run` flags, e.g. ['-v', '/host/dir:/x:ro'] or ['--privileged'].
 * Container:
 *   id          full 64-hex container id
 *   name
 *   initPid     host PID of the container's init (podman inspect .State.Pid)
 *   cgroupPath  the container's cgroup2 path relative to the cgroup2 root, read from /proc/<initPid>/cgroup
 *   cgroupId    bigint id of that cgroup (== bpf_get_current_cgroup_id() inside it)
 *   exec(args, { flags, input, timeoutMs })  podman exec → { code, signal, stdout, stderr } (never throws on
 *                             non-zero); flags are extra `podman exec` flags, e.g. ['--user', '65534']
 *   execDetached(args, { flags })  podman exec in the background → run.ts BackgroundProcess (lines, waitForLine,
 *                             exited: its exit code is the in-container command's; kill() ends the podman
 *                             client, stop the container to be sure the command is gone)
 *   pids()      host PIDs currently in the container's cgroup
 *   stop()      podman stop -t 0 (busybox sleep as PID 1 ignores SIGTERM, so waiting would only cost 10 s)
 *   remove()    podman rm -f, then rmdir the now-empty pod cgroup directories podman left behind
 *
 * runContainerToExit({ podUid, cgroupParent, name, cmd, extraArgs }) → Promise<{ id, code, signal, stdout, stderr }>
 *   A container whose cmd is expected to end (or be killed): podman run in the foreground, so code is the cmd's
 *   exit status (137 for SIGKILL) and stdout what it printed; the container is removed afterwards.
 * Containers not removed by the test are force-removed when the test process exits.
 *
 * How podman lays out cgroups on these machines (hybrid: v1 controllers + cgroup2 at /sys/fs/cgroup/unified,
 * no systemd as PID 1): podman detects cgroup v1 and uses the cgroupfs manager (we pass
 * --cgroup-manager cgroupfs anyway, so a systemd host behaves the same). runc creates the container's cgroup
 * as <parent>/libpod-<id> in every v1 hierarchy and also in the cgroup2 tree, so /proc/<pid>/cgroup has a
 * `0::/kubepods/besteffort/pod<uid>/libpod-<id>` line and the BPF side sees that cgroup's id. The container
 * gets no cgroup namespace (the v1 default is the host's). conmon stays in the cgroup2 root and in
 * <parent>/conmon in the v1 hierarchies. Note kubelet + containerd with the cgroupfs driver would name the
 * leaf <id> without the libpod- prefix; kubepodsSystemdPath() in cgroup.ts gives the systemd-driver layout.
 *
 * Quirks: always --runtime runc (crun refuses hybrid cgroups); /etc/containers/containers.conf must have
 * default_ulimits = [] (scripts/setup.sh sets it) or runc fails with "error setting rlimit type 7" because
 * the sandbox lacks CAP_SYS_RESOURCE; --pull never so a missing image fails at once instead of trying a registry.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { cgroupIdOf, cgroupOfPid, cgroupPids } from './cgroup.ts';
import { onExit, run, runOrThrow, spawnBackground, type BackgroundProcess, type RunOptions, type RunResult } from './run.ts';
import { removeEmptyCgroupParent } from '../../src/simulate/podCgroups.ts';

export const TEST_IMAGE = 'localhost/kubesentry-busybox:test';

const BUILD_SCRIPT = fileURLToPath(new URL('../fixtures/busybox/build.sh', import.meta.url));
/** Global podman flags for every call, so that run, exec, inspect and rm agree. */
const PODMAN_GLOBAL = ['--runtime', 'runc', '--cgroup-manager', 'cgroupfs'];
const PODMAN_TIMEOUT_MS = 60_000;

function podman(args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return runOrThrow('podman', [...PODMAN_GLOBAL, ...args], { timeoutMs: PODMAN_TIMEOUT_MS, ...opts });
}

let imageReady: Promise<void> | undefined;

export function ensureTestImage(): Promise<void> {
  imageReady ??= (async () => {
    const exists = await run('podman', ['image', 'exists', TEST_IMAGE]);
    if (exists.code === 0) return;
    await runOrThrow('bash', [BUILD_SCRIPT], { timeoutMs: 180_000 });
  })();
  // A failed build must not be cached as the answer for the rest of the file.
  imageReady.catch(() => {
    imageReady = undefined;
  });
  return imageReady;
}

/**
 * Another image with TEST_IMAGE's root filesystem and a label of its own, so a different image id and digest:
 * what a rebuild that changes nothing the workload does looks like. Returns the image's name and manifest digest.
 */
export async function variantImage(variant: string): Promise<{ image: string; digest: string }> {
  await ensureTestImage();
  const image = `localhost/kubesentry-busybox:${variant}`;
  if ((await run('podman', ['image', 'exists', image])).code !== 0) {
    const scratch = `ks-variant-${randomBytes(4).toString('hex')}`;
    await podman(['create', '--pull', 'never', '--name', scratch, TEST_IMAGE, 'true']);
    try {
      await podman(['commit', '--quiet', '--change', `LABEL io.kubesentry.test.variant=${variant}`, scratch, image]);
    } finally {
      await run('podman', [...PODMAN_GLOBAL, 'rm', '--force', '--ignore', scratch]);
    }
  }
  const digest = (await podman(['image', 'inspect', '--format', '{{.Digest}}', image])).stdout.trim();
  if (!/^sha256:[0-9a-f]{64}$/.test(digest)) throw new Error(`image ${image} has no digest: "${digest}"`);
  return { image, digest };
}

export interface ContainerOptions {
  /** Default TEST_IMAGE. */
  image?: string;
  podUid?: string;
  cgroupParent?: string;
  name?: string;
  cmd?: string[];
  extraArgs?: string[];
}

export interface ExecOptions {
  /** Extra `podman exec` flags, e.g. ['--user', '65534'] or ['--privileged']. */
  flags?: string[];
  /** Written to the command's stdin (adds --interactive). */
  input?: string | Buffer;
  timeoutMs?: number;
}

export interface Container {
  readonly id: string;
  readonly name: string;
  readonly initPid: number;
  readonly cgroupPath: string;
  readonly cgroupId: bigint;
  /** The --cgroup-parent given to podman, if any. */
  readonly cgroupParent: string | undefined;
  exec(args: readonly string[], opts?: ExecOptions): Promise<RunResult>;
  execDetached(args: readonly string[], opts?: Pick<ExecOptions, 'flags'>): BackgroundProcess;
  pids(): number[];
  stop(): Promise<void>;
  remove(): Promise<void>;
}

/** Containers started and not yet removed: id → cgroup parent, for the exit cleanup. */
const liveContainers = new Map<string, string | undefined>();
let cleanupRegistered = false;

export async function startContainer(opts: ContainerOptions = {}): Promise<Container> {
  await ensureTestImage();
  registerCleanup();
  const name = opts.name ?? `ks-test-${randomBytes(4).toString('hex')}`;
  const cgroupParent = opts.cgroupParent ?? (opts.podUid !== undefined ? `/kubepods/besteffort/pod${opts.podUid}` : undefined);
  const runArgs = [
    'run', '--detach', '--pull', 'never', '--name', name,
    ...(cgroupParent !== undefined ? ['--cgroup-parent', cgroupParent] : []),
    ...(opts.extraArgs ?? []),
    opts.image ?? TEST_IMAGE,
    ...(opts.cmd ?? ['sleep', 'infinity']),
  ];
  let started: RunResult;
  try {
    started = await podman(runArgs);
  } catch (err) {
    // A container whose init cannot start stays behind in "Created" state under our name.
    await run('podman', [...PODMAN_GLOBAL, 'rm', '--force', '--ignore', '--time', '0', name]);
    removeEmptyParent(cgroupParent);
    throw err;
  }
  const id = started.stdout.trim().split('\n').at(-1) ?? '';
  if (!/^[0-9a-f]{64}$/.test(id)) throw new Error(`podman run printed no container id: "${started.stdout.trim()}"`);
  liveContainers.set(id, cgroupParent);

  try {
    const inspected = await podman(['inspect', '--format', '{{.State.Pid}}', id]);
    const initPid = Number(inspected.stdout.trim());
    if (!Number.isInteger(initPid) || initPid <= 0) {
      throw new Error(`container ${name} has no running init (State.Pid "${inspected.stdout.trim()}"); did its cmd exit at once?`);
    }
    const cgroupPath = cgroupOfPid(initPid);
    const cgroupId = cgroupIdOf(cgroupPath);
    return makeContainer({ id, name, initPid, cgroupPath, cgroupId, cgroupParent });
  } catch (err) {
    await removeContainer(id);
    throw err;
  }
}

/** Runs a container in the foreground until its cmd ends; `id` names it in the agent's detections. */
export async function runContainerToExit(opts: ContainerOptions = {}): Promise<RunResult & { id: string }> {
  await ensureTestImage();
  registerCleanup();
  const name = opts.name ?? `ks-test-${randomBytes(4).toString('hex')}`;
  const cgroupParent = opts.cgroupParent ?? (opts.podUid !== undefined ? `/kubepods/besteffort/pod${opts.podUid}` : undefined);
  const result = await run('podman', [
    ...PODMAN_GLOBAL, 'run', '--pull', 'never', '--name', name,
    ...(cgroupParent !== undefined ? ['--cgroup-parent', cgroupParent] : []),
    ...(opts.extraArgs ?? []),
    TEST_IMAGE,
    ...(opts.cmd ?? ['true']),
  ], { timeoutMs: PODMAN_TIMEOUT_MS });
  const inspected = await run('podman', [...PODMAN_GLOBAL, 'inspect', '--format', '{{.Id}}', name]);
  const id = inspected.stdout.trim();
  if (!/^[0-9a-f]{64}$/.test(id)) throw new Error(`podman run left no container ${name}: ${result.stderr}${inspected.stderr}`);
  liveContainers.set(id, cgroupParent);
  await removeContainer(id);
  return { ...result, id };
}

function makeContainer(c: {
  id: string;
  name: string;
  initPid: number;
  cgroupPath: string;
  cgroupId: bigint;
  cgroupParent: string | undefined;
}): Container {
  return {
    ...c,
    exec: (args, opts = {}) =>
      run(
        'podman',
        [...PODMAN_GLOBAL, 'exec', ...(opts.input !== undefined ? ['--interactive'] : []), ...(opts.flags ?? []), c.id, ...args],
        { timeoutMs: opts.timeoutMs ?? PODMAN_TIMEOUT_MS, input: opts.input },
      ),
    execDetached: (args, opts = {}) => spawnBackground('podman', [...PODMAN_GLOBAL, 'exec', ...(opts.flags ?? []), c.id, ...args]),
    pids: () => cgroupPids(c.cgroupPath),
    stop: async () => {
      await podman(['stop', '--time', '0', c.id]);
    },
    remove: () => removeContainer(c.id),
  };
}

async function removeContainer(id: string): Promise<void> {
  if (!liveContainers.has(id)) return;
  const parent = liveContainers.get(id);
  await podman(['rm', '--force', '--time', '0', id]);
  liveContainers.delete(id);
  removeEmptyParent(parent);
}

/**
 * podman creates the parent in every hierarchy (v1 and cgroup2) and never removes it; test pods are one-off
 * names, so clean them up or they pile up across runs. Fails quietly while another container still uses it.
 */
function removeEmptyParent(parent: string | undefined): void {
  if (parent === undefined || [...liveContainers.values()].includes(parent)) return;
  removeEmptyCgroupParent(parent);
}

function registerCleanup(): void {
  if (cleanupRegistered) return;
  cleanupRegistered = true;
  onExit(() => {
    if (liveContainers.size === 0) return;
    const ids = [...liveContainers.keys()];
    spawnSync('podman', [...PODMAN_GLOBAL, 'rm', '--force', '--time', '0', ...ids], { stdio: 'ignore', timeout: 60_000 });
    const parents = [...new Set(liveContainers.values())];
    liveContainers.clear();
    for (const parent of parents) removeEmptyParent(parent);
  });
}
