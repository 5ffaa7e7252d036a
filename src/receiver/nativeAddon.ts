// Loads native/build/Release/kubesentry.node and describes its surface. Only kernel.ts and probe.ts use it; the
// rest of the agent sees KernelSource and probeKernel. Argument validation happens in those callers: the addon
// trusts what it is given beyond what would corrupt memory.

import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { KernelError } from './KernelError.ts';

export interface NativeProgramInfo {
  name: string;
  section: string;
  /** libbpf's name of the program type, e.g. 'tracepoint', 'raw_tracepoint', 'tracing'. */
  type: string;
  autoload: boolean;
}

export interface NativeMapInfo {
  name: string;
  type: string;
  keySize: number;
  valueSize: number;
  maxEntries: number;
}

export interface NativeProgramStats {
  name: string;
  runCount: bigint;
  runTimeNs: bigint;
  recursionMisses: bigint;
}

export interface NativeBpfObject {
  programs(): NativeProgramInfo[];
  maps(): NativeMapInfo[];
  setAutoload(program: string, autoload: boolean): void;
  setRodata(variable: string, value: Buffer): void;
  resizeMap(map: string, maxEntries: number): void;
  load(): void;
  /** Attaches where the program's SEC() says; returns a link id for detach(). */
  attach(program: string): number;
  attachTracepoint(program: string, tracepointId: number): number;
  attachUprobe(program: string, binaryPath: string, functionName: string): number;
  detach(linkId: number): void;
  mapFd(map: string): number;
  mapUpdate(map: string, key: Buffer, value: Buffer): void;
  mapLookup(map: string, key: Buffer): Buffer | null;
  /** False when the key was not in the map. */
  mapDelete(map: string, key: Buffer): boolean;
  perCpuSum(map: string, key: number): bigint;
  /** Every entry of a map that is not per-CPU: keys and values each back to back, in the same order. */
  mapEntries(map: string): { keys: Buffer; values: Buffer };
  runIterator(program: string): Buffer;
  programStats(): NativeProgramStats[];
  close(): void;
}

export interface NativeReaderStats {
  batches: bigint;
  records: bigint;
  bytes: bigint;
  queuedBytes: bigint;
  /** The most queuedBytes ever was: at most maxQueuedBytes plus one record. */
  queuedBytesHighWater: bigint;
  flowControlWaits: bigint;
  /**
   * Batches, and the records in them, freed without reaching JS: in flight at close() or teardown, or read by a
   * reader thread that then failed.
   */
  undeliveredBatches: bigint;
  undeliveredRecords: bigint;
  paused: boolean;
  /** Why the reader thread stopped on its own (e.g. 'epoll_wait failed'); null while it runs or after close(). */
  failure: string | null;
  /** The errno of that failure; 0 without one. */
  lastErrno: number;
}

export interface NativeRingBufferReader {
  pause(): void;
  resume(): void;
  stats(): NativeReaderStats;
  close(): void;
}

export interface NativeReaderOptions {
  maxBatchBytes: number;
  maxQueuedBytes: number;
  pollIntervalMs: number;
  coalesceBelowBytes?: number;
  /** Called once on the JS thread, after the batches read before it, if the reader thread stops on a failure. */
  onStopped?: (reason: string, errno: number) => void;
}

export interface NativeAddon {
  BpfObject: new (objectPath: string, btfPath?: string) => NativeBpfObject;
  RingBufferReader: new (
    mapFd: number,
    onBatch: (batch: Buffer) => void,
    options: NativeReaderOptions,
  ) => NativeRingBufferReader;
  setErrorClass(errorClass: typeof KernelError): void;
  mountFilesystem(fstype: string, target: string): void;
  /** 0 when the kernel supports the map type, else the errno of the refusal. */
  probeMapType(type: string): number;
  libbpfVersion: string;
}

export const ADDON_PATH = fileURLToPath(new URL('../../native/build/Release/kubesentry.node', import.meta.url));

let addon: NativeAddon | undefined;

export function nativeAddon(): NativeAddon {
  if (addon !== undefined) return addon;
  try {
    addon = createRequire(import.meta.url)(ADDON_PATH) as NativeAddon;
  } catch (error) {
    throw new KernelError('EADDON', `cannot load the native addon ${ADDON_PATH} (run \`make native\`)`, {
      cause: error,
    });
  }
  addon.setErrorClass(KernelError);
  return addon;
}
