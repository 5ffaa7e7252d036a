// The agent hands its logger to the Kubernetes metadata module; library code never writes to the console itself.

export interface K8sLogger {
  info(message: string): void;
  warn(message: string): void;
}

export const silentLogger: K8sLogger = { info() {}, warn() {} };
