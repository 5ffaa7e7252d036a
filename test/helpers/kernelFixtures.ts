/**
 * Builds what the kernel tests and bench/kernel.ts need from native/test/ into build/kernel-test/, once per
 * source change:
 *
 *   kernelFixtures() → {
 *     fixtureObject   stand-in for kubesentry.bpf.o: namespace records for unshare(CLONE_NEW*) (only from
 *                     `only_tgid` when set), a snapshot iterator, and a hook with three variants
 *     badObject       verifier-rejected, with the contract's tunables (fails at load, not before)
 *     fallbackObject  a hook whose tp_btf variant the verifier refuses and whose raw_tp variant loads
 *     untrustedRefusedObject  an open program the verifier refuses only with the untrusted_loads tunable set
 *     emptyOpenatObject  one empty program on sys_enter_openat, the baseline of the syscall-cost bench
 *     emptySysEnterObject  one empty program on the raw sys_enter tracepoint, the baseline of the compat bench
 *     emitCostObject  the parts of emitting an open record, one program each (native/test/emit_cost.bpf.c)
 *     loadgen         native/test/loadgen.c (see its header for the commands)
 *     failEpollWait   native/test/fail_epoll_wait.c: runs a command whose epoll_wait(maxevents N) calls fail
 *   }
 *
 * Build failures throw with the compiler's message. Uses the same clang and libbpf headers as `make bpf`.
 *
 *   startLoadgen(loadgen, args) → { pid, go() }: loadgen --wait ARGS, blocked on stdin so the caller can configure
 *     the kernel side for its pid; go() releases it and resolves with its stdout once it exited 0 (rejects with
 *     its stderr otherwise). A generator still running when the test process exits is killed.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { onExit } from './run.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const SOURCES = `${REPO}native/test/`;
const OUT = `${REPO}build/kernel-test/`;
/** <linux/types.h> includes <asm/types.h>, which lives under the multiarch directory on Debian. */
const BPF_FLAGS = ['-O2', '-g', '-target', 'bpf', '-D__TARGET_ARCH_x86', '-Wall', '-Werror', '-I/usr/include/x86_64-linux-gnu'];

export interface KernelFixtures {
  fixtureObject: string;
  badObject: string;
  fallbackObject: string;
  untrustedRefusedObject: string;
  emptyOpenatObject: string;
  emptySysEnterObject: string;
  emitCostObject: string;
  loadgen: string;
  failEpollWait: string;
}

function isStale(output: string, inputs: readonly string[]): boolean {
  if (!existsSync(output)) return true;
  const built = statSync(output).mtimeMs;
  return inputs.some((input) => statSync(input).mtimeMs > built);
}

function build(output: string, inputs: readonly string[], command: string, args: readonly string[]): string {
  if (isStale(output, inputs)) {
    try {
      execFileSync(command, [...args, '-o', `${output}.tmp`], { stdio: ['ignore', 'pipe', 'pipe'] });
      execFileSync('mv', ['-f', `${output}.tmp`, output]);
    } catch (error) {
      const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim() ?? '';
      throw new Error(`building ${output} failed: ${stderr.split('\n').slice(-5).join(' | ')}`);
    }
  }
  return output;
}

function bpfObject(name: string): string {
  const source = `${SOURCES}${name}.bpf.c`;
  return build(`${OUT}${name}.bpf.o`, [source, `${SOURCES}contract.h`, `${REPO}bpf/events.h`], 'clang', [...BPF_FLAGS, '-c', source]);
}

let built: KernelFixtures | undefined;

export function kernelFixtures(): KernelFixtures {
  if (built !== undefined) return built;
  mkdirSync(OUT, { recursive: true });
  const loadgenSource = `${SOURCES}loadgen.c`;
  const failEpollWaitSource = `${SOURCES}fail_epoll_wait.c`;
  built = {
    fixtureObject: bpfObject('fixture'),
    badObject: bpfObject('bad'),
    fallbackObject: bpfObject('fallback'),
    untrustedRefusedObject: bpfObject('untrusted_refused'),
    emptyOpenatObject: bpfObject('empty_openat'),
    emptySysEnterObject: bpfObject('empty_sys_enter'),
    emitCostObject: bpfObject('emit_cost'),
    loadgen: build(`${OUT}loadgen`, [loadgenSource], 'cc', ['-O2', '-Wall', '-Wextra', '-pthread', loadgenSource]),
    failEpollWait: build(`${OUT}fail-epoll-wait`, [failEpollWaitSource], 'cc', ['-O2', '-Wall', '-Wextra', failEpollWaitSource]),
  };
  return built;
}

const runningLoadgens = new Set<number>();
onExit(() => {
  for (const pid of runningLoadgens) process.kill(pid, 'SIGKILL');
});

export function startLoadgen(loadgen: string, args: readonly string[]): { pid: number; go: () => Promise<string> } {
  const child = spawn(loadgen, ['--wait', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  if (child.pid === undefined) throw new Error(`loadgen ${args.join(' ')} did not start`);
  const pid = child.pid;
  // A test that fails before go() must not leave a generator waiting on stdin (and the test process with it).
  runningLoadgens.add(pid);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<string>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      runningLoadgens.delete(pid);
      if (code === 0) resolve(stdout);
      else reject(new Error(`loadgen ${args.join(' ')} failed (${code ?? signal}): ${stderr.trim()}`));
    });
  });
  // Unawaited until go(): a generator killed at exit must not become an unhandled rejection.
  exited.catch(() => {});
  return {
    pid,
    go: () => {
      child.stdin.end('g');
      return exited;
    },
  };
}
