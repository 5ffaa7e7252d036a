// Human-readable output with attacker-chosen text: a process whose argv and path carry newlines, carriage returns,
// ANSI sequences, C1 controls and bidi overrides can neither forge a console or log line nor drive the terminal.
// The JSON-lines file decodes to exactly what the process set and is just as inert on a terminal.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { DetectorEngine } from '../src/detectors/engine.ts';
import { createLogger } from '../src/log.ts';
import { ConsoleOutput } from '../src/output/ConsoleOutput.ts';
import { JsonlOutput } from '../src/output/JsonlOutput.ts';
import { escapeForTerminal, stringifyForTerminal } from '../src/output/escape.ts';
import { FakeAgent, O_WRONLY, ev } from './detectors/fixtures.ts';

/** Every kind of character a terminal acts on, as a process can put them in its argv. */
const FORGED_ARGV =
  'tee /proc/sys/kernel/core_pattern\n2026-01-01T00:00:00.000000000Z INFO     KS-ESC-000 host pid=1 all clear' +
  '\r\x1b[2K\x1b[32mok\x1b[0m \x07\x00\x7f \u009b31m \u202etxt.exe\u202c \u2066\u2069 \u2028 back\\slash';

/** Anything a terminal would interpret: C0 (tab included), DEL, C1, bidi controls, line/paragraph separators. */
const TERMINAL_CONTROL = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/;

class Capture extends Writable {
  text = '';
  isTTY: boolean;
  constructor(isTTY: boolean) {
    super();
    this.isTTY = isTTY;
  }
  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

function forgedDetection() {
  const agent = new FakeAgent();
  agent.addProcess({ tgid: 4242, startBoottimeNs: 4242000n, executable: '/tmp/\x1b]0;owned\x07tee', commandLine: FORGED_ARGV });
  const [d] = new DetectorEngine().process(ev.open({ path: '/proc/sys/kernel/core_pattern', openFlags: O_WRONLY }), agent);
  assert.ok(d, 'the core_pattern write is detected');
  d.summary += ' via /tmp/\u202egnp.sh';
  return d;
}

describe('console output', () => {
  it('prints one line per detection with every control character of argv and path escaped visibly', () => {
    for (const isTTY of [false, true]) {
      const out = new Capture(isTTY);
      new ConsoleOutput(out, new Capture(false), 'info').write(forgedDetection());
      const lines = out.text.split('\n');
      assert.equal(lines.length, 2, 'one line and its newline');
      assert.equal(lines[1], '');
      // On a terminal our colour codes are the only escape sequences.
      const withoutOurColours = lines[0].replace(/^(\S+ )\x1b\[[0-9;]+m(CRITICAL *)\x1b\[0m/, '$1$2');
      assert.equal(withoutOurColours === lines[0], !isTTY, 'colours on a terminal only');
      assert.doesNotMatch(withoutOurColours, TERMINAL_CONTROL);
      assert.ok(
        lines[0].includes(
          'tee /proc/sys/kernel/core_pattern\\n2026-01-01T00:00:00.000000000Z INFO     KS-ESC-000 host pid=1 all clear' +
            '\\r\\x1b[2K\\x1b[32mok\\x1b[0m \\x07\\x00\\x7f \\u009b31m \\u202etxt.exe\\u202c \\u2066\\u2069 \\u2028 back\\\\slash',
        ),
        lines[0],
      );
      assert.ok(lines[0].includes('via /tmp/\\u202egnp.sh'), 'the summary is escaped too');
    }
  });

  it('shows rules disabled after errors on the status line', () => {
    const err = new Capture(true);
    const console = new ConsoleOutput(new Capture(true), err, 'info');
    const snapshot = { eventsPerSecond: 10, kernelDrops: 0n, containers: 1, processes: 2, detections: 3 };
    console.status({ ...snapshot, disabledRules: [] });
    assert.doesNotMatch(err.text, /DISABLED/);
    console.status({ ...snapshot, disabledRules: ['KS-ESC-005', 'KS-MIN-001'] });
    assert.match(err.text, /DISABLED rules KS-ESC-005,KS-MIN-001$/);
  });
});

describe('the agent log', () => {
  it('keeps a message quoting attacker text on one line without control characters', () => {
    const lines: string[] = [];
    createLogger('info', (l) => lines.push(l)).warn(`rule KS-TEST threw: bad path ${FORGED_ARGV}`);
    assert.equal(lines.length, 1);
    assert.equal(lines[0].indexOf('\n'), lines[0].length - 1);
    assert.doesNotMatch(lines[0].slice(0, -1), TERMINAL_CONTROL);
  });
});

describe('JSON lines', () => {
  it('writes one line per detection that decodes to the exact argv and path, inert on a terminal', () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'kubesentry-output-')), 'd.jsonl');
    const out = new JsonlOutput(file);
    const d = forgedDetection();
    out.write(d);
    out.write(d);
    out.close();
    const text = readFileSync(file, 'utf8');
    const lines = text.split('\n');
    assert.equal(lines.length, 3);
    for (const line of lines.slice(0, 2)) {
      assert.doesNotMatch(line, TERMINAL_CONTROL);
      const record = JSON.parse(line);
      assert.equal(record.attributes['process.command_line'], FORGED_ARGV);
      assert.equal(record.attributes['process.executable.path'], '/tmp/\x1b]0;owned\x07tee');
      assert.equal(record.summary, d.summary);
    }
  });

  it('changes nothing for ordinary text', () => {
    const value = { a: 'plain ascii', b: 'naïve café — 日本', n: 1 };
    assert.equal(stringifyForTerminal(value), JSON.stringify(value));
    assert.equal(escapeForTerminal('/usr/bin/tee -a /etc/naïve'), '/usr/bin/tee -a /etc/naïve');
  });
});
