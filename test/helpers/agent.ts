/**
 * The real agent as a child process, for end-to-end tests: `bin/kubesentry.js run` with a JSON-lines output in a
 * temp dir, started under the same Node that runs the tests.
 *
 * startAgent({ args, env, wrapper }) → Promise<RunningAgent>: resolves once the agent logged that it runs (kernel
 *   programs attached, snapshot taken); rejects with the agent's stderr if it exits first. `wrapper` is a command
 *   the agent's command line is appended to (e.g. one that changes how some syscall behaves).
 * RunningAgent:
 *   detections()              every detection written so far (parsed JSON lines)
 *   waitForDetection(match, what, timeoutMs)  the first detection for which match() is true
 *   stop()                    SIGTERM and wait for exit; returns the exit status
 *   process                   the BackgroundProcess (stderr lines for diagnostics)
 */
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnBackground, type BackgroundProcess, type ExitStatus } from './run.ts';
import { waitFor } from './wait.ts';

export const AGENT_BIN = fileURLToPath(new URL('../../bin/kubesentry.js', import.meta.url));

export interface JsonDetection {
  time: string;
  rule: string;
  category: string;
  severity: string;
  summary: string;
  attributes: Record<string, unknown>;
  ancestry: { pid: number; executable: string; command_line: string; start_time: string }[];
}

export interface RunningAgent {
  readonly process: BackgroundProcess;
  readonly outputPath: string;
  readonly stateDir: string;
  detections(): JsonDetection[];
  waitForDetection(match: (d: JsonDetection) => boolean, what: string, timeoutMs?: number): Promise<JsonDetection>;
  stop(): Promise<ExitStatus>;
}

export async function startAgent(
  opts: { args?: string[]; env?: NodeJS.ProcessEnv; stateDir?: string; wrapper?: readonly string[] } = {},
): Promise<RunningAgent> {
  const dir = mkdtempSync(path.join(tmpdir(), 'kubesentry-agent-'));
  const outputPath = path.join(dir, 'detections.jsonl');
  const stateDir = opts.stateDir ?? path.join(dir, 'state');
  const command = [
    ...(opts.wrapper ?? []),
    process.execPath,
    AGENT_BIN,
    'run',
    '--output',
    `jsonl:${outputPath}`,
    '--console.enabled',
    'false',
    '--state-dir',
    stateDir,
    ...(opts.args ?? []),
  ];
  const proc = spawnBackground(command[0], command.slice(1), { env: opts.env });
  // Loading and verifying every kernel program takes seconds, more on a loaded 2-core machine.
  const started = proc.waitForLine(/kubesentry running/, 180_000);
  const exitedEarly = proc.exited.then((s) => {
    throw new Error(`agent exited (${s.code ?? s.signal}) before it ran:\n${proc.lines.join('\n')}`);
  });
  await Promise.race([started, exitedEarly]);
  exitedEarly.catch(() => {});

  const detections = (): JsonDetection[] =>
    existsSync(outputPath)
      ? readFileSync(outputPath, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as JsonDetection)
      : [];
  return {
    process: proc,
    outputPath,
    stateDir,
    detections,
    waitForDetection: (match, what, timeoutMs = 20_000) =>
      waitFor(() => detections().find(match), { what, timeoutMs, intervalMs: 50 }),
    stop: () => proc.kill('SIGTERM', 10_000),
  };
}
