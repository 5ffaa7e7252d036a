// `--output jsonl:PATH`: one detection per line, appended. A line is written with a single write(2) on an
// O_APPEND descriptor so a reader tailing the file never sees half a record from us. JSON escapes the characters
// that could forge a line; stringifyForTerminal also escapes those a terminal showing the file would act on.

import { openSync, writeSync, closeSync, fsyncSync } from 'node:fs';
import { toJsonRecord, type Detection } from '../detection.ts';
import { stringifyForTerminal } from './escape.ts';

export class JsonlOutput {
  readonly path: string;
  #fd: number | null;
  #writeErrors = 0;

  constructor(path: string) {
    this.path = path;
    this.#fd = openSync(path, 'a', 0o640);
  }

  get writeErrors(): number {
    return this.#writeErrors;
  }

  write(detection: Detection): void {
    if (this.#fd === null) return;
    try {
      writeSync(this.#fd, stringifyForTerminal(toJsonRecord(detection)) + '\n');
    } catch {
      // A full disk must not stop detection; the count is exported with the agent's metrics.
      this.#writeErrors++;
    }
  }

  close(): void {
    if (this.#fd === null) return;
    try {
      fsyncSync(this.#fd);
    } catch {
      // fsync on a pipe or /dev/stdout fails; nothing to keep.
    }
    closeSync(this.#fd);
    this.#fd = null;
  }
}
