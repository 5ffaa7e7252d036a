/**
 * Spawning host commands from tests.
 *
 * run(cmd, args, { timeoutMs = 60_000, input, env, cwd }) → Promise<{ code, signal, stdout, stderr }>
 *   Runs to completion. Resolves whatever the exit code; rejects only when the command cannot be started or
 *   outlives the timeout (it is then SIGKILLed).
 * runOrThrow(cmd, args, opts) → same result, but a non-zero exit rejects with a one-line message that quotes
 *   the command and the tail of its stderr.
 *
 * spawnBackground(cmd, args, { env, cwd, stdin }) → BackgroundProcess
 *   For long-running things (the agent, a collector, a workload):
 *     .pid                      host PID of the direct child
 *     .lines                    every stdout and stderr line so far, in arrival order (grows while it runs)
 *     .waitForLine(re, ms)      the first line, already seen or still to come, matching `re`; rejects early if
 *                               the process exits without printing it
 *     .exited                   settles with { code, signal } when it exits (never rejects)
 *     .kill(signal = SIGTERM)   signals the whole process group, escalates to SIGKILL after `graceMs`,
 *                               resolves with the exit status
 *   Each child leads its own process group so kill() also reaches the grandchildren a shell or wrapper starts.
 *   Anything still running when the test process exits is SIGKILLed (see onExit).
 *
 * onExit(fn) registers a synchronous cleanup that runs once when the test process exits, including on
 * SIGINT/SIGTERM (the test runner's way of stopping a file). podman.ts and cgroup.ts use it for their leftovers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { WaitTimeoutError } from './wait.ts';

export interface RunResult {
  /** Exit code, or null when the command was ended by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  timeoutMs?: number;
  /** Written to stdin, which is then closed. Without it stdin is /dev/null. */
  input?: string | Buffer;
  /** Added to (not replacing) the test process's environment. */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

const DEFAULT_RUN_TIMEOUT_MS = 60_000;

export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_RUN_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ? { ...process.env, ...opts.env } : process.env,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout!.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk));
    if (opts.input !== undefined) {
      // A command that exits without reading its input must not turn into an EPIPE crash.
      child.stdin!.on('error', () => {});
      child.stdin!.end(opts.input);
    }
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${formatCommand(cmd, args)}: ${err.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const result: RunResult = {
        code,
        signal,
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
      };
      if (timedOut) {
        reject(new Error(`${formatCommand(cmd, args)} did not finish within ${timeoutMs} ms${tail(result.stderr)}`));
      } else {
        resolve(result);
      }
    });
  });
}

export async function runOrThrow(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const result = await run(cmd, args, opts);
  if (result.code !== 0) {
    const status = result.code === null ? `signal ${result.signal}` : `exit code ${result.code}`;
    throw new Error(`${formatCommand(cmd, args)} failed with ${status}${tail(result.stderr || result.stdout)}`);
  }
  return result;
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface BackgroundOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** 'pipe' exposes the child's stdin as `.stdin`; default is /dev/null. */
  stdin?: 'ignore' | 'pipe';
  /** Extra file descriptors after stdio, e.g. ['pipe'] for fd 3. */
  extraFds?: ('pipe' | 'ignore')[];
}

export interface BackgroundProcess {
  readonly pid: number;
  readonly command: string;
  readonly lines: readonly string[];
  readonly exited: Promise<ExitStatus>;
  /** null until the process has exited. */
  readonly exitStatus: ExitStatus | null;
  readonly child: ChildProcess;
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  kill(signal?: NodeJS.Signals, graceMs?: number): Promise<ExitStatus>;
}

const DEFAULT_LINE_TIMEOUT_MS = 30_000;
const DEFAULT_KILL_GRACE_MS = 5_000;

const running = new Set<ChildProcess>();

export function spawnBackground(cmd: string, args: readonly string[], opts: BackgroundOptions = {}): BackgroundProcess {
  const command = formatCommand(cmd, args);
  const child = spawn(cmd, args, {
    cwd: opts.cwd,
    env: opts.env ? { ...process.env, ...opts.env } : process.env,
    stdio: [opts.stdin ?? 'ignore', 'pipe', 'pipe', ...(opts.extraFds ?? [])],
    detached: true,
  });
  let spawnError: Error | undefined;
  // Without a listener a spawn failure (ENOENT, EACCES) would be an uncaught 'error' event.
  child.once('error', (err) => {
    spawnError = err;
  });
  if (child.pid === undefined) {
    // The error event comes later; a missing pid already says the spawn failed.
    throw new Error(`cannot start ${command}: is ${cmd} installed and on PATH?`);
  }
  registerExitHook();
  running.add(child);

  const lines: string[] = [];
  const lineListeners = new Set<() => void>();
  const onLine = (line: string): void => {
    lines.push(line);
    for (const listener of lineListeners) listener();
  };
  createInterface({ input: child.stdout!, crlfDelay: Infinity }).on('line', onLine);
  createInterface({ input: child.stderr!, crlfDelay: Infinity }).on('line', onLine);

  let exitStatus: ExitStatus | null = null;
  const exited = new Promise<ExitStatus>((resolve) => {
    child.once('close', (code, signal) => {
      running.delete(child);
      exitStatus = { code, signal };
      if (spawnError) lines.push(`spawn error: ${spawnError.message}`);
      for (const listener of lineListeners) listener();
      resolve(exitStatus);
    });
  });

  const waitForLine = (pattern: RegExp, timeoutMs = DEFAULT_LINE_TIMEOUT_MS): Promise<RegExpMatchArray> =>
    new Promise((resolve, reject) => {
      let scanned = 0;
      const check = (): void => {
        for (; scanned < lines.length; scanned++) {
          const match = lines[scanned].match(pattern);
          if (match) return finish(() => resolve(match));
        }
        if (exitStatus) {
          finish(() =>
            reject(new Error(`${command} exited (${describeExit(exitStatus!)}) without printing a line matching ${pattern}${tail(lines.join('\n'))}`)),
          );
        }
      };
      const timer = setTimeout(() => {
        finish(() =>
          reject(new WaitTimeoutError(`timed out after ${timeoutMs} ms waiting for ${command} to print a line matching ${pattern}${tail(lines.join('\n'))}`)),
        );
      }, timeoutMs);
      const finish = (settle: () => void): void => {
        clearTimeout(timer);
        lineListeners.delete(check);
        settle();
      };
      lineListeners.add(check);
      check();
    });

  const kill = async (signal: NodeJS.Signals = 'SIGTERM', graceMs = DEFAULT_KILL_GRACE_MS): Promise<ExitStatus> => {
    if (exitStatus) return exitStatus;
    signalGroup(child, signal);
    const escalate = setTimeout(() => signalGroup(child, 'SIGKILL'), graceMs);
    try {
      return await exited;
    } finally {
      clearTimeout(escalate);
    }
  };

  return {
    pid: child.pid,
    command,
    lines,
    exited,
    get exitStatus() {
      return exitStatus;
    },
    child,
    waitForLine,
    kill,
  };
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, signal);
  } catch {
    // The group is already gone; fall back to the leader in case it left the group itself.
    try {
      child.kill(signal);
    } catch {
      // Already exited.
    }
  }
}

const exitHooks: (() => void)[] = [];
let exitHookRegistered = false;

/** Runs `fn` synchronously once at process exit (normal exit, SIGINT, SIGTERM). Keep it synchronous and quick. */
export function onExit(fn: () => void): void {
  registerExitHook();
  exitHooks.push(fn);
}

function registerExitHook(): void {
  if (exitHookRegistered) return;
  exitHookRegistered = true;
  const runHooks = (): void => {
    for (const child of running) signalGroup(child, 'SIGKILL');
    running.clear();
    // Last registered first: containers started in a cgroup go before the cgroup.
    for (const hook of exitHooks.splice(0).reverse()) {
      try {
        hook();
      } catch (err) {
        process.stderr.write(`test cleanup failed: ${err instanceof Error ? err.message : String(err)}\n`);
      }
    }
  };
  process.once('exit', runHooks);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      runHooks();
      // Listener is gone (once), so re-raising gets the default action: die by this signal.
      process.kill(process.pid, signal);
    });
  }
}

export function formatCommand(cmd: string, args: readonly string[]): string {
  const quote = (s: string): string => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`);
  return [cmd, ...args].map(quote).join(' ');
}

function describeExit(status: ExitStatus): string {
  return status.code === null ? `signal ${status.signal}` : `exit code ${status.code}`;
}

/** The last few lines of some output, prefixed for appending to an error message. */
function tail(output: string, maxLines = 8): string {
  const lines = output.trimEnd().split('\n').filter((l) => l.length > 0);
  if (lines.length === 0) return '';
  return `; last output: ${lines.slice(-maxLines).join(' | ')}`;
}
