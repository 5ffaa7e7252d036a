// Modes of everything the agent writes under its state directory. The spool holds detections (command lines,
// paths, pod names), so no other user on the node may read or plant anything there, whatever umask the agent was
// started with. Every directory and file the agent creates goes through this module.
import fs from 'node:fs';
import path from 'node:path';

export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/** A state directory the agent will not use; the message is one line naming the directory and why. */
export class PrivateDirError extends Error {
  override name = 'PrivateDirError';
}

/**
 * Creates dir (and any missing parent) 0700, or accepts an existing one only if it is a real directory owned by the
 * agent's uid: whoever pre-created a symlink or a directory of their own there would choose where detections are
 * written, or read them. A looser existing directory, and any looser file directly in it (written by an older
 * version), is tightened, and onTightened says so.
 */
export function ensurePrivateDir(dir: string, onTightened: (message: string) => void): void {
  // A dangling symlink is refused here, before mkdir could follow it; one made after this check is refused by the
  // O_NOFOLLOW open below.
  if (fs.lstatSync(dir, { throwIfNoEntry: false })?.isSymbolicLink()) throw new PrivateDirError(symlinkRefusal(dir));
  let created: string | undefined;
  try {
    created = fs.mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  } catch (error) {
    // Something is already there (a file, a symlink made since the check): opening it below says which.
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  // Checked and changed through a descriptor opened without following a symlink, so nothing can be swapped in
  // between the check and the chmod.
  const fd = openNoFollow(dir, fs.constants.O_DIRECTORY);
  try {
    const stat = fs.fstatSync(fd);
    const uid = process.geteuid!();
    if (stat.uid !== uid) {
      throw new PrivateDirError(`refusing to use ${dir}: it is owned by uid ${stat.uid}, not the agent's uid ${uid}`);
    }
    const mode = stat.mode & 0o7777;
    if (mode !== PRIVATE_DIR_MODE) {
      fs.fchmodSync(fd, PRIVATE_DIR_MODE);
      // A directory just created differs from 0700 only under a umask that narrowed it: nothing to report.
      if (created === undefined) onTightened(`tightened ${dir} from mode ${octal(mode)} to ${octal(PRIVATE_DIR_MODE)}`);
    }
    tightenFilesIn(dir, onTightened);
  } finally {
    fs.closeSync(fd);
  }
}

/** openSync with mode 0600, set exactly: the mode given to open(2) is narrowed by the umask, never widened. */
export function openPrivateFile(file: string, flags: string): number {
  const fd = fs.openSync(file, flags, PRIVATE_FILE_MODE);
  try {
    fs.fchmodSync(fd, PRIVATE_FILE_MODE);
  } catch (error) {
    fs.closeSync(fd);
    throw error;
  }
  return fd;
}

/** Replaces file by renaming a freshly created 0600 temporary over it, so a reader sees the old or the new content. */
export function writePrivateFileAtomically(file: string, data: string | Uint8Array): void {
  const tmp = `${file}.tmp`;
  // A temporary left by a crash keeps whatever mode it was created with; 'wx' below insists on a new one.
  fs.rmSync(tmp, { force: true });
  const fd = openPrivateFile(tmp, 'wx');
  try {
    fs.writeFileSync(fd, data);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}

function tightenFilesIn(dir: string, onTightened: (message: string) => void): void {
  let tightened = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isFile()) continue;
    // Non-blocking: should the name have become a FIFO since readdir, opening it must not wait for a writer.
    const fd = openNoFollow(path.join(dir, entry.name), fs.constants.O_NONBLOCK);
    try {
      const stat = fs.fstatSync(fd);
      if (!stat.isFile() || (stat.mode & 0o7777) === PRIVATE_FILE_MODE) continue;
      fs.fchmodSync(fd, PRIVATE_FILE_MODE);
      tightened++;
    } finally {
      fs.closeSync(fd);
    }
  }
  if (tightened > 0) onTightened(`tightened ${tightened} file(s) in ${dir} to mode ${octal(PRIVATE_FILE_MODE)}`);
}

function openNoFollow(target: string, extraFlags: number): number {
  try {
    return fs.openSync(target, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | extraFlags);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ELOOP' && code !== 'ENOTDIR') throw error;
    // With O_DIRECTORY, Linux reports a symlink as ENOTDIR, not ELOOP.
    const isSymlink = fs.lstatSync(target, { throwIfNoEntry: false })?.isSymbolicLink() ?? false;
    throw new PrivateDirError(isSymlink ? symlinkRefusal(target) : `refusing to use ${target}: it is not a directory`);
  }
}

function symlinkRefusal(target: string): string {
  return `refusing to use ${target}: it is a symlink`;
}

function octal(mode: number): string {
  return `0${mode.toString(8).padStart(3, '0')}`;
}
