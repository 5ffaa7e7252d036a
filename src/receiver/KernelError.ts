// The one error type for everything between the agent and the kernel: libbpf and verifier failures raised by the
// native addon (which constructs this class directly, see native/kernel_error.cc) and the checks kernel.ts and
// probe.ts make before touching the kernel (missing BTF, a bad path pattern, an object that breaks the contract).

/** Stable codes callers may branch on. */
export type KernelErrorCode =
  | 'EBPF_OPEN' // the object file cannot be read or parsed
  | 'EBPF_LOAD' // the verifier or the kernel refused a program or map; see verifierLog
  | 'EBPF_ATTACH' // a loaded program could not be attached
  | 'EBPF_ITER' // the task iterator could not be created or read
  | 'EBPF_MAP' // a map update or lookup failed
  | 'EBPF_CONFIG' // a .rodata variable or map size could not be set
  | 'EBPF_STATS' // program statistics could not be read
  | 'EBPF_RINGBUF' // the ring buffer could not be mapped or polled
  | 'EBPF_NOT_FOUND' // a program, map or variable named by the contract is missing from the object
  | 'EBPF_CLOSED' // the object or source was used after close()
  | 'EBPF_CONTRACT' // the object does not follow the hook naming contract of bpf/events.h
  | 'EBTF_MISSING' // no kernel BTF at the configured path
  | 'EMOUNT' // tracefs or bpffs is not mounted and could not be mounted
  | 'ETRACEFS' // a tracepoint the object needs is not in tracefs
  | 'EPATTERN' // a sensitive-path pattern the kernel filter cannot express
  | 'EOPTION' // an option of openKernelSource or probeKernel is out of range
  | 'EADDON'; // the native addon is not built or failed to load

export interface KernelErrorDetails {
  /** The errno reported by the kernel or libbpf (0 when none applies). */
  errno?: number;
  /** The last lines of libbpf's log for the failing call, which include the verifier's explanation. */
  verifierLog?: string;
  cause?: unknown;
}

export class KernelError extends Error {
  override name = 'KernelError';
  readonly code: KernelErrorCode;
  readonly errno: number;
  readonly verifierLog: string;

  constructor(code: KernelErrorCode, message: string, details: KernelErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.errno = details.errno ?? 0;
    this.verifierLog = details.verifierLog ?? '';
  }
}
