// `kubesentry run | check | events | simulate | baseline`. The CLI owns the console: it turns every fatal error into one
// line on stderr and an exit code (2: bad usage or config, 1: the agent cannot run here).

import { ConfigError, applyFlags, configFlags, readConfigFile, resolveConfig, type AgentConfig } from './config.ts';

const USAGE = `Usage: kubesentry <command> [options]

Commands:
  run        run the agent: detections on the console, plus --output jsonl:PATH and OTLP when configured
  check      report which kernel features and hook types this machine offers; exit 1 if the agent cannot run
  events     print decoded kernel events as JSON lines (--type exec,open ... --container ID-prefix)
  simulate   run attack scenarios in real containers and report which detections arrived (simulate list|all|NAME)
  baseline   workload baseline profiles: list | show KEY | export KEY [--file PATH] | import FILE |
             accept KEY CLASS ITEM | delete KEY (docs/baseline.md)

Options (every config file key is also a flag, e.g. --kernel.ring-bytes 16777216; see docs/configuration.md):
  --config PATH            YAML config file
  --output jsonl:PATH      append every detection as one JSON line (repeatable)
  --otlp-endpoint URL      OTLP gRPC endpoint (also $OTEL_EXPORTER_OTLP_ENDPOINT)
  --help                   this text
`;

const SHORTHANDS: Record<string, string> = {
  '--output': '--outputs',
  '--otlp-endpoint': '--otlp.endpoint',
};

export interface ParsedCommand {
  command: string;
  config: AgentConfig;
  args: string[];
}

/** Splits argv into the command, the validated config (file, then flags) and the command's own arguments. */
export function parseCommandLine(argv: string[]): ParsedCommand {
  const [command, ...rest] = argv;
  let configPath = '';
  const withoutConfig: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === '--config') {
      configPath = rest[++i] ?? '';
      if (!configPath) throw new ConfigError('--config: missing path');
    } else if (rest[i].startsWith('--config=')) configPath = rest[i].slice('--config='.length);
    else withoutConfig.push(rest[i]);
  }
  const base = (configPath ? readConfigFile(configPath) : {}) as Record<string, unknown>;
  if (typeof base !== 'object' || Array.isArray(base)) throw new ConfigError(`${configPath}: the top level must be a mapping`);
  const args = applyFlags(base, withoutConfig, SHORTHANDS);
  const config = resolveConfig(base, configPath || 'command line');
  return { command, config, args };
}

function unknownFlags(args: string[], allowed: string[]): void {
  for (const a of args) {
    if (a.startsWith('--') && !allowed.includes(a.split('=')[0])) {
      const known = configFlags();
      throw new ConfigError(`unknown option '${a.split('=')[0]}' (${known.size} config flags exist; see kubesentry --help)`);
    }
  }
}

/** "verifier rejected <prog>: <the verifier's last complaint>" from libbpf's load log, or ''. */
export function verifierReason(log: string): string {
  const lines = log.split('\n');
  const processed = lines.findIndex((l) => /^processed \d+ insns/.test(l));
  const complaint = processed > 0 ? lines[processed - 1].trim() : '';
  const program = /prog '([^']+)': failed to load/.exec(log)?.[1];
  if (!complaint) return '';
  return `verifier rejected ${program ?? 'a program'}: ${complaint}`;
}

export async function main(argv: string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    process.stdout.write(USAGE);
    return argv.length === 0 ? 2 : 0;
  }
  let parsed: ParsedCommand;
  try {
    parsed = parseCommandLine(argv);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`kubesentry: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  const { command, config, args } = parsed;
  try {
    switch (command) {
      case 'run': {
        unknownFlags(args, []);
        const { runAgent } = await import('./agent.ts');
        return await runAgent(config);
      }
      case 'check': {
        unknownFlags(args, ['--json']);
        const { runCheck } = await import('./check.ts');
        return await runCheck(config, { json: args.includes('--json') });
      }
      case 'events': {
        unknownFlags(args, ['--type', '--container']);
        const { runEvents } = await import('./eventsCommand.ts');
        return await runEvents(config, args);
      }
      case 'simulate': {
        unknownFlags(args, ['--timeout-ms', '--keep']);
        const { runSimulate } = await import('./simulate/command.ts');
        return await runSimulate(config, args);
      }
      case 'baseline': {
        unknownFlags(args, ['--file']);
        const { runBaseline } = await import('./baseline/command.ts');
        return runBaseline(config, args);
      }
      default:
        process.stderr.write(`kubesentry: unknown command '${command}'\n${USAGE}`);
        return 2;
    }
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`kubesentry: ${e.message}\n`);
      return 2;
    }
    const err = e as Error & { code?: string; verifierLog?: string };
    if (err.name === 'KernelError' || err.name === 'AgentStartError') {
      const why = err.verifierLog ? verifierReason(err.verifierLog) : '';
      process.stderr.write(`kubesentry: ${err.message.split('\n')[0]}${why ? ` (${why})` : ''}\n`);
      return 1;
    }
    throw e;
  }
}
