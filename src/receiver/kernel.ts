// The kernel side of the receiver as the agent sees it: open → (choose hook variants, configure, load) →
// start(onBatch) (attach, drain the ring buffer in batches) → snapshot() → close().
//
// Hook variants. Every hook in the object comes as programs named `<hook>__tp_btf`, `<hook>__raw_tp` and/or
// `<hook>__tp`; exactly one per hook is loaded. The preference is tp_btf > raw_tp > tp, limited to the hook types
// this kernel accepts (probed with build/probe.bpf.o) and, for tp, to tracepoints present in tracefs. A variant
// the verifier still refuses is demoted and the object reloaded with the next one, so one odd hook never costs
// the others their best variant. hooks() reports the choice and why every other variant was not taken.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { getSystemErrorName } from 'node:util';
import { compilePathPattern, MAX_PATH_PATTERNS, pathPatternLeaf, type CompiledPathPattern } from './pathPatterns.ts';
import { EVENT_TYPE_MAX, EventType } from './events.ts';
import { MAX_HOST_FILESYSTEMS } from './hostFilesystems.ts';
import { KernelError } from './KernelError.ts';
import { LAYOUT } from './layout.ts';
import {
  nativeAddon,
  type NativeBpfObject,
  type NativeReaderOptions,
  type NativeReaderStats,
  type NativeRingBufferReader,
} from './nativeAddon.ts';
import {
  DEFAULT_BPFFS_PATH,
  DEFAULT_BTF_PATH,
  DEFAULT_PROBE_OBJECT_PATH,
  DEFAULT_TRACEFS_PATH,
  ensureMounted,
  probeHookTypes,
  probeUntrustedLoads,
  requireBtf,
  tracepointId,
  type HookType,
} from './probe.ts';
import {
  ENFORCEMENT_OUTCOMES,
  EnforcementMode,
  EnforceLevelsSlot,
  KERNEL_ENFORCE_CHECK_MAX,
  type EnforcementModeName,
  type EnforcementOutcome,
  type KernelEnforceCheck,
} from './enforcement.ts';

export const DEFAULT_OBJECT_PATH = fileURLToPath(new URL('../../build/kubesentry.bpf.o', import.meta.url));

/** In preference order. */
export const HOOK_VARIANTS = ['tp_btf', 'raw_tp', 'tp'] as const;
export type HookVariant = (typeof HOOK_VARIANTS)[number];

const VARIANT_HOOK_TYPE: Record<HookVariant, HookType> = { tp_btf: 'tp_btf', raw_tp: 'raw_tp', tp: 'tracepoint' };
/** The section prefix libbpf gives each variant; checked so a misnamed program fails loudly. */
const VARIANT_SECTIONS: Record<HookVariant, readonly string[]> = {
  tp_btf: ['tp_btf/'],
  raw_tp: ['raw_tp/', 'raw_tracepoint/'],
  tp: ['tracepoint/', 'tp/'],
};

// Names fixed by the contract in bpf/events.h and bpf/lib/maps.h.
const UNTRUSTED_LOADS_TUNABLE = 'untrusted_loads';
/** The programs that take the untrusted loads under that tunable (bpf/open.bpf.c). */
const UNTRUSTED_LOAD_PROGRAMS = /^sys_exit_(openat2?|open|creat)__tp$/;
const CONTAINER_ROOT_IDS_MAP = 'container_root_ids';
const CONTAINER_ROOT_LEVELS_MAP = 'container_root_levels';
/** KS_MAX_CONTAINER_ROOTS in bpf/lib/maps.h. */
const MAX_CONTAINER_ROOTS = 4;
const EVENTS_MAP = 'events';
const DROPS_MAP = 'drops';
const CGROUP_DROPS_MAP = 'cgroup_drops';
const DROPS_UNATTRIBUTED_MAP = 'drops_unattributed';
const PATH_PATTERNS_MAP = 'path_patterns';
const PATH_HEADS_MAP = 'path_heads';
const PATH_KEY_LENS_MAP = 'path_key_lens';
const HOST_FILESYSTEMS_MAP = 'host_filesystems';
const HOST_MNT_NS_TUNABLE = 'host_mnt_ns_inum';
export const LEAF_HEADS_MAP = 'leaf_heads';
const LEAF_KEY_LENS_MAP = 'leaf_key_lens';
const ENFORCE_MODE_MAP = 'enforce_mode';
const ENFORCE_CGROUPS_MAP = 'enforce_cgroups';
const ENFORCE_FSTYPES_MAP = 'enforce_fstypes';
const ENFORCE_ACTIONS_MAP = 'enforce_actions';
const HOST_NAMESPACES_MAP = 'host_namespaces';
const ENFORCE_LEVELS_MAP = 'enforce_levels';
const ENFORCE_PENDING_MAP = 'enforce_pending';
/** KS_FSTYPE_LEN: enforce_fstypes' key, a zero-padded filesystem type. */
const FSTYPE_KEY_BYTES = 32;
const SNAPSHOT_PROGRAM = 'snapshot_tasks__iter';
const ITERATOR_SUFFIX = '__iter';
const BPF_STATS_SYSCTL = '/proc/sys/kernel/bpf_stats_enabled';

const PAGE_SIZE = 4096;
const MAX_RING_BYTES = 1 << 30;

export interface KernelSourceOptions {
  /** Default: build/kubesentry.bpf.o of this checkout. */
  objectPath?: string;
  /** The agent's own process id: its events are dropped in the kernel rather than fed back. */
  agentTgid: number;
  /** Wake the reader once this many bytes wait in the ring; 0 wakes on every record. Default: the object's. */
  wakeupBatchBytes?: number;
  /**
   * Records that may be a detection on their own wake the reader at once, at most once per this many µs per CPU
   * (bpf/lib/maps.h urgent_wakeup_gap_ns); 0 batches them like the rest. Default: the object's (1000).
   */
  urgentWakeupGapUs?: number;
  /** Ring buffer size: a power of two, at least one page. Default: the object's. */
  ringBytes?: number;
  /**
   * Hot records (exec, fork, exit, connect, payload, listen) are dropped in the kernel once the ring is this full (percent),
   * keeping the rest for records that may be a detection on their own; 100 disables it. Default: the object's (75).
   */
  hotRingPercent?: number;
  /** Hot records each container (cgroup) may emit per second on average; 0 for no limit. Default: the object's (0). */
  hotRecordsPerSecond?: number;
  /** Hot records a container may emit at once above that rate. Default: one second's worth. */
  hotRecordsBurst?: number;
  /** Sensitive-path globs for the kernel open filter (syntax in src/receiver/pathPatterns.ts). */
  pathPatterns: readonly string[];
  btfPath?: string;
  tracefsPath?: string;
  bpffsPath?: string;
  /** Default: build/probe.bpf.o. Without it variants are chosen by trial loading alone. */
  probeObjectPath?: string;
  /** Restricts the variants considered (default all), e.g. to exercise the fallbacks. */
  variants?: readonly HookVariant[];
  /** Hooks left out on purpose (configuration): never loaded, reported by hooks() as disabled. */
  disabledHooks?: readonly string[];
  /**
   * The host's mount namespace and filesystems (s_dev, kernel encoding) for the host-filesystem hooks
   * (bpf/hostfs.bpf.c); without it those hooks emit nothing.
   */
  hostFilesystems?: { mountNamespaceInode: number; devices: readonly number[] };
  /** Further `const volatile` variables to set, by name, for objects with tunables of their own (test fixtures). */
  tunables?: Readonly<Record<string, Buffer>>;
  /** Turn on the kernel's per-program run statistics (a global sysctl, restored by close()). Default false. */
  programStats?: boolean;
}

export interface ReaderOptions {
  /** Upper bound of one batch handed to onBatch. Default 1 MiB. */
  maxBatchBytes?: number;
  /** Bytes handed over but not yet processed by JS before the reader stops reading. Default 64 MiB. */
  maxQueuedBytes?: number;
  /** How often the reader looks at the ring when no wakeup came (wakeups are batched). Default 50 ms. */
  pollIntervalMs?: number;
  /**
   * A wakeup that comes within pollIntervalMs of a read smaller than this waits until the interval is over, so a
   * steady trickle of urgent records (urgentWakeupGapUs) costs one batch per interval, not one each; a read this
   * large means load, and then every wakeup is served at once. 0, the default: every wakeup is served at once.
   */
  coalesceBelowBytes?: number;
  /**
   * Called once if the reader thread stops on its own (a failing epoll_wait or ring_buffer__consume, memory
   * exhausted), after every batch it handed over. From then on nothing is read: the kernel ring fills and drops()
   * counts what it cannot take. readerFailure() says the same to whoever polls.
   */
  onStopped?: (failure: ReaderFailure) => void;
}

export interface ReaderFailure {
  /** What failed, e.g. 'epoll_wait failed'. */
  reason: string;
  errno: number;
  /** The errno's name, e.g. 'EBADF' ('' when errno is 0). */
  code: string;
  /** One line for logs and /readyz: 'kernel ring reader stopped: epoll_wait failed (EBADF)'. */
  message: string;
}

export interface RejectedVariant {
  variant: HookVariant;
  program: string;
  reason: string;
}

/**
 * Whether the open programs read the new fd's slot and the file name with plain loads (bpf/open/untrusted_loads.h),
 * or with a probe read each (~30-40 ns more per open); `reason` says why not.
 */
export interface UntrustedLoadsState {
  enabled: boolean;
  reason: string | null;
}

export interface HookChoice {
  hook: string;
  /**
   * null when no variant can run on this kernel, e.g. a syscall it was built without (no
   * sys_enter_init_module tracepoint without CONFIG_MODULES): the hook is left out and `rejected` says why.
   */
  variant: HookVariant | null;
  program: string | null;
  /** Preferred variants that were not taken, with why; less preferred ones are not listed. */
  rejected: RejectedVariant[];
}

export interface ProgramStats {
  program: string;
  runCount: bigint;
  runTimeNs: bigint;
  recursionMisses: bigint;
}

export type ReaderStats = NativeReaderStats;

/**
 * ks_is_hot() of bpf/lib/emit.h: the types rate-limited per container and kept out of the ring's reserve; every
 * other type is urgent.
 */
export const HOT_EVENT_TYPES: ReadonlySet<EventType> = new Set([
  EventType.Exec,
  EventType.Fork,
  EventType.Exit,
  EventType.Connect,
  EventType.Payload,
  // socket + listen + close in a loop is as cheap as a connect flood
  EventType.Listen,
]);

/** enum ks_drop_reason of bpf/lib/maps.h. */
export const DropReason = { RingFull: 0, Headroom: 1, RateLimit: 2 } as const;
export type DropReason = (typeof DropReason)[keyof typeof DropReason];
export const DropReasonName: Record<DropReason, string> = { 0: 'ring_full', 1: 'headroom', 2: 'rate_limit' };
const DROP_REASON_MAX = 3;

/** One entry of cgroup_drops: records of one type the kernel dropped for one reason, caused by one cgroup. */
export interface CgroupDrops {
  cgroupId: bigint;
  type: EventType;
  reason: DropReason;
  /** Since the object was loaded (monotonic). */
  count: bigint;
}

/** struct ks_drop_key of bpf/lib/maps.h: u64 cgroup_id, u32 type, u32 reason. */
const DROP_KEY_BYTES = 16;

interface HookCandidates {
  hook: string;
  /** Still possible, in preference order. */
  candidates: { variant: HookVariant; program: string; section: string }[];
  rejected: RejectedVariant[];
}

/** Parses sensitive-path globs into the kernel filter's entries; a bad one is a one-line KernelError. */
export function compilePathPatterns(patterns: readonly string[]): CompiledPathPattern[] {
  if (patterns.length > MAX_PATH_PATTERNS) {
    throw new KernelError('EPATTERN', `${patterns.length} path patterns; the kernel filter holds ${MAX_PATH_PATTERNS}`);
  }
  return patterns.map((pattern) => {
    try {
      return compilePathPattern(pattern);
    } catch (error) {
      throw new KernelError('EPATTERN', (error as Error).message, { cause: error });
    }
  });
}

/** struct ks_path_pattern, laid out from src/receiver/layout.ts. */
export function encodePathPattern(pattern: CompiledPathPattern): Buffer {
  const layout = LAYOUT.ks_path_pattern;
  const entry = Buffer.alloc(layout.size);
  const prefix = Buffer.from(pattern.prefix);
  const second = Buffer.from(pattern.second);
  entry.writeUInt32LE(pattern.kind, layout.fields.kind.offset);
  entry.writeUInt16LE(prefix.length, layout.fields.prefix_len.offset);
  entry.writeUInt16LE(second.length, layout.fields.second_len.offset);
  prefix.copy(entry, layout.fields.prefix.offset);
  second.copy(entry, layout.fields.second.offset);
  return entry;
}

/** KS_PATH_KEY_BYTES of bpf/open/path_index.h: how many of a prefix's first bytes key the kernel's index. */
export const PATH_HEAD_KEY_BYTES = 6;
/** KS_PATH_HEAD_BUCKET_BITS of bpf/open/path_index.h. */
const PATH_HEAD_BUCKET_BITS = 10n;

/** ks_path_head_key() of a pattern's prefix (or leaf): its first bytes, zero-padded, the byte count on top. */
export function pathHeadKey(prefix: string): bigint {
  const bytes = Buffer.from(prefix);
  const keyLength = Math.min(bytes.length, PATH_HEAD_KEY_BYTES);
  const key = Buffer.alloc(8);
  bytes.copy(key, 0, 0, keyLength);
  key[7] = keyLength;
  return key.readBigUInt64LE();
}

/** ks_path_head_bucket(): the path_heads entry of a head key. */
export function pathHeadBucket(key: bigint): number {
  let mixed = key ^ (key >> 33n);
  mixed = BigInt.asUintN(64, mixed * 0xff51afd7ed558ccdn);
  mixed ^= mixed >> 33n;
  mixed = BigInt.asUintN(64, mixed * 0xc4ceb9fe1a85ec53n);
  mixed ^= mixed >> 33n;
  return Number(mixed >> (64n - PATH_HEAD_BUCKET_BITS));
}

export interface HeadIndex {
  /** bucket -> bitmask of the pattern indexes whose key lands there (used buckets only). */
  buckets: Map<number, bigint>;
  /** bit n set when some key is n bytes long. */
  keyLengths: bigint;
}

export interface PathPatternIndex extends HeadIndex {
  /** The same over the patterns' leaves (pathPatternLeaf), for leaf_heads and leaf_key_lens. */
  leaves: HeadIndex;
}

function headIndex(texts: ReadonlyArray<string | null>): HeadIndex {
  const buckets = new Map<number, bigint>();
  let keyLengths = 0n;
  for (const [index, text] of texts.entries()) {
    if (text === null) continue;
    const key = pathHeadKey(text);
    const bucket = pathHeadBucket(key);
    buckets.set(bucket, (buckets.get(bucket) ?? 0n) | (1n << BigInt(index)));
    keyLengths |= 1n << (key >> 56n);
  }
  return { buckets, keyLengths };
}

/** The indexes bpf/open/path_index.h describes, for patterns stored at indexes 0..n-1 of path_patterns. */
export function pathPatternIndex(patterns: readonly CompiledPathPattern[]): PathPatternIndex {
  return { ...headIndex(patterns.map((p) => p.prefix)), leaves: headIndex(patterns.map(pathPatternLeaf)) };
}

/**
 * Configures the open filter of a loaded object: the patterns, then their index, the key lengths last so the
 * kernel never looks up a length whose keys are still missing. With no patterns nothing is written (every
 * open is then rejected at the first lookup), so stand-in objects without the filter's maps load too.
 */
export function writePathPatterns(
  object: NativeBpfObject,
  patterns: readonly CompiledPathPattern[],
  { leafIndex = true }: { leafIndex?: boolean } = {},
): void {
  if (patterns.length === 0) return;
  for (const [index, pattern] of patterns.entries()) {
    object.mapUpdate(PATH_PATTERNS_MAP, u32(index), encodePathPattern(pattern));
  }
  const { buckets, keyLengths, leaves } = pathPatternIndex(patterns);
  if (leafIndex) {
    for (const [bucket, mask] of leaves.buckets) object.mapUpdate(LEAF_HEADS_MAP, u32(bucket), u64(mask));
    object.mapUpdate(LEAF_KEY_LENS_MAP, u32(0), u64(leaves.keyLengths));
  }
  for (const [bucket, mask] of buckets) object.mapUpdate(PATH_HEADS_MAP, u32(bucket), u64(mask));
  object.mapUpdate(PATH_KEY_LENS_MAP, u32(0), u64(keyLengths));
}

function u32(value: number): Buffer {
  const buffer = Buffer.alloc(4);
  buffer.writeUInt32LE(value);
  return buffer;
}

function u64(value: number | bigint): Buffer {
  const buffer = Buffer.alloc(8);
  buffer.writeBigUInt64LE(BigInt(value));
  return buffer;
}

function validateOptions(options: KernelSourceOptions): void {
  const { agentTgid, ringBytes, wakeupBatchBytes, urgentWakeupGapUs, hotRingPercent, hotRecordsPerSecond, hotRecordsBurst } = options;
  if (!Number.isInteger(agentTgid) || agentTgid <= 0 || agentTgid > 0xffffffff) {
    throw new KernelError('EOPTION', `agentTgid must be a positive process id, got ${agentTgid}`);
  }
  if (
    ringBytes !== undefined &&
    (!Number.isInteger(ringBytes) || ringBytes < PAGE_SIZE || ringBytes > MAX_RING_BYTES || (ringBytes & (ringBytes - 1)) !== 0)
  ) {
    throw new KernelError('EOPTION', `ringBytes must be a power of two from ${PAGE_SIZE} to ${MAX_RING_BYTES}, got ${ringBytes}`);
  }
  if (wakeupBatchBytes !== undefined && (!Number.isSafeInteger(wakeupBatchBytes) || wakeupBatchBytes < 0)) {
    throw new KernelError('EOPTION', `wakeupBatchBytes must be a non-negative integer, got ${wakeupBatchBytes}`);
  }
  if (urgentWakeupGapUs !== undefined && (!Number.isSafeInteger(urgentWakeupGapUs) || urgentWakeupGapUs < 0)) {
    throw new KernelError('EOPTION', `urgentWakeupGapUs must be a non-negative integer, got ${urgentWakeupGapUs}`);
  }
  if (hotRingPercent !== undefined && (!Number.isInteger(hotRingPercent) || hotRingPercent < 1 || hotRingPercent > 100)) {
    throw new KernelError('EOPTION', `hotRingPercent must be a whole number from 1 to 100, got ${hotRingPercent}`);
  }
  if (hotRecordsPerSecond !== undefined && (!Number.isSafeInteger(hotRecordsPerSecond) || hotRecordsPerSecond < 0 || hotRecordsPerSecond > 1e9)) {
    throw new KernelError('EOPTION', `hotRecordsPerSecond must be a whole number from 0 to 1000000000, got ${hotRecordsPerSecond}`);
  }
  if (hotRecordsBurst !== undefined && (!Number.isSafeInteger(hotRecordsBurst) || hotRecordsBurst < 1)) {
    throw new KernelError('EOPTION', `hotRecordsBurst must be a positive whole number, got ${hotRecordsBurst}`);
  }
  const hostFilesystems = options.hostFilesystems;
  if (hostFilesystems !== undefined) {
    const { mountNamespaceInode, devices } = hostFilesystems;
    if (!Number.isInteger(mountNamespaceInode) || mountNamespaceInode <= 0 || mountNamespaceInode > 0xffffffff) {
      throw new KernelError('EOPTION', `hostFilesystems.mountNamespaceInode must be a namespace inode, got ${mountNamespaceInode}`);
    }
    if (devices.length > MAX_HOST_FILESYSTEMS) {
      throw new KernelError('EOPTION', `${devices.length} host filesystems; the kernel map holds ${MAX_HOST_FILESYSTEMS}`);
    }
    const bad = devices.find((dev) => !Number.isInteger(dev) || dev < 0 || dev > 0xffffffff);
    if (bad !== undefined) throw new KernelError('EOPTION', `hostFilesystems.devices: ${bad} is not a device number`);
  }
  for (const variant of options.variants ?? []) {
    if (!HOOK_VARIANTS.includes(variant)) {
      throw new KernelError('EOPTION', `unknown hook variant '${variant}' (use ${HOOK_VARIANTS.join(', ')})`);
    }
  }
}

function validateReaderOptions(options: ReaderOptions): Omit<NativeReaderOptions, 'onStopped'> {
  const resolved = {
    maxBatchBytes: options.maxBatchBytes ?? 1 << 20,
    maxQueuedBytes: options.maxQueuedBytes ?? 64 << 20,
    pollIntervalMs: options.pollIntervalMs ?? 50,
  };
  const coalesceBelowBytes = options.coalesceBelowBytes ?? 0;
  if (!Number.isSafeInteger(coalesceBelowBytes) || coalesceBelowBytes < 0) {
    throw new KernelError('EOPTION', `coalesceBelowBytes must be a non-negative integer, got ${coalesceBelowBytes}`);
  }
  for (const [name, value] of Object.entries(resolved)) {
    if (!Number.isSafeInteger(value) || value <= 0) {
      throw new KernelError('EOPTION', `${name} must be a positive integer, got ${value}`);
    }
  }
  if (resolved.maxBatchBytes < LAYOUT.ks_header.size) {
    throw new KernelError('EOPTION', `maxBatchBytes must hold at least one record header (${LAYOUT.ks_header.size})`);
  }
  return { ...resolved, coalesceBelowBytes };
}

/** Groups the object's programs by hook; anything not named `<hook>__<variant>` or `*__iter` breaks the contract. */
function collectHooks(object: NativeBpfObject, objectPath: string): Map<string, HookCandidates> {
  const hooks = new Map<string, HookCandidates>();
  const found = new Map<string, Map<HookVariant, { program: string; section: string }>>();
  for (const program of object.programs()) {
    if (program.name.endsWith(ITERATOR_SUFFIX)) continue;
    const variant = HOOK_VARIANTS.find((v) => program.name.endsWith(`__${v}`));
    if (variant === undefined) {
      throw new KernelError(
        'EBPF_CONTRACT',
        `${objectPath}: program '${program.name}' is not named <hook>__{${HOOK_VARIANTS.join('|')}} or *${ITERATOR_SUFFIX}`,
      );
    }
    if (!VARIANT_SECTIONS[variant].some((prefix) => program.section.startsWith(prefix))) {
      throw new KernelError(
        'EBPF_CONTRACT',
        `${objectPath}: program '${program.name}' is in section '${program.section}', not a ${variant} section`,
      );
    }
    const hook = program.name.slice(0, -(variant.length + 2));
    if (!found.has(hook)) found.set(hook, new Map());
    found.get(hook)!.set(variant, { program: program.name, section: program.section });
  }
  for (const [hook, variants] of found) {
    const candidates = HOOK_VARIANTS.filter((v) => variants.has(v)).map((variant) => ({ variant, ...variants.get(variant)! }));
    hooks.set(hook, { hook, candidates, rejected: [] });
  }
  return hooks;
}

/** The tracefs 'category/name' of a tp section ('tracepoint/syscalls/sys_enter_openat'). */
function tracepointOfSection(section: string): string {
  return section.slice(section.indexOf('/') + 1);
}

/** The program libbpf names in its last "prog 'x': ..." line: the one that failed to load. */
function failingProgram(error: KernelError): string | undefined {
  const matches = [...error.verifierLog.matchAll(/prog '([^']+)'/g)];
  return matches.at(-1)?.[1];
}

/** Why the verifier refused, in one line: the last log line that is not libbpf's own framing. */
function verifierReason(error: KernelError): string {
  const lines = error.verifierLog.split('\n').filter((l) => l !== '' && !l.startsWith('libbpf:') && !l.startsWith('--'));
  const detail = lines.filter((l) => !/^processed \d+ insns/.test(l)).at(-1);
  return detail === undefined ? error.message : `${error.message}: ${detail}`;
}

export class KernelSource {
  readonly #object: NativeBpfObject;
  readonly #choices: HookChoice[];
  readonly #tracefsPath: string;
  readonly #restoreBpfStats: boolean;
  readonly #untrustedLoads: UntrustedLoadsState;
  #reader: NativeRingBufferReader | undefined;
  #readerFailure: ReaderFailure | undefined;
  #closed = false;

  /** Use openKernelSource(). */
  constructor(
    object: NativeBpfObject,
    choices: HookChoice[],
    tracefsPath: string,
    restoreBpfStats: boolean,
    untrustedLoads: UntrustedLoadsState,
  ) {
    this.#object = object;
    this.#choices = choices;
    this.#tracefsPath = tracefsPath;
    this.#restoreBpfStats = restoreBpfStats;
    this.#untrustedLoads = untrustedLoads;
  }

  #ensureOpen(): void {
    if (this.#closed) throw new KernelError('EBPF_CLOSED', 'kernel source is closed', { errno: 9 });
  }

  /**
   * Starts draining the ring buffer into onBatch, then attaches the chosen programs (so nothing they emit waits
   * for a reader). Each batch holds whole records back to back, each delimited by its hdr.size.
   */
  start(onBatch: (records: Buffer) => void, readerOptions: ReaderOptions = {}): void {
    this.#ensureOpen();
    if (this.#reader !== undefined) throw new KernelError('EOPTION', 'kernel source already started');
    const options = validateReaderOptions(readerOptions);
    const onStopped = (reason: string, errno: number) => {
      const code = errno === 0 ? '' : getSystemErrorName(-errno);
      this.#readerFailure = { reason, errno, code, message: `kernel ring reader stopped: ${reason}${code ? ` (${code})` : ''}` };
      readerOptions.onStopped?.(this.#readerFailure);
    };
    const addon = nativeAddon();
    const reader = new addon.RingBufferReader(this.#object.mapFd(EVENTS_MAP), onBatch, { ...options, onStopped });
    const links: number[] = [];
    try {
      const sections = new Map(this.#object.programs().map((p) => [p.name, p.section]));
      for (const { program, variant } of this.#choices) {
        if (program === null) continue;
        if (variant === 'tp') {
          const tracepoint = tracepointOfSection(sections.get(program)!);
          links.push(this.#object.attachTracepoint(program, tracepointId(this.#tracefsPath, tracepoint)));
        } else {
          links.push(this.#object.attach(program));
        }
      }
    } catch (error) {
      // All or nothing, so a failed start() can be retried or the source closed without half of it running.
      for (const link of links) this.#object.detach(link);
      reader.close();
      throw error;
    }
    this.#reader = reader;
  }

  /** Emits a snapshot record for every existing process into the ring (runs the task iterator to its end). */
  snapshot(): void {
    this.#ensureOpen();
    this.#object.runIterator(SNAPSHOT_PROGRAM);
  }

  /** Stops reading: the ring fills and the kernel counts what it cannot reserve in drops(). */
  pause(): void {
    this.#ensureOpen();
    this.#reader?.pause();
  }

  resume(): void {
    this.#ensureOpen();
    this.#reader?.resume();
  }

  /** Records the kernel could not reserve, by event type (every type, zeros included). */
  drops(): Map<EventType, bigint> {
    this.#ensureOpen();
    const drops = new Map<EventType, bigint>();
    for (let type = 1; type < EVENT_TYPE_MAX; type++) {
      drops.set(type as EventType, this.#object.perCpuSum(DROPS_MAP, type));
    }
    return drops;
  }

  /**
   * Every (cgroup, type, reason) the kernel has dropped records for, with its count since load. drops() holds the
   * same records by type; what the per-cgroup map had no room for is in unattributedDrops().
   */
  cgroupDrops(): CgroupDrops[] {
    this.#ensureOpen();
    const { keys, values } = this.#object.mapEntries(CGROUP_DROPS_MAP);
    const out: CgroupDrops[] = [];
    for (let offset = 0, at = 0; offset + DROP_KEY_BYTES <= keys.length; offset += DROP_KEY_BYTES, at += 8) {
      out.push({
        cgroupId: keys.readBigUInt64LE(offset),
        type: keys.readUInt32LE(offset + 8) as EventType,
        reason: keys.readUInt32LE(offset + 12) as DropReason,
        count: values.readBigUInt64LE(at),
      });
    }
    return out;
  }

  /**
   * Records of `types` the kernel dropped for the tasks of one cgroup, every reason, since load: a handful of map
   * lookups, for a question about one cgroup that cannot wait for the next cgroupDrops() read.
   */
  cgroupDropCount(cgroupId: bigint, types: readonly EventType[]): bigint {
    this.#ensureOpen();
    const key = Buffer.alloc(DROP_KEY_BYTES);
    key.writeBigUInt64LE(cgroupId, 0);
    let total = 0n;
    for (const type of types) {
      key.writeUInt32LE(type, 8);
      for (let reason = 0; reason < DROP_REASON_MAX; reason++) {
        key.writeUInt32LE(reason, 12);
        const value = this.#object.mapLookup(CGROUP_DROPS_MAP, key);
        if (value) total += value.readBigUInt64LE(0);
      }
    }
    return total;
  }

  /** Drops by reason that cgroup_drops had no room to attribute (it was full). */
  unattributedDrops(): Map<DropReason, bigint> {
    this.#ensureOpen();
    const out = new Map<DropReason, bigint>();
    for (let reason = 0; reason < DROP_REASON_MAX; reason++) {
      out.set(reason as DropReason, this.#object.perCpuSum(DROPS_UNATTRIBUTED_MAP, reason));
    }
    return out;
  }

  /** enforce_mode[0]: read by every enforcement check at its next call, no reload needed. */
  setEnforcementMode(mode: EnforcementModeName): void {
    this.#ensureOpen();
    this.#object.mapUpdate(ENFORCE_MODE_MAP, u32(0), u32(EnforcementMode[mode]));
  }

  /**
   * The kubepods roots (cgroup id and level): the open filter tells a container's process in the host's mount
   * namespace from the host's own by them (bpf/open.bpf.c). At most KS_MAX_CONTAINER_ROOTS; the rest are left out
   * (a node has one). Each slot's level is written before its id, which the kernel reads as the slot's presence.
   */
  setContainerRoots(roots: ReadonlyArray<{ cgroupId: bigint; level: number }>): void {
    this.#ensureOpen();
    for (let slot = 0; slot < MAX_CONTAINER_ROOTS; slot++) {
      const root = roots[slot];
      if (root === undefined) {
        this.#object.mapUpdate(CONTAINER_ROOT_IDS_MAP, u32(slot), u64(0n));
        continue;
      }
      this.#object.mapUpdate(CONTAINER_ROOT_LEVELS_MAP, u32(slot), u32(root.level));
      this.#object.mapUpdate(CONTAINER_ROOT_IDS_MAP, u32(slot), u64(root.cgroupId));
    }
  }

  /** The host's namespace inodes, which a setns from a container may not join (KernelEnforceCheck.SetnsHost). */
  setHostNamespaces(inodes: Iterable<number>): void {
    this.#ensureOpen();
    for (const inode of inodes) if (inode !== 0) this.#object.mapUpdate(HOST_NAMESPACES_MAP, u32(inode), Buffer.of(1));
  }

  /** Filesystem type → the check a mount of it falls under. Types longer than the kernel's field are refused. */
  setEnforcedFsTypes(types: ReadonlyMap<string, KernelEnforceCheck>): void {
    this.#ensureOpen();
    for (const [fstype, check] of types) {
      const key = Buffer.alloc(FSTYPE_KEY_BYTES);
      if (key.write(fstype, 'latin1') >= FSTYPE_KEY_BYTES) {
        throw new KernelError('EOPTION', `filesystem type "${fstype}" is longer than ${FSTYPE_KEY_BYTES - 1} bytes`);
      }
      this.#object.mapUpdate(ENFORCE_FSTYPES_MAP, key, u32(check));
    }
  }

  /**
   * The checks that kill in one container (bitmask of KernelEnforceCheck bits), 0 included: an armed container
   * with nothing to kill, which the exec hook does not arm again. Throws KernelError EBPF_MAP (E2BIG) when
   * KS_MAX_ENFORCED_CGROUPS are armed.
   */
  setContainerKillChecks(cgroupId: bigint, checks: number): void {
    this.#ensureOpen();
    this.#object.mapUpdate(ENFORCE_CGROUPS_MAP, u64(cgroupId), u32(checks));
  }

  /** Removes a container's enforce_cgroups entry, whoever wrote it (the agent or the exec hook). */
  forgetContainer(cgroupId: bigint): void {
    this.#ensureOpen();
    this.#object.mapDelete(ENFORCE_CGROUPS_MAP, u64(cgroupId));
  }

  /** enforce_pending[cgroup id]: the checks the exec hook arms a container at or below it with; undefined removes. */
  setPendingChecks(cgroupId: bigint, checks: number | undefined): void {
    this.#ensureOpen();
    if (checks === undefined) this.#object.mapDelete(ENFORCE_PENDING_MAP, u64(cgroupId));
    else this.#object.mapUpdate(ENFORCE_PENDING_MAP, u64(cgroupId), u32(checks));
  }

  /** The agent's slot of enforce_levels: bit n set when some container the agent armed is at level n. */
  setArmedCgroupLevels(levels: bigint): void {
    this.#ensureOpen();
    this.#object.mapUpdate(ENFORCE_LEVELS_MAP, u32(EnforceLevelsSlot.ArmedByAgent), u64(levels));
  }

  /** The pending slot of enforce_levels: bit n set when some enforce_pending entry is at level n. */
  setPendingCgroupLevels(levels: bigint): void {
    this.#ensureOpen();
    this.#object.mapUpdate(ENFORCE_LEVELS_MAP, u32(EnforceLevelsSlot.Pending), u64(levels));
  }

  /** Per check and outcome, the decisions since load, including those whose record was lost. */
  enforcementActions(): { check: KernelEnforceCheck; outcome: EnforcementOutcome; count: bigint }[] {
    this.#ensureOpen();
    const out: { check: KernelEnforceCheck; outcome: EnforcementOutcome; count: bigint }[] = [];
    for (let check = 0; check < KERNEL_ENFORCE_CHECK_MAX; check++) {
      ENFORCEMENT_OUTCOMES.forEach((outcome, index) => {
        const count = this.#object.perCpuSum(ENFORCE_ACTIONS_MAP, check * ENFORCEMENT_OUTCOMES.length + index);
        out.push({ check: check as KernelEnforceCheck, outcome, count });
      });
    }
    return out;
  }

  /** Why the reader thread stopped on its own, once onStopped has been called; undefined while it reads. */
  readerFailure(): ReaderFailure | undefined {
    return this.#readerFailure;
  }

  readerStats(): ReaderStats | undefined {
    this.#ensureOpen();
    return this.#reader?.stats();
  }

  /** Per-program run counts and time; zeros unless opened with programStats: true. */
  programStats(): ProgramStats[] {
    this.#ensureOpen();
    return this.#object.programStats().map(({ name, runCount, runTimeNs, recursionMisses }) => ({
      program: name,
      runCount,
      runTimeNs,
      recursionMisses,
    }));
  }

  hooks(): HookChoice[] {
    return this.#choices.map((c) => ({ ...c, rejected: [...c.rejected] }));
  }

  /** How the open programs were loaded: with the untrusted plain loads, or without them and why. */
  untrustedLoads(): UntrustedLoadsState {
    return { ...this.#untrustedLoads };
  }

  /** Detaches everything and stops the reader; batches not yet delivered are freed. Safe to call twice. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#reader?.close();
    this.#object.close();
    if (this.#restoreBpfStats) writeFileSync(BPF_STATS_SYSCTL, '0');
  }
}

export function openKernelSource(options: KernelSourceOptions): KernelSource {
  validateOptions(options);
  const objectPath = options.objectPath ?? DEFAULT_OBJECT_PATH;
  const btfPath = options.btfPath ?? DEFAULT_BTF_PATH;
  const tracefsPath = options.tracefsPath ?? DEFAULT_TRACEFS_PATH;
  const probeObjectPath = options.probeObjectPath ?? DEFAULT_PROBE_OBJECT_PATH;
  const patterns = compilePathPatterns(options.pathPatterns);
  requireBtf(btfPath);
  if (!existsSync(objectPath)) {
    throw new KernelError('EBPF_OPEN', `BPF object not found at ${objectPath} (run \`make bpf\`)`, { errno: 2 });
  }
  const tracefs = ensureMounted('tracefs', tracefsPath, true);
  if (!tracefs.mounted) throw new KernelError('EMOUNT', `tracefs: ${tracefs.reason}`);
  // Nothing is pinned today; bpffs is mounted so bpftool on the node can inspect the agent's objects.
  ensureMounted('bpf', options.bpffsPath ?? DEFAULT_BPFFS_PATH, true);

  const addon = nativeAddon();
  const inspected = new addon.BpfObject(objectPath, btfPath);
  let hooks: Map<string, HookCandidates>;
  try {
    hooks = collectHooks(inspected, objectPath);
  } finally {
    inspected.close();
  }
  rejectUnusableVariants(hooks, options, { btfPath, tracefsPath, probeObjectPath });

  let restoreBpfStats = false;
  if (options.programStats === true && readFileSync(BPF_STATS_SYSCTL, 'utf8').trim() === '0') {
    writeFileSync(BPF_STATS_SYSCTL, '1');
    restoreBpfStats = true;
  }
  try {
    // The open programs' untrusted plain loads where this kernel's verifier takes them (bpf/open/untrusted_loads.h).
    const untrustedLoads = probeUntrustedLoadsState(btfPath, probeObjectPath);
    const object = loadWithFallback(objectPath, btfPath, hooks, options, untrustedLoads);
    try {
      writePathPatterns(object, patterns);
      for (const dev of options.hostFilesystems?.devices ?? []) object.mapUpdate(HOST_FILESYSTEMS_MAP, u32(dev), Buffer.of(1));
    } catch (error) {
      object.close();
      throw error;
    }
    const choices = [...hooks.values()].map(({ hook, candidates, rejected }) => ({
      hook,
      variant: candidates[0]?.variant ?? null,
      program: candidates[0]?.program ?? null,
      rejected,
    }));
    return new KernelSource(object, choices, tracefsPath, restoreBpfStats, untrustedLoads);
  } catch (error) {
    if (restoreBpfStats) writeFileSync(BPF_STATS_SYSCTL, '0');
    throw error;
  }
}

/**
 * Drops candidates this kernel cannot run: hook types it refuses, and tp variants whose tracepoint is missing. A
 * hook left with none is not loaded (hooks() reports it); only an object where nothing can run is an error.
 */
function rejectUnusableVariants(
  hooks: Map<string, HookCandidates>,
  options: KernelSourceOptions,
  paths: { btfPath: string; tracefsPath: string; probeObjectPath: string },
): void {
  const allowed = new Set<HookVariant>(options.variants ?? HOOK_VARIANTS);
  const refusedTypes = new Map<HookType, string>();
  if (existsSync(paths.probeObjectPath)) {
    const types = HOOK_VARIANTS.filter((v) => allowed.has(v)).map((v) => VARIANT_HOOK_TYPE[v]);
    for (const support of probeHookTypes(types, paths)) {
      if (!support.supported) refusedTypes.set(support.hookType, `kernel refuses ${support.hookType}: ${support.reason}`);
    }
  }
  for (const entry of hooks.values()) {
    entry.candidates = entry.candidates.filter((candidate) => {
      let reason: string | undefined;
      if (options.disabledHooks?.includes(entry.hook)) {
        reason = 'disabled by configuration';
      } else if (!allowed.has(candidate.variant)) {
        reason = `variant ${candidate.variant} not enabled in options.variants`;
      } else if (refusedTypes.has(VARIANT_HOOK_TYPE[candidate.variant])) {
        reason = refusedTypes.get(VARIANT_HOOK_TYPE[candidate.variant]);
      } else if (candidate.variant === 'tp') {
        const tracepoint = tracepointOfSection(candidate.section);
        if (!existsSync(`${paths.tracefsPath}/events/${tracepoint}/id`)) {
          reason = `tracepoint ${tracepoint} not in ${paths.tracefsPath}/events`;
        }
      }
      if (reason !== undefined) entry.rejected.push({ variant: candidate.variant, program: candidate.program, reason });
      return reason === undefined;
    });
  }
  if (hooks.size > 0 && [...hooks.values()].every((entry) => entry.candidates.length === 0)) {
    const why = [...hooks.values()].flatMap((e) => e.rejected.map((r) => `${r.program}: ${r.reason}`)).join('; ');
    throw new KernelError('EBPF_CONTRACT', `no hook of the object can run on this kernel (${why})`);
  }
}

function probeUntrustedLoadsState(btfPath: string, probeObjectPath: string): UntrustedLoadsState {
  if (!existsSync(probeObjectPath)) return { enabled: false, reason: `no probe object at ${probeObjectPath}` };
  const probe = probeUntrustedLoads({ btfPath, probeObjectPath });
  return probe.supported ? { enabled: true, reason: null } : { enabled: false, reason: `the verifier refused the probe: ${probe.reason}` };
}

/**
 * Loads the object with each hook's best remaining variant, demoting a variant the verifier refuses. `untrustedLoads`
 * is updated in place when the open programs are refused with them.
 */
function loadWithFallback(
  objectPath: string,
  btfPath: string,
  hooks: Map<string, HookCandidates>,
  options: KernelSourceOptions,
  untrustedLoads: UntrustedLoadsState,
): NativeBpfObject {
  const addon = nativeAddon();
  const owner = new Map<string, HookCandidates>();
  for (const entry of hooks.values()) {
    for (const program of [...entry.candidates, ...entry.rejected]) owner.set(program.program, entry);
  }
  for (;;) {
    const object = new addon.BpfObject(objectPath, btfPath);
    try {
      for (const program of object.programs()) {
        const entry = owner.get(program.name);
        if (entry !== undefined) object.setAutoload(program.name, entry.candidates[0]?.program === program.name);
      }
      object.setRodata('agent_tgid', u32(options.agentTgid));
      if (untrustedLoads.enabled) object.setRodata(UNTRUSTED_LOADS_TUNABLE, u32(1));
      if (options.wakeupBatchBytes !== undefined) object.setRodata('wakeup_batch_bytes', u64(options.wakeupBatchBytes));
      if (options.urgentWakeupGapUs !== undefined) {
        object.setRodata('urgent_wakeup_gap_ns', u64(options.urgentWakeupGapUs * 1000));
      }
      if (options.hostFilesystems !== undefined) {
        object.setRodata(HOST_MNT_NS_TUNABLE, u32(options.hostFilesystems.mountNamespaceInode));
      }
      for (const [name, value] of Object.entries(options.tunables ?? {})) object.setRodata(name, value);
      if (options.ringBytes !== undefined) object.resizeMap(EVENTS_MAP, options.ringBytes);
      if (options.hotRingPercent !== undefined) object.setRodata('hot_ring_percent', u32(options.hotRingPercent));
      if (options.hotRecordsPerSecond !== undefined && options.hotRecordsPerSecond > 0) {
        // GCRA (bpf/lib/emit.h): one record per interval; a burst of n is n - 1 intervals of credit ahead of now.
        const intervalNs = BigInt(Math.max(1, Math.round(1e9 / options.hotRecordsPerSecond)));
        const burst = BigInt(options.hotRecordsBurst ?? options.hotRecordsPerSecond);
        object.setRodata('hot_record_interval_ns', u64(intervalNs));
        object.setRodata('hot_burst_ns', u64(intervalNs * (burst - 1n)));
      }
      object.load();
      return object;
    } catch (error) {
      object.close();
      if (!(error instanceof KernelError) || error.code !== 'EBPF_LOAD') throw error;
      const program = failingProgram(error);
      // The probe loaded the same instructions, but should the open programs still be refused with them, they load
      // without (a probe read each) rather than fail the agent.
      if (untrustedLoads.enabled && program !== undefined && UNTRUSTED_LOAD_PROGRAMS.test(program)) {
        untrustedLoads.enabled = false;
        untrustedLoads.reason = `the verifier refused ${program} with them: ${verifierReason(error)}`;
        continue;
      }
      const entry = program === undefined ? undefined : owner.get(program);
      if (entry === undefined || entry.candidates.length < 2 || entry.candidates[0].program !== program) throw error;
      const refused = entry.candidates.shift()!;
      entry.rejected.push({ variant: refused.variant, program: refused.program, reason: verifierReason(error) });
    }
  }
}
