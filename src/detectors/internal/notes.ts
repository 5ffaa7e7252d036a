// Caveats several rules share, worded once.

/** For rules about system calls that common seccomp profiles deny. */
export const SECCOMP_DENIED_NOTE =
  ' Under a seccomp profile that denies the call (Docker/Podman default, Kubernetes RuntimeDefault) the kernel ' +
  'refuses it before the syscall tracepoint, so the attempt is neither possible nor reported.';
