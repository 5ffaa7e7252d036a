// tgid → ProcessInfo, kept current from exec (and snapshot), fork and exit records, with /proc as the fallback for
// processes whose exec the agent never saw. A pid can be reused at any time, so a process is (tgid, start time):
// records for a different start time never update an entry, a lookup with the start time every record carries
// (hdr.start_boottime_ns) never returns another process's entry, and the ancestry walk never follows a "parent" that
// started after its child. The last matters when records are lost: with a flood's exit records dropped, the entry of
// a dead process still holds its tgid when the pid's next owner makes an urgent record, and judging that record by
// the dead process (runtime set-up, its executable, its container) would hand the new owner the old one's standing. Memory is bounded: exited processes stay for a grace window (so detections on
// short-lived processes still resolve their ancestry), then go; past maxEntries the oldest exited go first, then
// the least recently used live ones.

import { EventType, ExecFlag, executablePath, type ExecEvent, type ExitEvent, type ForkEvent, type KernelEvent } from './events.ts';
import type { ExecFacts, RuntimeExecClassifier } from './HostRuntimeBinaries.ts';
import type { ContainerIdentity, ProcessInfo } from './identity.ts';
import { listProcessIds, readProcProcess, sameStartTime, type ProcProcess } from './procfs.ts';
import { RateLimiter } from './RateLimiter.ts';

/** What the table needs from the container resolver (ContainerResolver implements it). */
export interface ContainerLookup {
  resolve(cgroupId: bigint, tgid?: number): ContainerIdentity | null;
  resolvePath(path: string): ContainerIdentity | null;
  idOfPath(path: string): bigint | null;
}

export interface ProcessTableOptions {
  maxEntries: number;
  exitedGraceMs: number;
  containers: ContainerLookup;
  /** /proc reads per second for misses (burst: 20); 0 disables the fallback. */
  procfsReadsPerSecond?: number;
  procRoot?: string;
  /** Decides ProcessInfo.runtimeSetup at each exec; without it no process is runtime set-up. */
  runtime?: RuntimeExecClassifier;
}

export interface ProcessTableStats {
  /** Exited processes dropped after their grace window. */
  expired: number;
  /** Exited processes dropped before their grace window ended, to stay within maxEntries. */
  evictedExited: number;
  /** Live processes dropped (least recently used) to stay within maxEntries. */
  evictedLive: number;
  /** Processes read from /proc (start-up seeding and misses). */
  procfsReads: number;
  /** /proc reads for processes already gone. */
  procfsGone: number;
  /** Misses not looked up in /proc because the fallback was at its rate limit. */
  procfsRateLimited: number;
  /** Records about a process the table does not know (or knows under another start time). */
  unknownProcess: number;
  /**
   * Entries found to be dead because a later process with the same tgid was asked for: their exit record was lost
   * (or not yet read). They are marked exited then, so they never stand in for the new process.
   */
  reusedPids: number;
}

export interface AncestryOptions {
  /** Stop at the topmost ancestor still in the process's container (its init), instead of host init. */
  stopAtContainerInit?: boolean;
  /** Bound on the chain length, whatever the data says. */
  maxDepth?: number;
}

interface Entry {
  info: ProcessInfo;
  /** CLOCK_BOOTTIME ns of the exit record; -1n while the process lives. */
  exitedAtNs: bigint;
  /** The start time came from /proc (clock ticks), so it matches kernel start times only to the tick. */
  coarseStart: boolean;
}

const NOT_EXITED = -1n;
const DEFAULT_MAX_DEPTH = 64;
const EMPTY_NS = { mnt: 0, pid: 0, net: 0, user: 0, uts: 0, ipc: 0, cgroup: 0 };

/**
 * Start times match to the clock tick: /proc-seeded entries (and parent links copied from them) only know the tick,
 * and a pid cannot be handed out twice within one tick (the kernel would have to cycle through pid_max).
 */
function isSameStart(entry: Entry, startNs: bigint): boolean {
  return sameStartTime(entry.info.startBoottimeNs, startNs);
}

/** A record's start time, or undefined when the producer had none to give (0n). */
function knownStart(startBoottimeNs: bigint | undefined): bigint | undefined {
  return startBoottimeNs === 0n ? undefined : startBoottimeNs;
}

/** Whether `parent` could be the parent of `child`: it started no later (to the tick when either is coarse). */
function startedNoLater(parent: Entry, child: Entry): boolean {
  const p = parent.info.startBoottimeNs;
  const c = child.info.startBoottimeNs;
  if (parent.coarseStart || child.coarseStart) return p / 10_000_000n <= c / 10_000_000n;
  return p <= c;
}

export class ProcessTable {
  readonly stats: ProcessTableStats = {
    expired: 0,
    evictedExited: 0,
    evictedLive: 0,
    procfsReads: 0,
    procfsGone: 0,
    procfsRateLimited: 0,
    unknownProcess: 0,
    reusedPids: 0,
  };
  readonly #maxEntries: number;
  readonly #graceNs: bigint;
  readonly #containers: ContainerLookup;
  readonly #procRoot: string;
  readonly #procfsLimiter: RateLimiter | null;
  readonly #runtime: RuntimeExecClassifier | undefined;
  /** The process currently holding each tgid; Map order is least recently used first. */
  readonly #byTgid = new Map<number, Entry>();
  /** Exited processes whose tgid was reused during their grace window, by `${tgid}:${start}`. */
  readonly #displaced = new Map<string, Entry>();
  /** Exited entries in exit order, so expiry and eviction take the oldest first. */
  readonly #exited = new Set<Entry>();
  /** Latest kernel time seen: the table's clock, so expiry follows the event stream, not wall time. */
  #nowNs = 0n;
  /** When the oldest exited entry's grace ends; lets onEvent skip expiry work on almost every record. */
  #nextExpiryNs = -1n;

  constructor(options: ProcessTableOptions) {
    if (!(options.maxEntries >= 1)) throw new RangeError(`processTable.maxEntries must be at least 1, got ${options.maxEntries}`);
    this.#maxEntries = options.maxEntries;
    this.#graceNs = BigInt(Math.round(options.exitedGraceMs)) * 1_000_000n;
    this.#containers = options.containers;
    this.#procRoot = options.procRoot ?? '/proc';
    const rate = options.procfsReadsPerSecond ?? 50;
    this.#procfsLimiter = rate > 0 ? new RateLimiter(rate, 20) : null;
    this.#runtime = options.runtime;
  }

  /** Processes held, live and exited-in-grace (gauge). */
  get size(): number {
    return this.#byTgid.size + this.#displaced.size;
  }

  /** Feeds a decoded record; only exec, fork and exit change the table. */
  onEvent(event: KernelEvent): void {
    if (event.ktimeNs > this.#nowNs) this.#nowNs = event.ktimeNs;
    switch (event.type) {
      case EventType.Exec:
        this.#onExec(event);
        break;
      case EventType.Fork:
        this.#onFork(event);
        break;
      case EventType.Exit:
        this.#onExit(event);
        break;
    }
    if (this.#nextExpiryNs >= 0n && this.#nowNs >= this.#nextExpiryNs) this.#expire();
  }

  /**
   * The process holding `tgid`, only if it started at `startBoottimeNs` when that is given (a record's
   * startBoottimeNs; 0n means unknown); falls back to /proc for a live process the table never saw. Counts as a use
   * for LRU eviction.
   */
  get(tgid: number, startBoottimeNs?: bigint): ProcessInfo | undefined {
    const start = knownStart(startBoottimeNs);
    if (start !== undefined) this.#retireIfReused(tgid, start);
    const entry = this.#find(tgid, start) ?? this.#readFromProc(tgid, start);
    if (!entry) return undefined;
    if (entry.info.parentStartBoottimeNs === 0n) this.#pinParent(entry);
    if (this.#byTgid.get(tgid) === entry) {
      this.#byTgid.delete(tgid);
      this.#byTgid.set(tgid, entry);
    }
    return entry.info;
  }

  /** Whether the process has exited (and is only kept for its grace window). */
  hasExited(tgid: number, startBoottimeNs: bigint): boolean {
    return (this.#find(tgid, startBoottimeNs)?.exitedAtNs ?? NOT_EXITED) !== NOT_EXITED;
  }

  /**
   * The process and its ancestors, nearest first, up to host init or (stopAtContainerInit) the topmost ancestor
   * in the same container. Parents the table lacks are read from /proc when possible; the walk ends at a parent
   * that cannot be found, started after its child (a reused pid), or repeats.
   */
  ancestry(tgid: number, options: AncestryOptions = {}, startBoottimeNs?: bigint): ProcessInfo[] {
    const maxDepth = options.maxDepth ?? DEFAULT_MAX_DEPTH;
    const start = knownStart(startBoottimeNs);
    if (start !== undefined) this.#retireIfReused(tgid, start);
    let entry = this.#find(tgid, start) ?? this.#readFromProc(tgid, start);
    const chain: ProcessInfo[] = [];
    const seen = new Set<Entry>();
    while (entry && chain.length < maxDepth && !seen.has(entry)) {
      seen.add(entry);
      chain.push(entry.info);
      const { ppid, parentStartBoottimeNs } = entry.info;
      if (ppid <= 0) break;
      const known = parentStartBoottimeNs !== 0n;
      const parent = this.#find(ppid, known ? parentStartBoottimeNs : undefined) ?? this.#readFromProc(ppid, known ? parentStartBoottimeNs : undefined);
      if (!parent || !startedNoLater(parent, entry)) break;
      if (!known) entry.info.parentStartBoottimeNs = parent.info.startBoottimeNs; // learnt: pin the parent's identity
      if (options.stopAtContainerInit && entry.info.container !== null && parent.info.container?.id !== entry.info.container.id) break;
      entry = parent;
    }
    return chain;
  }

  /** Adds every process in /proc the table does not know yet; for start-up when no kernel snapshot is available. */
  seedFromProc(): number {
    let added = 0;
    for (const pid of listProcessIds(this.#procRoot)) {
      if (this.#byTgid.has(pid)) continue;
      const proc = readProcProcess(pid, this.#procRoot);
      this.stats.procfsReads++;
      if (!proc) {
        this.stats.procfsGone++;
        continue;
      }
      this.#insert(this.#entryFromProc(proc));
      added++;
    }
    return added;
  }

  /** Fills in a parent start time that was unknown when the entry was made (parent recorded after the child). */
  #pinParent(entry: Entry): void {
    const parent = entry.info.ppid > 0 ? this.#byTgid.get(entry.info.ppid) : undefined;
    if (parent && startedNoLater(parent, entry)) entry.info.parentStartBoottimeNs = parent.info.startBoottimeNs;
  }

  /**
   * A live entry for `tgid` that started before `startBoottimeNs` belongs to a process that has exited since (the pid
   * now names a later one): it is marked exited now, which keeps it for its grace window under its own start time.
   * One that started later is left alone: the record asked about is older than it.
   */
  #retireIfReused(tgid: number, startBoottimeNs: bigint): void {
    const entry = this.#byTgid.get(tgid);
    if (!entry || entry.exitedAtNs !== NOT_EXITED || isSameStart(entry, startBoottimeNs)) return;
    if (entry.info.startBoottimeNs > startBoottimeNs) return;
    this.stats.reusedPids++;
    this.#markExited(entry, this.#nowNs);
  }

  #find(tgid: number, startBoottimeNs?: bigint): Entry | undefined {
    const entry = this.#byTgid.get(tgid);
    if (startBoottimeNs === undefined) return entry;
    if (entry && isSameStart(entry, startBoottimeNs)) return entry;
    return this.#displaced.get(`${tgid}:${startBoottimeNs}`);
  }

  #readFromProc(tgid: number, startBoottimeNs?: bigint): Entry | undefined {
    if (!this.#procfsLimiter) return undefined;
    if (!this.#procfsLimiter.tryAcquire()) {
      this.stats.procfsRateLimited++;
      return undefined;
    }
    this.stats.procfsReads++;
    const proc = readProcProcess(tgid, this.#procRoot);
    if (!proc) {
      this.stats.procfsGone++;
      return undefined;
    }
    // A different start time means the pid was reused since the process asked about: /proc shows someone else.
    if (startBoottimeNs !== undefined && !sameStartTime(proc.startBoottimeNs, startBoottimeNs)) return undefined;
    const entry = this.#entryFromProc(proc);
    this.#insert(entry);
    return entry;
  }

  #entryFromProc(proc: ProcProcess): Entry {
    const parent = this.#byTgid.get(proc.ppid);
    const cgroupId = proc.cgroupPath === null ? 0n : (this.#containers.idOfPath(proc.cgroupPath) ?? 0n);
    return {
      info: {
        tgid: proc.tgid,
        startBoottimeNs: proc.startBoottimeNs,
        ppid: proc.ppid,
        parentStartBoottimeNs: parent ? parent.info.startBoottimeNs : 0n,
        executable: proc.executable,
        argv: proc.argv,
        commandLine: proc.argv.join(' '),
        uid: proc.uid,
        euid: proc.euid,
        gid: proc.gid,
        comm: proc.comm,
        // /proc does not say when the last exec happened; the start is the closest lower bound it offers.
        execTimeNs: proc.startBoottimeNs,
        exeIno: proc.exeIno,
        exeDev: proc.exeDev,
        exeMtimeNs: proc.exeMtimeNs,
        exeFlags: proc.exeUnlinked ? ExecFlag.Unlinked : 0,
        ns: proc.ns,
        capEffective: proc.capEffective,
        cgroupId,
        // /proc shows neither the exec path nor what the process ran before: only the binary itself can tell.
        runtimeSetup: this.#isRuntimeSetupExec(
          { exeDev: proc.exeDev, exeIno: proc.exeIno, exeFlags: 0, mntNs: proc.ns.mnt, path: proc.executable },
          false,
        ),
        container: proc.cgroupPath === null ? null : this.#containers.resolvePath(proc.cgroupPath),
      },
      exitedAtNs: NOT_EXITED,
      coarseStart: true,
    };
  }

  #onExec(e: ExecEvent): void {
    const existing = this.#find(e.tgid, e.startBoottimeNs);
    const isSame = existing !== undefined && existing.exitedAtNs === NOT_EXITED;
    let parentStart = isSame && existing.info.ppid === e.ppid ? existing.info.parentStartBoottimeNs : 0n;
    if (parentStart === 0n) {
      // Snapshot records arrive in pid order, so a parent can come after its child: then it stays unknown (0) and
      // the ancestry walk pins it later.
      const parent = this.#byTgid.get(e.ppid);
      if (parent && parent.info.startBoottimeNs <= e.startBoottimeNs) parentStart = parent.info.startBoottimeNs;
    }
    const info: ProcessInfo = {
      tgid: e.tgid,
      startBoottimeNs: e.startBoottimeNs,
      ppid: e.ppid,
      parentStartBoottimeNs: parentStart,
      executable: executablePath(e),
      argv: e.argv,
      commandLine: e.argv.join(' '),
      uid: e.uid,
      euid: e.euid,
      gid: e.gid,
      comm: e.comm,
      execTimeNs: e.ktimeNs,
      exeIno: e.exeIno,
      exeDev: e.exeDev,
      exeMtimeNs: e.exeMtimeNs,
      exeFlags: e.exeFlags,
      ns: e.ns,
      capEffective: e.capEffective,
      cgroupId: e.cgroupId,
      runtimeSetup: this.#isRuntimeSetupExec(
        { exeDev: e.exeDev, exeIno: e.exeIno, exeFlags: e.exeFlags, mntNs: e.ns.mnt, path: e.path },
        isSame && existing.info.runtimeSetup,
      ),
      container: this.#containers.resolve(e.cgroupId, e.tgid),
    };
    if (isSame) {
      existing.info = info;
      existing.coarseStart = false;
    } else {
      this.#insert({ info, exitedAtNs: NOT_EXITED, coarseStart: false });
    }
  }

  #isRuntimeSetupExec(exec: ExecFacts, wasRuntimeSetup: boolean): boolean {
    return this.#runtime?.isRuntimeSetupExec(exec, wasRuntimeSetup) ?? false;
  }

  #onFork(e: ForkEvent): void {
    const parentStart = knownStart(e.startBoottimeNs);
    if (parentStart !== undefined) this.#retireIfReused(e.tgid, parentStart);
    const parent = this.#find(e.tgid, parentStart) ?? this.#readFromProc(e.tgid, parentStart);
    // The child runs the parent's image until it execs. Namespaces and (with CLONE_INTO_CGROUP) the cgroup can
    // differ already; the child's exec record corrects them.
    const base: ProcessInfo = parent
      ? parent.info
      : {
          tgid: e.tgid,
          startBoottimeNs: 0n,
          ppid: 0,
          parentStartBoottimeNs: 0n,
          executable: '',
          argv: [],
          commandLine: '',
          uid: e.uid,
          euid: e.uid,
          gid: e.gid,
          comm: e.comm,
          execTimeNs: e.ktimeNs,
          exeIno: 0n,
          exeDev: 0,
          exeMtimeNs: 0n,
          exeFlags: 0,
          ns: EMPTY_NS,
          capEffective: 0n,
          cgroupId: e.cgroupId,
          runtimeSetup: false,
          container: this.#containers.resolve(e.cgroupId, e.tgid),
        };
    if (!parent) this.stats.unknownProcess++;
    this.#insert({
      info: {
        ...base,
        tgid: e.childTgid,
        startBoottimeNs: e.childStartBoottimeNs,
        ppid: e.tgid,
        parentStartBoottimeNs: parent ? parent.info.startBoottimeNs : (parentStart ?? 0n),
      },
      exitedAtNs: NOT_EXITED,
      coarseStart: false,
    });
  }

  #onExit(e: ExitEvent): void {
    const entry = this.#find(e.tgid, e.startBoottimeNs);
    if (!entry || entry.exitedAtNs !== NOT_EXITED) {
      this.stats.unknownProcess++;
      return;
    }
    this.#markExited(entry, e.ktimeNs);
  }

  #markExited(entry: Entry, atNs: bigint): void {
    entry.exitedAtNs = atNs;
    this.#exited.add(entry);
    if (this.#nextExpiryNs < 0n) this.#nextExpiryNs = entry.exitedAtNs + this.#graceNs;
  }

  #insert(entry: Entry): void {
    const tgid = entry.info.tgid;
    const previous = this.#byTgid.get(tgid);
    if (previous) {
      this.#byTgid.delete(tgid);
      // An exited process still in its grace window keeps resolving under its own start time.
      if (previous.exitedAtNs !== NOT_EXITED) this.#displaced.set(`${tgid}:${previous.info.startBoottimeNs}`, previous);
    }
    this.#byTgid.set(tgid, entry);
    while (this.size > this.#maxEntries) this.#evictOne();
  }

  #remove(entry: Entry): void {
    this.#exited.delete(entry);
    const tgid = entry.info.tgid;
    if (this.#byTgid.get(tgid) === entry) this.#byTgid.delete(tgid);
    else this.#displaced.delete(`${tgid}:${entry.info.startBoottimeNs}`);
  }

  #expire(): void {
    this.#nextExpiryNs = -1n;
    for (const entry of this.#exited) {
      const expiresAt = entry.exitedAtNs + this.#graceNs;
      if (expiresAt > this.#nowNs) {
        this.#nextExpiryNs = expiresAt;
        break;
      }
      this.#remove(entry);
      this.stats.expired++;
    }
  }

  #evictOne(): void {
    const oldestExited = this.#exited.values().next();
    if (!oldestExited.done) {
      this.#remove(oldestExited.value);
      this.stats.evictedExited++;
      return;
    }
    const leastRecent = this.#byTgid.values().next();
    if (!leastRecent.done) {
      this.#remove(leastRecent.value);
      this.stats.evictedLive++;
    }
  }
}
