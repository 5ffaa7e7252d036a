// The receive path shared by `run` and `events`: kernel programs → ring buffer batches → decoder → process table and
// container identity. Whoever builds a pipeline gets each decoded event after the tables have taken it in.

import { existsSync } from 'node:fs';
import { BootClock } from './clock.ts';
import type { AgentConfig } from './config.ts';
import type { Logger } from './log.ts';
import { ContainerResolver } from './receiver/ContainerResolver.ts';
import { createDecoderStats, decodeBatch, type DecoderStats } from './receiver/decoder.ts';
import { EventType, EventTypeName, type KernelEvent } from './receiver/events.ts';
import { readHostNamespaces, type HostNamespaces } from './receiver/hostNamespaces.ts';
import { findHostRoot, HostRuntimeBinaries } from './receiver/HostRuntimeBinaries.ts';
import { MAX_HOST_FILESYSTEMS, readHostFilesystems, type HostFilesystems } from './receiver/hostFilesystems.ts';
import type { ContainerIdentity, ProcessInfo } from './receiver/identity.ts';
import { DEFAULT_OBJECT_PATH, openKernelSource, type KernelSource } from './receiver/kernel.ts';
import { COMPAT_SYSCALL_HOOK } from './receiver/enforcement.ts';
import { assertObjectLayout } from './receiver/btfLayout.ts';
import { RateLimitedLog } from './receiver/RateLimiter.ts';
import { ProcessTable } from './receiver/ProcessTable.ts';

export class AgentStartError extends Error {
  override name = 'AgentStartError';
}

export interface PipelineOptions {
  config: AgentConfig;
  log: Logger;
  /** Sensitive-path patterns for the kernel's open filter. */
  pathPatterns: readonly string[];
  onEvent: (event: KernelEvent) => void;
  /**
   * Container runtime binaries (base names or host paths) whose own set-up work in a new container is no attack;
   * read again when it returns a new value (a rules reload). None: every process is a workload.
   */
  runtimeExecutables?: () => Iterable<string>;
}

/**
 * Checks that the BPF object's record layouts are the ones the decoder reads (a stale or foreign object would
 * otherwise decode into garbage), then starts the pipeline.
 */
export async function openPipeline(options: PipelineOptions): Promise<Pipeline> {
  const objectPath = options.config.kernel.objectPath || DEFAULT_OBJECT_PATH;
  try {
    // A missing object is reported by the kernel source, with how to build it.
    if (existsSync(objectPath)) await assertObjectLayout(objectPath);
  } catch (e) {
    throw new AgentStartError((e as Error).message);
  }
  return new Pipeline(options);
}

export class Pipeline {
  readonly clock = new BootClock();
  readonly decoderStats: DecoderStats = createDecoderStats();
  readonly containers: ContainerResolver;
  readonly processes: ProcessTable;
  readonly host: HostNamespaces;
  readonly runtimeBinaries: HostRuntimeBinaries;
  readonly hostFilesystems: HostFilesystems;
  readonly kernel: KernelSource;
  #closed = false;

  constructor(options: PipelineOptions) {
    const { config, log } = options;
    this.host = readHostNamespaces((m) => log.warn(m), config.hostProc);
    this.hostFilesystems = readHostFilesystems((m) => log.warn(m), config.hostProc);
    const hostDevices = this.hostFilesystems.devices();
    if (hostDevices.length > MAX_HOST_FILESYSTEMS) {
      log.warn(
        `${hostDevices.length} host filesystems, the kernel watches the first ${MAX_HOST_FILESYSTEMS}: ` +
          'container access to the others is not seen',
      );
    }
    this.containers = new ContainerResolver({ nowBootNs: () => this.clock.nowBootNs(), procRoot: config.hostProc });
    this.containers.start();
    const noRuntimes: string[] = [];
    this.runtimeBinaries = new HostRuntimeBinaries({
      hostRoot: findHostRoot((m) => log.warn(m), config.hostProc),
      hostMntNs: this.host.inodes.mnt,
      executables: options.runtimeExecutables ?? (() => noRuntimes),
    });
    this.processes = new ProcessTable({
      maxEntries: config.processTable.maxEntries,
      exitedGraceMs: config.processTable.exitedGraceMs,
      containers: this.containers,
      procRoot: config.hostProc,
      runtime: this.runtimeBinaries,
    });
    this.kernel = openKernelSource({
      objectPath: config.kernel.objectPath || undefined,
      agentTgid: process.pid,
      ringBytes: config.kernel.ringBytes,
      wakeupBatchBytes: config.kernel.wakeupBatchBytes,
      urgentWakeupGapUs: config.kernel.urgentWakeupGapUs,
      hotRingPercent: config.kernel.hotRingPercent,
      hotRecordsPerSecond: config.kernel.hotRecordsPerSecond,
      hotRecordsBurst: config.kernel.hotRecordsBurst,
      disabledHooks: config.kernel.compatSyscalls ? [] : [COMPAT_SYSCALL_HOOK],
      btfPath: config.kernel.btfPath,
      tracefsPath: config.kernel.tracefsPath,
      pathPatterns: options.pathPatterns,
      hostFilesystems: { mountNamespaceInode: this.host.inodes.mnt, devices: hostDevices.slice(0, MAX_HOST_FILESYSTEMS) },
    });
    // Logged once the kernel side opened: a fatal start-up error stays the only line on stderr.
    const runtimes = [...this.runtimeBinaries.found()].map(([file, id]) => `${file} (${id.dev >>> 20}:${id.dev & 0xfffff} inode ${id.ino})`);
    if (options.runtimeExecutables) {
      if (runtimes.length > 0) log.info(`container runtime binaries: ${runtimes.join(', ')}`);
      else log.warn('no container runtime binary found on the host (settings.runtimeExecutables): the runtime\'s own container set-up will be reported as container activity');
    }
    const onEvent = options.onEvent;
    const take = (event: KernelEvent) => {
      if (event.type === EventType.Cgroup) this.containers.onCgroupEvent(event);
      else if (event.type === EventType.HostFs) {
        event.hostPath = this.hostFilesystems.hostPath(event.dev, event.fsPath);
        event.fsRootHostPath = this.hostFilesystems.hostPath(event.dev, '/');
      }
      this.processes.onEvent(event);
      onEvent(event);
    };
    const decoderLog = new RateLimitedLog((m) => log.warn(m));
    // Below an eighth of the ring per poll interval the ring still holds eight intervals: read once per interval
    // (each JS batch has a fixed cost that dominates at low rates); above it, read on every wakeup.
    this.kernel.start((batch) => decodeBatch(batch, take, this.decoderStats, decoderLog), {
      coalesceBelowBytes: config.kernel.wakeupBatchBytes === 0 ? 0 : Math.floor(config.kernel.ringBytes / 8),
      pollIntervalMs: config.kernel.pollIntervalMs,
      onStopped: (failure) =>
        log.error(`${failure.message}: no kernel events are read from now on (the kernel counts what it drops); not ready until restarted`),
    });
    // Processes that existed before us: the iterator's records arrive through the same ring buffer.
    this.kernel.snapshot();
  }

  process(tgid: number, startBoottimeNs?: bigint): ProcessInfo | undefined {
    return this.processes.get(tgid, startBoottimeNs);
  }

  container(cgroupId: bigint, tgid: number): ContainerIdentity | null {
    return this.containers.resolve(cgroupId, tgid);
  }

  /** Why the agent no longer receives kernel events (the ring reader thread failed); undefined while it does. */
  blindness(): string | undefined {
    return this.kernel.readerFailure()?.message;
  }

  /** Kernel drops per event type name, summed over CPUs. */
  kernelDrops(): Map<string, bigint> {
    const out = new Map<string, bigint>();
    for (const [type, count] of this.kernel.drops()) out.set(EventTypeName[type] ?? String(type), count);
    return out;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.kernel.close();
  }
}
