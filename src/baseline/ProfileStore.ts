// Profiles on disk: one JSON file per profile under <stateDir>/baseline, replaced atomically (a SIGKILL leaves the
// old or the new file, never half of one), 0600 in a 0700 directory (src/fileModes.ts), schema-versioned, with the
// class timers, so a restarted agent resumes stable profiles instead of relearning them. A file of the previous
// schema is migrated as it is read; one that does not parse or has another schema version is skipped with one line
// and counted; nothing else reads it.

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ensurePrivateDir, writePrivateFileAtomically } from '../fileModes.ts';
import { BASELINE_CLASSES, schema1ConnectItems } from './classes.ts';
import { BASELINE_STATES, type ClassSnapshot } from './ClassBaseline.ts';
import { SEVERITIES, type Severity } from '../detection.ts';
import { PROFILE_SCHEMA_VERSION, type ImageVersion, type ProfileSnapshot } from './Profile.ts';

export class ProfileFormatError extends Error {
  override name = 'ProfileFormatError';
}

export interface ProfileStoreCounters {
  loaded: number;
  /** Files skipped: unreadable, not JSON, wrong schema version or shape. */
  invalid: number;
  /** Files deleted because their workload was not seen within the retention. */
  expired: number;
  /** Failed writes or deletes; the profile stays dirty in memory and is written again next time. */
  writeErrors: number;
}

/** The file of a profile: a hash of its key, since keys hold '/' and attacker-influenced image names. */
export function profileFileName(key: string): string {
  return `${createHash('sha256').update(key).digest('hex').slice(0, 32)}.json`;
}

export class ProfileStore {
  readonly dir: string;
  readonly counters: ProfileStoreCounters = { loaded: 0, invalid: 0, expired: 0, writeErrors: 0 };
  readonly #warn: (message: string) => void;
  /** File name → the key it holds and its mtime when this store last read or wrote it. */
  readonly #known = new Map<string, { key: string; mtimeMs: number }>();

  constructor(dir: string, warn: (message: string) => void) {
    this.dir = dir;
    this.#warn = warn;
    ensurePrivateDir(dir, warn);
  }

  /** The profiles seen within retentionMs, most recently seen first, at most `limit`; expired files are deleted. */
  load(nowMs: number, retentionMs: number, limit: number): ProfileSnapshot[] {
    const found: ProfileSnapshot[] = [];
    for (const name of this.#names()) {
      const file = path.join(this.dir, name);
      const snapshot = this.#read(name);
      if (snapshot === undefined) continue;
      if (nowMs - snapshot.lastSeenMs > retentionMs) {
        this.counters.expired++;
        this.#remove(file);
        continue;
      }
      found.push(snapshot);
    }
    found.sort((a, b) => b.lastSeenMs - a.lastSeenMs);
    this.counters.loaded += Math.min(found.length, limit);
    return found.slice(0, limit);
  }

  /** Every valid profile on disk, without side effects (for the CLI). */
  all(): ProfileSnapshot[] {
    return this.#names().flatMap((name) => this.#read(name) ?? []);
  }

  get(key: string): ProfileSnapshot | undefined {
    const name = profileFileName(key);
    return fs.existsSync(path.join(this.dir, name)) ? this.#read(name) : undefined;
  }

  /**
   * What someone else (the CLI's import or accept) wrote or deleted since this store last read or wrote each file:
   * the running agent takes these over, so an operator's verdict applies without a restart.
   */
  externalChanges(): { changed: ProfileSnapshot[]; deleted: string[] } {
    const changed: ProfileSnapshot[] = [];
    const present = new Set<string>();
    for (const name of this.#names()) {
      present.add(name);
      const mtime = fs.statSync(path.join(this.dir, name), { throwIfNoEntry: false })?.mtimeMs;
      if (mtime === undefined || this.#known.get(name)?.mtimeMs === mtime) continue;
      const snapshot = this.#read(name);
      if (snapshot !== undefined) changed.push(snapshot);
    }
    const deleted: string[] = [];
    for (const [name, { key }] of this.#known) {
      if (present.has(name)) continue;
      this.#known.delete(name);
      deleted.push(key);
    }
    return { changed, deleted };
  }

  save(snapshot: ProfileSnapshot): boolean {
    try {
      const name = profileFileName(snapshot.key);
      writePrivateFileAtomically(path.join(this.dir, name), JSON.stringify(snapshot));
      this.#remember(name, snapshot.key);
      return true;
    } catch (error) {
      this.counters.writeErrors++;
      this.#warn(`baseline: could not write the profile of ${snapshot.key}: ${(error as Error).message.split('\n')[0]}`);
      return false;
    }
  }

  delete(key: string): void {
    this.#known.delete(profileFileName(key));
    this.#remove(path.join(this.dir, profileFileName(key)));
  }

  #names(): string[] {
    return fs.readdirSync(this.dir).filter((name) => name.endsWith('.json'));
  }

  /** A profile file's content, or undefined (warned and counted) when it is not one. */
  #read(name: string): ProfileSnapshot | undefined {
    const file = path.join(this.dir, name);
    try {
      const snapshot = parseProfileSnapshot(JSON.parse(fs.readFileSync(file, 'utf8')));
      if (profileFileName(snapshot.key) !== name) throw new ProfileFormatError(`it holds the profile of another key (${snapshot.key})`);
      this.#remember(name, snapshot.key);
      return snapshot;
    } catch (error) {
      this.counters.invalid++;
      // Not read again until it changes.
      this.#known.set(name, { key: '', mtimeMs: fs.statSync(file, { throwIfNoEntry: false })?.mtimeMs ?? 0 });
      this.#warn(`baseline: skipping ${file}: ${(error as Error).message.split('\n')[0]}`);
      return undefined;
    }
  }

  #remember(name: string, key: string): void {
    this.#known.set(name, { key, mtimeMs: fs.statSync(path.join(this.dir, name), { throwIfNoEntry: false })?.mtimeMs ?? 0 });
  }

  #remove(file: string): void {
    try {
      fs.rmSync(file, { force: true });
    } catch (error) {
      this.counters.writeErrors++;
      this.#warn(`baseline: could not delete ${file}: ${(error as Error).message.split('\n')[0]}`);
    }
  }
}

/** Checks what a file (or an operator's import) claims to be a profile; ProfileFormatError says what is wrong. */
export function parseProfileSnapshot(value: unknown): ProfileSnapshot {
  const o = record(value, 'profile');
  if (o.schema === 1) return migrateSchema1(parseCurrent(o));
  if (o.schema !== PROFILE_SCHEMA_VERSION) {
    throw new ProfileFormatError(`schema version ${JSON.stringify(o.schema)}, this agent reads 1 and ${PROFILE_SCHEMA_VERSION}`);
  }
  return parseCurrent(o);
}

/** Schema 1 → 2: connect items (and their collapsed shapes, and the reported keys) gain the protocol. */
function migrateSchema1(s: ProfileSnapshot): ProfileSnapshot {
  const connect = s.classes.connect;
  const REPORTED_CONNECT = 'connect ';
  return {
    ...s,
    classes: {
      ...s.classes,
      connect: { ...connect, items: connect.items.flatMap(schema1ConnectItems), patterns: connect.patterns.flatMap(schema1ConnectItems) },
    },
    reported: s.reported.flatMap(([key, ms]): [string, number][] =>
      key.startsWith(REPORTED_CONNECT)
        ? schema1ConnectItems(key.slice(REPORTED_CONNECT.length)).map((item) => [`${REPORTED_CONNECT}${item}`, ms])
        : [[key, ms]]),
  };
}

function parseCurrent(o: Record<string, unknown>): ProfileSnapshot {
  const classes = record(o.classes, 'classes');
  return {
    schema: PROFILE_SCHEMA_VERSION,
    key: text(o.key, 'key'),
    createdMs: num(o.createdMs, 'createdMs'),
    lastSeenMs: num(o.lastSeenMs, 'lastSeenMs'),
    containers: pairs(o.containers, 'containers'),
    reported: pairs(o.reported, 'reported'),
    versions: o.versions === undefined ? [] : list(o.versions, 'versions').map((v, i) => imageVersion(v, `versions[${i}]`)),
    // A class added after the file was written starts learning now (not at the file's time: it would be stable at
    // once, with nothing learned).
    classes: Object.fromEntries(
      BASELINE_CLASSES.map((c) => [c, classes[c] === undefined ? newClassSnapshot(Date.now()) : classSnapshot(classes[c], `classes.${c}`)]),
    ) as ProfileSnapshot['classes'],
  };
}

function newClassSnapshot(nowMs: number): ClassSnapshot {
  return { state: 'learning', startedMs: nowMs, lastNewMs: nowMs, stateSinceMs: nowMs, items: [], patterns: [], statusReported: false };
}

function classSnapshot(value: unknown, where: string): ClassSnapshot {
  const o = record(value, where);
  if (!BASELINE_STATES.includes(o.state as ClassSnapshot['state'])) throw new ProfileFormatError(`${where}.state must be one of ${BASELINE_STATES.join(', ')}`);
  return {
    state: o.state as ClassSnapshot['state'],
    startedMs: num(o.startedMs, `${where}.startedMs`),
    lastNewMs: num(o.lastNewMs, `${where}.lastNewMs`),
    stateSinceMs: num(o.stateSinceMs, `${where}.stateSinceMs`),
    items: strings(o.items, `${where}.items`),
    patterns: strings(o.patterns, `${where}.patterns`),
    statusReported: o.statusReported === true,
  };
}

function imageVersion(value: unknown, where: string): ImageVersion {
  const o = record(value, where);
  if (o.severity !== undefined && !SEVERITIES.includes(o.severity as Severity)) {
    throw new ProfileFormatError(`${where}.severity must be one of ${SEVERITIES.join(', ')}`);
  }
  return {
    digest: text(o.digest, `${where}.digest`),
    firstSeenMs: num(o.firstSeenMs, `${where}.firstSeenMs`),
    lastSeenMs: num(o.lastSeenMs, `${where}.lastSeenMs`),
    rollout: o.rollout === true,
    newItems: num(o.newItems, `${where}.newItems`),
    sample: strings(o.sample, `${where}.sample`),
    severity: o.severity as Severity | undefined,
  };
}

function list(value: unknown, where: string): unknown[] {
  if (!Array.isArray(value)) throw new ProfileFormatError(`${where} must be a list`);
  return value;
}

function record(value: unknown, where: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ProfileFormatError(`${where} must be an object`);
  return value as Record<string, unknown>;
}

function text(value: unknown, where: string): string {
  if (typeof value !== 'string' || value === '') throw new ProfileFormatError(`${where} must be a non-empty string`);
  return value;
}

function num(value: unknown, where: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new ProfileFormatError(`${where} must be a number`);
  return value;
}

function strings(value: unknown, where: string): string[] {
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw new ProfileFormatError(`${where} must be a list of strings`);
  return value;
}

function pairs(value: unknown, where: string): [string, number][] {
  if (!Array.isArray(value) || !value.every((v) => Array.isArray(v) && typeof v[0] === 'string' && typeof v[1] === 'number')) {
    throw new ProfileFormatError(`${where} must be a list of [text, number] pairs`);
  }
  return value as [string, number][];
}
