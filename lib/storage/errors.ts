// The one error type storage throws or reports. Its code says what the caller can do about it:
//   NOT_FORMATTED  the data directory is missing, empty or was never formatted (disk rule D7);
//                  run the format step, never invent a fresh replica.
//   WRONG_REPLICA  the directory belongs to another cluster or replica number.
//   WRONG_FORMAT   the directory was written by an older or newer Chat+, in a data format this
//                  one does not read (data-dir.ts); the message says which and what to do.
//   CORRUPT        what no peer can repair: the identity file damaged, both copies of the view
//                  record unusable (view-record.ts), or a file whose checksum matches but whose
//                  content is not what storage writes (a bug, or a foreign file). The replica
//                  must not start. (Damage to the log or the snapshot is no error: the journal
//                  opens as damaged and the replica repairs it from its peers, replica-store.ts.)
//   IO             the operating system refused: a missing permission, ENOSPC, EIO, a
//                  non-empty directory handed to format. After a failed write or fsync nothing
//                  may be reported durable again (D1).
// A broken invariant is not a StorageError: it is a bug, and surfaces as an AssertionError.

type StorageErrorCode = 'NOT_FORMATTED' | 'WRONG_REPLICA' | 'WRONG_FORMAT' | 'CORRUPT' | 'IO';

export class StorageError extends Error {
  readonly code: StorageErrorCode;

  constructor(code: StorageErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StorageError';
    this.code = code;
  }
}

/** A CORRUPT error that names the file and, where it is known, the byte offset. */
export function corruptError(file: string, offset: number | null, what: string): StorageError {
  const where = offset === null ? file : `${file} at offset ${offset}`;
  return new StorageError('CORRUPT', `${where}: ${what}`);
}

/** An error from the operating system (it carries an errno-style code such as 'ENOSPC'), as
 *  opposed to a bug in our own code — whose errors may carry a code too, but not an errno one
 *  (a failed assertion's is 'ERR_ASSERTION'). */
export function isSystemError(error: unknown): error is NodeJS.ErrnoException {
  const code = error instanceof Error ? (error as NodeJS.ErrnoException).code : undefined;
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code);
}

/** A system error as StorageError IO that says what was being done (`what`, e.g. "fdatasync
 *  log-00000003.seg"; Node's own messages often omit the file). Anything else is a bug in our
 *  code and is passed through untouched, so that it crashes loudly instead of being reported
 *  as a disk problem. */
export function toStorageError(what: string, error: unknown): unknown {
  if (error instanceof StorageError || !isSystemError(error)) return error;
  return new StorageError('IO', `${what}: ${error.message}`, { cause: error });
}

/** Awaits `operation`, converting a system error with toStorageError. */
export async function io<T>(what: string, operation: Promise<T>): Promise<T> {
  try {
    return await operation;
  } catch (error) {
    throw toStorageError(what, error);
  }
}
