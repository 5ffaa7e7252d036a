import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

let dir: string | undefined;
/** Writes a file in a per-process temp dir and returns its path. */
export function writeTemp(name: string, text: string): string {
  dir ??= mkdtempSync(path.join(tmpdir(), 'kubesentry-cli-'));
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
}
