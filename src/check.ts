// `kubesentry check`: what this kernel offers the agent, in words a node operator can act on.

import type { AgentConfig } from './config.ts';
import { probeKernel, type KernelProbeReport } from './receiver/probe.ts';

const WHY_OPTIONAL: Record<string, string> = {
  raw_tp: 'fallback for cgroup events when tp_btf is refused',
  tp_btf: 'typed scheduler and cgroup hooks (preferred); the agent falls back to tracepoints',
  iter: 'snapshot of processes that existed before the agent (falls back to /proc)',
  uprobe: 'not used yet',
  lsm: 'not used: enforcement hooks are future work; detection runs on tracepoints',
  fentry: 'not used: the agent runs on tracepoints everywhere',
};

export function formatReport(r: KernelProbeReport): string {
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
  return lines.join('\n') + '\n';
}

export async function runCheck(config: AgentConfig, options: { json: boolean }): Promise<number> {
  const report = probeKernel({ btfPath: config.kernel.btfPath, tracefsPath: config.kernel.tracefsPath });
  process.stdout.write(options.json ? JSON.stringify(report, null, 2) + '\n' : formatReport(report));
  return report.canRun ? 0 : 1;
}
