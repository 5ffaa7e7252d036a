// Human output: one line per detection on stdout and, on a terminal, a live status line on stderr. Every string
// from a detection can be the attacker's (argv, paths, names) and goes through escapeForTerminal: the only control
// sequences on these lines are our own colours.

import type { Writable } from 'node:stream';
import { SEVERITIES, type AttributeValue, type Detection, type Severity } from '../detection.ts';
import { escapeForTerminal } from './escape.ts';

const COLOURS: Record<Severity, string> = {
  critical: '\x1b[1;41;97m',
  high: '\x1b[1;31m',
  medium: '\x1b[33m',
  low: '\x1b[36m',
  info: '\x1b[2m',
};

const PLAIN_STATUS_EVERY_MS = 30_000;

export interface StatusSnapshot {
  eventsPerSecond: number;
  kernelDrops: bigint;
  containers: number;
  processes: number;
  detections: number;
  /** Rules the engine took out of service after repeated errors. */
  disabledRules: readonly string[];
}

function text(value: AttributeValue | undefined): string {
  return escapeForTerminal(String(value));
}

export class ConsoleOutput {
  #out: Writable & { isTTY?: boolean };
  #err: Writable & { isTTY?: boolean };
  #minRank: number;
  #statusShown = false;
  #lastPlainStatusMs = 0;

  constructor(out: Writable, err: Writable, minSeverity: Severity) {
    this.#out = out;
    this.#err = err;
    this.#minRank = SEVERITIES.indexOf(minSeverity);
  }

  write(d: Detection): void {
    if (SEVERITIES.indexOf(d.severity) > this.#minRank) return;
    const a = d.attributes;
    const colour = this.#out.isTTY ? COLOURS[d.severity] : '';
    const reset = this.#out.isTTY ? '\x1b[0m' : '';
    const where = a['container.id']
      ? `container=${text(String(a['container.id']).slice(0, 12))}${a['k8s.pod.name'] ? ` pod=${text(a['k8s.namespace.name'])}/${text(a['k8s.pod.name'])}` : a['k8s.pod.uid'] ? ` pod.uid=${text(a['k8s.pod.uid'])}` : ''}`
      : 'host';
    this.#clearStatus();
    this.#out.write(
      `${d.time} ${colour}${d.severity.toUpperCase().padEnd(8)}${reset} ${text(d.rule)} ${where} pid=${text(a['process.pid'] ?? '?')} ` +
        `${text(a['process.command_line'] ?? a['process.executable.path'] ?? '')} — ${text(d.summary)}\n`,
    );
  }

  status(s: StatusSnapshot): void {
    const line =
      `events/s ${Math.round(s.eventsPerSecond)}  drops ${s.kernelDrops}  containers ${s.containers}  ` +
      `processes ${s.processes}  detections ${s.detections}` +
      (s.disabledRules.length > 0 ? `  DISABLED rules ${escapeForTerminal(s.disabledRules.join(','))}` : '');
    if (this.#err.isTTY) {
      this.#err.write(`\r\x1b[2K${line}`);
      this.#statusShown = true;
    } else if (Date.now() - this.#lastPlainStatusMs >= PLAIN_STATUS_EVERY_MS) {
      // A log file or journal gets a status line now and then, not one per refresh.
      this.#lastPlainStatusMs = Date.now();
      this.#err.write(`status: ${line}\n`);
    }
  }

  #clearStatus(): void {
    if (this.#statusShown) {
      this.#err.write('\r\x1b[2K');
      this.#statusShown = false;
    }
  }

  close(): void {
    this.#clearStatus();
  }
}
