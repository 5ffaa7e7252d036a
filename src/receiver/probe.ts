// What this kernel lets the agent do, for `kubesentry check` and for kernel.ts's choice of hook variants.
// Every hook type is probed the same way: load one tiny program of that type from build/probe.bpf.o (built from
// bpf/probe.bpf.c) and attach it, so a refusal reports the stage and errno the agent itself would hit.

import { existsSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import { fileURLToPath } from 'node:url';
import { KernelError } from './KernelError.ts';
import { nativeAddon } from './nativeAddon.ts';
import { findCgroup2Mount } from './cgroups.ts';
import { readMountInfo } from './mountinfo.ts';

export const HOOK_TYPES = ['tracepoint', 'raw_tp', 'tp_btf', 'iter', 'uprobe', 'lsm', 'fentry'] as const;
export type HookType = (typeof HOOK_TYPES)[number];

export const DEFAULT_BTF_PATH = '/sys/kernel/btf/vmlinux';
export const DEFAULT_TRACEFS_PATH = '/sys/kernel/tracing';
export const DEFAULT_BPFFS_PATH = '/sys/fs/bpf';
export const DEFAULT_PROBE_OBJECT_PATH = fileURLToPath(new URL('../../build/probe.bpf.o', import.meta.url));

/** The program in bpf/probe.bpf.c that stands for each hook type. */
const PROBE_PROGRAM: Record<HookType, string> = {
  tracepoint: 'probe_tracepoint',
  raw_tp: 'probe_raw_tp',
  tp_btf: 'probe_tp_btf',
  iter: 'probe_iter',
  uprobe: 'probe_uprobe',
  lsm: 'probe_lsm',
  fentry: 'probe_fentry',
};
const PROBE_SEND_SIGNAL_PROGRAM = 'probe_send_signal';
const PROBE_UNTRUSTED_LOADS_PROGRAM = 'probe_untrusted_loads';
/** Where probe_tracepoint attaches; a syscall tracepoint, like most of the agent's. */
const PROBE_TRACEPOINT = 'syscalls/sys_enter_getpid';
const PROBE_UPROBE_TARGET = { binary: 'libc.so.6', functionName: 'getpid' };

export interface HookTypeSupport {
  hookType: HookType;
  supported: boolean;
  /** Where a refusal happened. */
  stage?: 'load' | 'attach';
  errno?: number;
  /** One line: why it is refused. */
  reason?: string;
}

export interface FilesystemStatus {
  path: string;
  mounted: boolean;
  /** True when this probe mounted it (it was not mounted before). */
  mountedByProbe: boolean;
  /** Why it is not mounted, when it is not. */
  reason?: string;
}

export interface KernelProbeReport {
  kernelRelease: string;
  libbpfVersion: string;
  btf: { path: string; present: boolean };
  tracefs: FilesystemStatus;
  bpffs: FilesystemStatus;
  ringBuffer: { supported: boolean; errno?: number };
  hookTypes: HookTypeSupport[];
  /** Mount point of the cgroup v2 hierarchy, from /proc/self/mountinfo; null when there is none. */
  cgroup2Mount: string | null;
  /** The agent needs BTF, tracepoints and a ring buffer; everything else has a fallback. */
  canRun: boolean;
  /** One line per reason the agent cannot run. */
  problems: string[];
}

export interface ProbeOptions {
  btfPath?: string;
  tracefsPath?: string;
  bpffsPath?: string;
  probeObjectPath?: string;
  /** Mount tracefs and bpffs when they are not mounted (default true: the agent would do the same). */
  mount?: boolean;
}

/** Mounts `fstype` at `path` unless a filesystem of that type is already mounted there. */
export function ensureMounted(fstype: 'tracefs' | 'bpf', path: string, mount: boolean): FilesystemStatus {
  if (readMountInfo().some((m) => m.fstype === fstype && m.mountPoint === path)) {
    return { path, mounted: true, mountedByProbe: false };
  }
  if (!mount) return { path, mounted: false, mountedByProbe: false, reason: `${fstype} is not mounted at ${path}` };
  try {
    nativeAddon().mountFilesystem(fstype, path);
    return { path, mounted: true, mountedByProbe: true };
  } catch (error) {
    return { path, mounted: false, mountedByProbe: false, reason: (error as Error).message };
  }
}

/** Fails with a one-line KernelError naming the path when the kernel's BTF is not there. */
export function requireBtf(btfPath: string): void {
  if (!existsSync(btfPath)) {
    throw new KernelError('EBTF_MISSING', `kernel BTF not found at ${btfPath} (needs CONFIG_DEBUG_INFO_BTF=y)`, {
      errno: 2,
    });
  }
}

/** The id perf_event_open needs for a tracepoint ('category/name'), or a KernelError when tracefs lacks it. */
export function tracepointId(tracefsPath: string, tracepoint: string): number {
  const idPath = `${tracefsPath}/events/${tracepoint}/id`;
  let text: string;
  try {
    text = readFileSync(idPath, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new KernelError('ETRACEFS', `tracepoint ${tracepoint} not found: cannot read ${idPath} (${code})`, {
      errno: (error as NodeJS.ErrnoException).errno === undefined ? 0 : -(error as NodeJS.ErrnoException).errno!,
      cause: error,
    });
  }
  return Number.parseInt(text, 10);
}

/** Loads and attaches the probe program of each requested hook type, one object per type. */
export function probeHookTypes(
  hookTypes: readonly HookType[],
  options: { btfPath: string; tracefsPath: string; probeObjectPath: string },
): HookTypeSupport[] {
  const addon = nativeAddon();
  if (!existsSync(options.probeObjectPath)) {
    throw new KernelError('EBPF_OPEN', `probe object not found at ${options.probeObjectPath} (run \`make probe\`)`, {
      errno: 2,
    });
  }
  return hookTypes.map((hookType): HookTypeSupport => {
    const program = PROBE_PROGRAM[hookType];
    const object = new addon.BpfObject(options.probeObjectPath, options.btfPath);
    let stage: 'load' | 'attach' = 'load';
    try {
      for (const other of object.programs()) object.setAutoload(other.name, other.name === program);
      object.load();
      stage = 'attach';
      if (hookType === 'tracepoint') {
        object.attachTracepoint(program, tracepointId(options.tracefsPath, PROBE_TRACEPOINT));
      } else if (hookType === 'uprobe') {
        object.attachUprobe(program, PROBE_UPROBE_TARGET.binary, PROBE_UPROBE_TARGET.functionName);
      } else {
        object.attach(program);
      }
      return { hookType, supported: true };
    } catch (error) {
      if (!(error instanceof KernelError)) throw error;
      return { hookType, supported: false, stage, errno: error.errno, reason: refusalReason(hookType, stage, error) };
    } finally {
      object.close();
    }
  });
}

/**
 * Whether the kernel accepts a tracing program that calls bpf_send_signal(), the helper enforcement kills with:
 * the probe program is loaded (the verifier decides), never attached.
 */
export function probeSendSignal(options: { btfPath: string; probeObjectPath: string }): ProgramLoadSupport {
  return probeProgramLoads(PROBE_SEND_SIGNAL_PROGRAM, options);
}

/**
 * Whether this kernel's verifier lets the open programs read the fd array's slot and a file name's bytes with plain
 * loads (bpf/open/untrusted_loads.h): the probe program makes those very loads and is loaded, never attached. 6.18
 * takes them; older verifiers refuse them, and the agent then sets the `untrusted_loads` tunable to 0 (a probe read
 * each, ~30 ns an open) rather than lose the object.
 */
export function probeUntrustedLoads(options: { btfPath: string; probeObjectPath: string }): ProgramLoadSupport {
  return probeProgramLoads(PROBE_UNTRUSTED_LOADS_PROGRAM, options);
}

export interface ProgramLoadSupport {
  supported: boolean;
  errno?: number;
  reason?: string;
}

/** Loads one program of the probe object alone (the verifier decides), never attaches it. */
function probeProgramLoads(program: string, options: { btfPath: string; probeObjectPath: string }): ProgramLoadSupport {
  const object = new (nativeAddon().BpfObject)(options.probeObjectPath, options.btfPath);
  try {
    for (const other of object.programs()) object.setAutoload(other.name, other.name === program);
    object.load();
    return { supported: true };
  } catch (error) {
    if (!(error instanceof KernelError)) throw error;
    return { supported: false, errno: error.errno, reason: error.message };
  } finally {
    object.close();
  }
}

/**
 * One line: what was refused and the kernel's words, plus libbpf's own explanation when it has a specific one
 * (its generic "try raising ulimit -l" hint on EPERM is left out: it is wrong for refusals like lsm's).
 */
function refusalReason(hookType: HookType, stage: 'load' | 'attach', error: KernelError): string {
  if (error.code === 'ETRACEFS') return error.message; // not the kernel's refusal: the tracepoint is not there
  const kernelWords = error.message.slice(error.message.lastIndexOf(': ') + 2);
  const detail = error.verifierLog
    .split('\n')
    .map((line) => line.replace(/^libbpf: (prog '[^']+': )?/, ''))
    .find((line) => line !== '' && !/failed to load|load failed|permission error|failed to load object/.test(line));
  return `the kernel refuses to ${stage} a ${hookType} program: ${kernelWords}${detail === undefined ? '' : ` (${detail})`}`;
}

export function probeKernel(options: ProbeOptions = {}): KernelProbeReport {
  const btfPath = options.btfPath ?? DEFAULT_BTF_PATH;
  const tracefsPath = options.tracefsPath ?? DEFAULT_TRACEFS_PATH;
  const bpffsPath = options.bpffsPath ?? DEFAULT_BPFFS_PATH;
  const probeObjectPath = options.probeObjectPath ?? DEFAULT_PROBE_OBJECT_PATH;
  const mount = options.mount ?? true;
  const addon = nativeAddon();
  const problems: string[] = [];

  const btfPresent = existsSync(btfPath);
  if (!btfPresent) problems.push(`kernel BTF not found at ${btfPath}`);
  const tracefs = ensureMounted('tracefs', tracefsPath, mount);
  if (!tracefs.mounted) problems.push(`tracefs: ${tracefs.reason}`);
  const bpffs = ensureMounted('bpf', bpffsPath, mount);
  const ringBufferErrno = addon.probeMapType('ringbuf');
  if (ringBufferErrno !== 0) problems.push(`BPF ring buffers are not supported (errno ${ringBufferErrno})`);

  let hookTypes: HookTypeSupport[];
  if (btfPresent) {
    hookTypes = probeHookTypes(HOOK_TYPES, { btfPath, tracefsPath, probeObjectPath });
  } else {
    hookTypes = HOOK_TYPES.map((hookType) => ({
      hookType,
      supported: false,
      stage: 'load' as const,
      errno: 2,
      reason: 'not probed: no kernel BTF',
    }));
  }
  const tracepoints = hookTypes.find((h) => h.hookType === 'tracepoint');
  if (btfPresent && !tracepoints?.supported) problems.push(`tracepoints: ${tracepoints?.reason}`);

  return {
    kernelRelease: release(),
    libbpfVersion: addon.libbpfVersion,
    btf: { path: btfPath, present: btfPresent },
    tracefs,
    bpffs,
    ringBuffer: ringBufferErrno === 0 ? { supported: true } : { supported: false, errno: ringBufferErrno },
    hookTypes,
    cgroup2Mount: findCgroup2Mount(readFileSync('/proc/self/mountinfo', 'utf8')),
    canRun: problems.length === 0,
    problems,
  };
}
