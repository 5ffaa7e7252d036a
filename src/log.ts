// The agent's own log: one line per message on stderr, level-filtered. Library modules receive a Logger and never
// write to the console themselves. Messages quote paths, names and errors an attacker may have chosen: they are
// escaped (src/output/escape.ts) so that one message stays one line and cannot drive the terminal.

import { escapeForTerminal } from './output/escape.ts';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export function createLogger(level: LogLevel, write: (line: string) => void = (l) => process.stderr.write(l)): Logger {
  const at = (l: LogLevel) => (message: string) => {
    if (RANK[l] >= RANK[level]) write(`${new Date().toISOString()} ${l.padEnd(5)} ${escapeForTerminal(message)}\n`);
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
