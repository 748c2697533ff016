import { closeSync, constants, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';
import { ModelLoadError } from '../errors/engine-error.js';
import { untrustedPath } from '../errors/untrusted-text.js';

/** An open model file: a regular file, its size, and its path as messages show it. */
export interface ModelFileHandle {
  readonly fd: number;
  readonly fileSize: number;
  /** the path escaped and bounded for messages (see `untrustedPath`) */
  readonly shownPath: string;
}

/** What a path names when it is not a regular file, for the message; undefined for a regular file. */
function nonRegularKind(stats: Stats): string | undefined {
  if (stats.isFile()) return undefined;
  if (stats.isDirectory()) return 'a directory';
  if (stats.isFIFO()) return 'a FIFO (named pipe)';
  if (stats.isSocket()) return 'a socket';
  if (stats.isCharacterDevice() || stats.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

function rejectNonRegular(stats: Stats, shownPath: string): void {
  const kind = nonRegularKind(stats);
  if (kind) throw new ModelLoadError('FILE_READ_FAILED', `${shownPath} is ${kind}, not a model file`);
}

/** `EACCES: permission denied` from a Node fs error, without the raw path Node appends. */
function fsReason(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split(', ')[0]!;
}

function openFailed(err: unknown, shownPath: string): ModelLoadError {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT'
    ? new ModelLoadError('FILE_NOT_FOUND', `model file not found: ${shownPath}`, { cause: err })
    : new ModelLoadError('FILE_READ_FAILED', `cannot open model file ${shownPath}: ${fsReason(err)}`, { cause: err });
}

/**
 * Opens a model file for reading. Only a regular file is accepted, and that is checked before
 * anything is read: a directory would fail mid-parse, a FIFO or a device would block or never
 * end. The open itself is non-blocking (a FIFO swapped in after the check cannot hang it) and
 * the descriptor is checked again. The caller closes `fd`.
 */
export function openModelFile(path: string): ModelFileHandle {
  const shownPath = untrustedPath(path);
  let stats: Stats;
  try {
    stats = statSync(path);
  } catch (err) {
    throw openFailed(err, shownPath);
  }
  rejectNonRegular(stats, shownPath);
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (err) {
    throw openFailed(err, shownPath);
  }
  try {
    const opened = fstatSync(fd);
    rejectNonRegular(opened, shownPath);
    return { fd, fileSize: opened.size, shownPath };
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/**
 * Reads up to `length` bytes at `position` into `buf` (from its start), looping over short
 * reads; returns how many were read (fewer only at the end of the file). I/O errors become
 * FILE_READ_FAILED.
 */
export function readFully(fd: number, buf: Uint8Array, length: number, position: number, shownPath: string): number {
  let done = 0;
  try {
    while (done < length) {
      const got = readSync(fd, buf, done, Math.min(length - done, 1 << 30), position + done);
      if (got === 0) break;
      done += got;
    }
  } catch (err) {
    throw new ModelLoadError('FILE_READ_FAILED', `cannot read model file ${shownPath}: ${fsReason(err)}`, { cause: err });
  }
  return done;
}
