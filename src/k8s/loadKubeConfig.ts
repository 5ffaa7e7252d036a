// Where the API server credentials come from. A DaemonSet pod uses its service account (in-cluster); a
// developer or a test points at a kubeconfig. With neither, Kubernetes metadata is off — not an error, since
// the agent also protects plain container hosts.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';

export interface KubeConfigOptions {
  /** Explicit kubeconfig path (the agent's --kubeconfig); must exist when given. */
  kubeconfigPath?: string;
  /** Environment to read KUBERNETES_SERVICE_HOST/PORT and KUBECONFIG from; defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  /** Prefix for /var/run/secrets/kubernetes.io/serviceaccount (tests lay out a fake mount under a temp dir). */
  serviceAccountRoot?: string;
}

export type KubeConfigResult =
  | { config: KubeConfig; source: string }
  | { config: null; reason: string };

const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export function loadKubeConfig(options: KubeConfigOptions = {}): KubeConfigResult {
  const env = options.env ?? process.env;
  if (options.kubeconfigPath !== undefined) {
    if (!existsSync(options.kubeconfigPath)) {
      throw new Error(`kubeconfig ${options.kubeconfigPath} does not exist`);
    }
    return { config: fromFiles([options.kubeconfigPath]), source: `kubeconfig ${options.kubeconfigPath}` };
  }

  const root = options.serviceAccountRoot ?? '';
  const tokenPath = join(root, SERVICE_ACCOUNT_DIR, 'token');
  if (env.KUBERNETES_SERVICE_HOST && env.KUBERNETES_SERVICE_PORT && existsSync(tokenPath)) {
    const config = new KubeConfig();
    // loadFromCluster reads the host and port from process.env; an explicit env must win for it.
    const saved = { host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT };
    process.env.KUBERNETES_SERVICE_HOST = env.KUBERNETES_SERVICE_HOST;
    process.env.KUBERNETES_SERVICE_PORT = env.KUBERNETES_SERVICE_PORT;
    try {
      config.loadFromCluster(root);
    } finally {
      restoreEnv('KUBERNETES_SERVICE_HOST', saved.host);
      restoreEnv('KUBERNETES_SERVICE_PORT', saved.port);
    }
    return { config, source: `in-cluster service account (${env.KUBERNETES_SERVICE_HOST}:${env.KUBERNETES_SERVICE_PORT})` };
  }

  const listed = (env.KUBECONFIG ?? '').split(':').filter((path) => path.length > 0);
  const present = listed.filter((path) => existsSync(path));
  if (present.length > 0) {
    return { config: fromFiles(present), source: `KUBECONFIG ${present.join(':')}` };
  }
  if (listed.length > 0) {
    return { config: null, reason: `KUBECONFIG names no existing file (${listed.join(':')})` };
  }
  return { config: null, reason: 'no in-cluster service account and no kubeconfig' };
}

function fromFiles(paths: string[]): KubeConfig {
  const config = new KubeConfig();
  config.loadFromFile(paths[0]);
  for (const path of paths.slice(1)) {
    const more = new KubeConfig();
    more.loadFromFile(path);
    config.mergeConfig(more);
  }
  if (!config.getCurrentCluster()) {
    throw new Error(`kubeconfig ${paths.join(':')} has no current context with a cluster`);
  }
  return config;
}

function restoreEnv(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}
