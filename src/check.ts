// `kubesentry check`: what this kernel offers the agent, in words a node operator can act on.

import type { AgentConfig } from './config.ts';
import { allDetectors } from './detectors/registry.ts';
import { ENFORCE_CHECK_HOOKS, KernelEnforceCheck } from './receiver/enforcement.ts';
import { openKernelSource } from './receiver/kernel.ts';
import { DEFAULT_PROBE_OBJECT_PATH, probeKernel, probeSendSignal, type KernelProbeReport } from './receiver/probe.ts';

const WHY_OPTIONAL: Record<string, string> = {
  raw_tp: 'fallback for cgroup events when tp_btf is refused',
  tp_btf: 'typed scheduler and cgroup hooks (preferred); the agent falls back to tracepoints',
  iter: 'snapshot of processes that existed before the agent (falls back to /proc)',
  uprobe: 'not used yet',
  lsm: 'not used: enforcement kills with bpf_send_signal at tracepoints (docs/enforcement.md)',
  fentry: 'not used: the agent runs on tracepoints everywhere',
};

/** Whether in-kernel enforcement (docs/enforcement.md) can work here, per check. */
export interface EnforcementReport {
  /** The helper every kill goes through. */
  sendSignal: { supported: boolean; errno?: number; reason?: string };
  /** The agent's own programs, loaded and attached as the agent would (enforcement stays off meanwhile). */
  checks: {
    check: string;
    number: number;
    rules: string[];
    hooks: { hook: string; attached: boolean; reason?: string }[];
  }[];
  /** Why the agent's programs could not be loaded or attached at all. */
  error?: string;
}

export type CheckReport = KernelProbeReport & { enforcement?: EnforcementReport };

const CHECK_NAMES = new Map(Object.entries(KernelEnforceCheck).map(([name, n]) => [n as number, name]));

export function probeEnforcement(config: AgentConfig): EnforcementReport {
  const sendSignal = probeSendSignal({ btfPath: config.kernel.btfPath, probeObjectPath: DEFAULT_PROBE_OBJECT_PATH });
  const rulesOf = new Map<number, string[]>();
  for (const d of allDetectors()) {
    for (const check of d.meta.enforcement?.checks ?? []) rulesOf.set(check, [...(rulesOf.get(check) ?? []), d.meta.id]);
  }
  let attached: Map<string, string | undefined>;
  try {
    const source = openKernelSource({
      objectPath: config.kernel.objectPath || undefined,
      agentTgid: process.pid,
      btfPath: config.kernel.btfPath,
      tracefsPath: config.kernel.tracefsPath,
      pathPatterns: [],
    });
    try {
      source.start(() => {});
      attached = new Map(source.hooks().map((h) => [h.hook, h.variant !== null ? undefined : h.rejected.map((r) => `${r.variant}: ${r.reason}`).join('; ')]));
    } finally {
      source.close();
    }
  } catch (error) {
    return { sendSignal, checks: [], error: (error as Error).message };
  }
  const checks = Object.entries(ENFORCE_CHECK_HOOKS).map(([number, hooks]) => ({
    check: CHECK_NAMES.get(Number(number)) ?? number,
    number: Number(number),
    rules: rulesOf.get(Number(number)) ?? [],
    hooks: hooks.map((hook) => {
      const reason = attached.has(hook) ? attached.get(hook) : 'no such hook in the agent\'s object';
      return reason === undefined ? { hook, attached: true } : { hook, attached: false, reason };
    }),
  }));
  return { sendSignal, checks };
}

function formatEnforcement(e: EnforcementReport): string[] {
  const lines = [
    e.sendSignal.supported
      ? 'ok   bpf_send_signal: enforcement can kill'
      : `no   bpf_send_signal: refused (${e.sendSignal.reason}); enforcement cannot kill here, detection is unaffected`,
  ];
  if (e.error !== undefined) {
    lines.push(`no   enforcement checks: the agent's programs did not load: ${e.error}`);
    return lines;
  }
  const working: string[] = [];
  const notWorking: string[] = [];
  for (const c of e.checks) {
    const missing = c.hooks.filter((h) => !h.attached);
    const name = `enforcement check ${c.number} ${c.check} (${c.rules.join(', ')})`;
    if (missing.length === 0) {
      lines.push(`ok   ${name}`);
      working.push(c.check);
    } else if (missing.length < c.hooks.length) {
      lines.push(`part ${name}: not at ${missing.map((h) => `${h.hook} (${h.reason})`).join('; ')}`);
      working.push(`${c.check} (partly)`);
    } else {
      lines.push(`no   ${name}: ${missing.map((h) => `${h.hook} (${h.reason})`).join('; ')}`);
      notWorking.push(c.check);
    }
  }
  if (!e.sendSignal.supported) lines.push('enforcement cannot work here');
  else lines.push(`enforcement can work here for ${working.join(', ')}${notWorking.length > 0 ? `; not for ${notWorking.join(', ')}` : ''}`);
  return lines;
}

export function formatReport(r: CheckReport): string {
  const lines = [
    `kernel ${r.kernelRelease}, libbpf ${r.libbpfVersion}`,
    `${r.btf.present ? 'ok  ' : 'FAIL'} BTF at ${r.btf.path}`,
    `${r.tracefs.mounted ? 'ok  ' : 'FAIL'} tracefs at ${r.tracefs.path}${r.tracefs.mountedByProbe ? ' (mounted now)' : ''}${r.tracefs.reason ? `: ${r.tracefs.reason}` : ''}`,
    `${r.bpffs.mounted ? 'ok  ' : 'warn'} bpffs at ${r.bpffs.path}${r.bpffs.reason ? `: ${r.bpffs.reason}` : ''}`,
    `${r.ringBuffer.supported ? 'ok  ' : 'FAIL'} BPF ring buffer${r.ringBuffer.errno ? ` (errno ${r.ringBuffer.errno})` : ''}`,
    `${r.cgroup2Mount ? 'ok  ' : 'FAIL'} cgroup v2 at ${r.cgroup2Mount ?? '(not mounted)'}`,
  ];
  for (const h of r.hookTypes) {
    const required = h.hookType === 'tracepoint';
    const mark = h.supported ? 'ok  ' : required ? 'FAIL' : 'no  ';
    const why = h.supported ? '' : ` — refused at ${h.stage}${h.errno ? ` (errno ${h.errno})` : ''}: ${h.reason}`;
    const role = required ? 'required' : WHY_OPTIONAL[h.hookType] ?? '';
    lines.push(`${mark} hook type ${h.hookType.padEnd(10)} ${role}${why}`);
  }
  lines.push(r.canRun ? 'the agent can run here' : `the agent cannot run here: ${r.problems.join('; ')}`);
  if (r.enforcement !== undefined) lines.push(...formatEnforcement(r.enforcement));
  return lines.join('\n') + '\n';
}

export async function runCheck(config: AgentConfig, options: { json: boolean }): Promise<number> {
  const report: CheckReport = probeKernel({ btfPath: config.kernel.btfPath, tracefsPath: config.kernel.tracefsPath });
  // Enforcement needs the agent to run first; its report says per check whether the kernel can also kill.
  if (report.canRun) report.enforcement = probeEnforcement(config);
  process.stdout.write(options.json ? JSON.stringify(report, null, 2) + '\n' : formatReport(report));
  return report.canRun ? 0 : 1;
}
