// `kubesentry events`: every decoded kernel event as one JSON line, for debugging hooks and rules.
// Each line carries the event's own fields plus what the agent resolved: container and process.

import type { AgentConfig } from './config.ts';
import { ConfigError } from './config.ts';
import { sensitivePathPatterns } from './detectors/index.ts';
import { createLogger } from './log.ts';
import { openPipeline, type Pipeline } from './pipeline.ts';
import { EventType, EventTypeName, type KernelEvent } from './receiver/events.ts';
import { rfc3339Nano } from './clock.ts';
import { stringifyForTerminal } from './output/escape.ts';

function parseFilters(args: string[]): { types: Set<number> | null; container: string } {
  let types: Set<number> | null = null;
  let container = '';
  const byName = new Map(Object.entries(EventTypeName).map(([n, name]) => [name, Number(n)]));
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] = args[i].split(/=(.*)/s, 2);
    const value = inline ?? args[++i];
    if (value === undefined) throw new ConfigError(`${flag}: missing value`);
    if (flag === '--type') {
      types = new Set();
      for (const name of value.split(',')) {
        const t = byName.get(name.trim());
        if (t === undefined) throw new ConfigError(`--type: unknown event type '${name}' (known: ${[...byName.keys()].join(', ')})`);
        types.add(t);
      }
    } else if (flag === '--container') {
      container = value;
    } else {
      throw new ConfigError(`events: unknown argument '${args[i]}'`);
    }
  }
  return { types, container };
}

function jsonValue(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return Buffer.from(value).toString('latin1').replace(/[^\x20-\x7e]/g, '.');
  return value;
}

export async function runEvents(config: AgentConfig, args: string[]): Promise<number> {
  const { types, container } = parseFilters(args);
  const log = createLogger(config.logLevel);
  let pipeline: Pipeline;
  const onEvent = (event: KernelEvent) => {
    if (types && !types.has(event.type)) return;
    const identity = event.type === EventType.Cgroup ? null : pipeline.container(event.cgroupId, event.tgid);
    if (container && !identity?.id.startsWith(container)) return;
    const line = {
      time: rfc3339Nano(pipeline.clock.toUnixNs(event.ktimeNs)),
      event: EventTypeName[event.type],
      ...event,
      container: identity ? { id: identity.id, runtime: identity.runtime, podUid: identity.podUid } : null,
    };
    process.stdout.write(stringifyForTerminal(line, jsonValue) + '\n');
  };
  pipeline = await openPipeline({ config, log, pathPatterns: sensitivePathPatterns(), onEvent });
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
    process.stdout.once('error', () => resolve()); // reader went away (| head)
  });
  pipeline.close();
  return 0;
}
