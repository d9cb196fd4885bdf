/**
 * Resumable archive uploads of the Datasets section (SPEC S1), also across page reloads.
 *
 * An upload goes in chunks: `POST datasets/uploads` (the dataset fields, file name and size) →
 * `PUT datasets/uploads/<id>` with `Content-Range`, chunk after chunk → `POST …/complete`. A
 * failed chunk is retried from the offset the service reports, so a dropped connection does not
 * restart a 2 GB upload.
 *
 * A page reload loses the `File` and the upload's id, so every started upload is remembered in
 * the browser's `localStorage` (`UploadMemory`), keyed by the user and the file's name, size and
 * last modification time, with the fields it was started with. Picking the same file again asks
 * the service how many bytes it has (`GET datasets/uploads/<id>`) and sends only the rest. An
 * upload that finished, was refused or cancelled, or that the service no longer knows (it expires
 * after a day without bytes), is forgotten.
 */
import { PageConfig } from '@jupyterlab/coreutils';

import { requestAPI, YtungAPIError } from './handler';
import type { IDataset } from './panels/datasets';

/** An upload in progress (`POST datasets/uploads`, `GET/PUT datasets/uploads/<id>`). */
export interface IDatasetUpload {
  id: string;
  filename: string;
  size: number;
  offset: number;
}

/** Bytes per upload request (the server extension streams each one on to the service). */
export const CHUNK_BYTES = 8 * 1024 * 1024;
/** How often one chunk is tried before the upload gives up. */
export const CHUNK_ATTEMPTS = 4;
/** how many times a completion answered 409 ("send it again") sends the bytes once more */
export const COMPLETE_ROUNDS = 2;

/** What still identifies a picked file after a reload (the `File` object does not survive). */
export interface IFileIdentity {
  name: string;
  size: number;
  lastModified: number;
}

/** An unfinished upload as the browser remembers it. */
export interface IRememberedUpload {
  /** the service's upload id */
  id: string;
  file: IFileIdentity;
  /** the body the upload was started with: dataset fields, or `dataset_id` for a new version */
  start: Record<string, unknown>;
  /** the dataset that the upload is a new version of */
  versionOf?: { id: number; name: string };
  /** when it was started (ISO) */
  started: string;
}

/** An unfinished upload with the bytes the service has of it. */
export interface IUnfinishedUpload extends IRememberedUpload {
  offset: number;
}

const PREFIX = 'ytung:dataset-upload:';

/** The storage key of `user`'s upload of `file`. */
export function uploadKey(user: string, file: IFileIdentity): string {
  return PREFIX + JSON.stringify([user, file.name, file.size, file.lastModified]);
}

/** Whether two upload bodies ask for the same dataset (the order of their keys aside). */
export function sameStart(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  const keys = Object.keys({ ...a, ...b });
  return keys.every(key => JSON.stringify(a[key]) === JSON.stringify(b[key]));
}

function browserStorage(): Storage | null {
  try {
    return window.localStorage;
  } catch {
    return null; // storage disabled: uploads resume within the page only
  }
}

/**
 * The unfinished uploads of one user in the browser's storage (one entry per file). Storage
 * errors (disabled, full) are ignored: the upload itself does not depend on them.
 */
export class UploadMemory {
  constructor(
    private readonly storage: Storage | null = browserStorage(),
    readonly user: string = PageConfig.getOption('hubUser')
  ) {}

  find(file: IFileIdentity): IRememberedUpload | null {
    try {
      const text = this.storage?.getItem(uploadKey(this.user, file));
      const entry = text ? (JSON.parse(text) as IRememberedUpload) : null;
      return entry && typeof entry.id === 'string' ? entry : null;
    } catch {
      return null;
    }
  }

  remember(entry: IRememberedUpload): void {
    try {
      this.storage?.setItem(uploadKey(this.user, entry.file), JSON.stringify(entry));
    } catch {
      // full or disabled: this upload resumes within the page only
    }
  }

  forget(file: IFileIdentity): void {
    try {
      this.storage?.removeItem(uploadKey(this.user, file));
    } catch {
      // nothing to forget
    }
  }

  /** This user's remembered uploads, oldest first. */
  list(): IRememberedUpload[] {
    const found: IRememberedUpload[] = [];
    const storage = this.storage;
    if (!storage) {
      return found;
    }
    try {
      for (let i = 0; i < storage.length; i++) {
        const key = storage.key(i);
        if (!key?.startsWith(PREFIX)) {
          continue;
        }
        const [user] = JSON.parse(key.slice(PREFIX.length)) as [string];
        const entry = JSON.parse(storage.getItem(key) ?? 'null') as IRememberedUpload | null;
        if (user === this.user && typeof entry?.id === 'string' && entry.file) {
          found.push(entry);
        }
      }
    } catch {
      // a foreign or broken entry: skip the rest
    }
    return found.sort((a, b) => a.started.localeCompare(b.started));
  }
}

/** The service's view of a remembered upload, or `null` when it no longer knows it. */
async function askService(entry: IRememberedUpload): Promise<IDatasetUpload | null> {
  try {
    const upload = await requestAPI<IDatasetUpload>(`datasets/uploads/${entry.id}`);
    return upload.size === entry.file.size ? upload : null;
  } catch (e) {
    if (e instanceof YtungAPIError && (e.status === 404 || e.status === 403)) {
      return null; // expired, finished elsewhere, or another user's
    }
    throw e;
  }
}

/**
 * This user's remembered uploads that the service still has, with their offsets; the ones it
 * no longer knows are forgotten. An entry the service cannot be asked about now is left out
 * (and kept).
 */
export async function unfinishedUploads(memory: UploadMemory): Promise<IUnfinishedUpload[]> {
  const found: IUnfinishedUpload[] = [];
  for (const entry of memory.list()) {
    try {
      const upload = await askService(entry);
      if (upload) {
        found.push({ ...entry, offset: upload.offset });
      } else {
        memory.forget(entry.file);
      }
    } catch {
      // no answer now: ask again next time
    }
  }
  return found;
}

/** Cancel a remembered upload on the service and forget it. */
export async function discardUpload(memory: UploadMemory, entry: IRememberedUpload): Promise<void> {
  try {
    await requestAPI(`datasets/uploads/${entry.id}`, { method: 'DELETE' });
  } catch (e) {
    if (!(e instanceof YtungAPIError && e.status === 404)) {
      throw e;
    }
  }
  memory.forget(entry.file);
}

/**
 * The upload to send `file` to: the remembered one of the same file and the same fields, from
 * the offset the service has, or a new one (remembered at once). A remembered upload of the
 * same file with other fields is cancelled: the user changed their mind.
 */
async function resumeOrStart(
  file: IFileIdentity,
  start: Record<string, unknown>,
  memory: UploadMemory,
  versionOf?: { id: number; name: string }
): Promise<IDatasetUpload> {
  const remembered = memory.find(file);
  if (remembered) {
    if (sameStart(remembered.start, start)) {
      const upload = await askService(remembered);
      if (upload) {
        return upload;
      }
    } else {
      await requestAPI(`datasets/uploads/${remembered.id}`, { method: 'DELETE' }).catch(
        () => undefined
      );
    }
    memory.forget(file);
  }
  const upload = await requestAPI<IDatasetUpload>('datasets/uploads', {
    method: 'POST',
    body: JSON.stringify({ ...start, filename: file.name, size: file.size })
  });
  memory.remember({
    id: upload.id,
    file: { name: file.name, size: file.size, lastModified: file.lastModified },
    start,
    versionOf: versionOf ? { id: versionOf.id, name: versionOf.name } : undefined,
    started: new Date().toISOString()
  });
  return upload;
}

/** Whether another try cannot fix a refusal (bad request, gone, not allowed; 409 can be). */
function final(status: number): boolean {
  return status >= 400 && status < 500 && status !== 409;
}

export interface IUploadOptions {
  /** where unfinished uploads are remembered (default: this user's, in `localStorage`) */
  memory?: UploadMemory;
  /** the dataset this upload is a new version of (shown in the unfinished uploads) */
  versionOf?: { id: number; name: string };
}

/**
 * Upload `file` in chunks; calls `onProgress(sent, total)`. Goes on with a remembered upload of
 * the same file and fields (after a reload) from the offset the service has. A failed chunk is
 * retried from that offset (up to CHUNK_ATTEMPTS times). Resolves with the dataset once the
 * archive is unpacked.
 */
export async function uploadArchive(
  file: Blob & { name: string; lastModified?: number },
  start: Record<string, unknown>,
  onProgress: (sent: number, total: number) => void,
  cancelled: () => boolean = () => false,
  chunkBytes: number = CHUNK_BYTES,
  options: IUploadOptions = {}
): Promise<IDataset> {
  const memory = options.memory ?? new UploadMemory();
  const picked: IFileIdentity = {
    name: file.name,
    size: file.size,
    lastModified: file.lastModified ?? 0
  };
  const upload = await resumeOrStart(picked, start, memory, options.versionOf);
  const path = `datasets/uploads/${upload.id}`;
  let offset = upload.offset;
  let failures = 0;
  onProgress(offset, file.size);
  // a completion the service answers 409 for (it restarted while unpacking the archive as it
  // arrived: it needs the bytes again) sends the rest once more, from the offset it reports
  for (let round = 0; ; round++) {
    while (offset < file.size) {
      if (cancelled()) {
        await requestAPI(path, { method: 'DELETE' }).catch(() => undefined);
        memory.forget(picked);
        throw new YtungAPIError(0, 'cancelled');
      }
      const end = Math.min(offset + chunkBytes, file.size);
      try {
        const answer = await requestAPI<IDatasetUpload>(path, {
          method: 'PUT',
          body: file.slice(offset, end),
          headers: {
            'Content-Type': 'application/octet-stream',
            'Content-Range': `bytes ${offset}-${end - 1}/${file.size}`
          }
        });
        offset = answer.offset;
        failures = 0;
      } catch (e) {
        const status = e instanceof YtungAPIError ? e.status : 0;
        failures++;
        if (final(status)) {
          memory.forget(picked); // refused (an unsafe archive is refused before its end) or gone
          throw e;
        }
        if (failures >= CHUNK_ATTEMPTS) {
          throw e; // remembered: picking the file again goes on from here
        }
        offset = (await requestAPI<IDatasetUpload>(path)).offset;
      }
      onProgress(offset, file.size);
    }
    try {
      const dataset = await requestAPI<IDataset>(`${path}/complete`, { method: 'POST' });
      memory.forget(picked);
      return dataset;
    } catch (e) {
      if (e instanceof YtungAPIError && e.status === 409 && round < COMPLETE_ROUNDS) {
        const again = (await requestAPI<IDatasetUpload>(path)).offset;
        if (again < file.size) {
          offset = again;
          onProgress(offset, file.size);
          continue;
        }
      }
      if (e instanceof YtungAPIError && final(e.status)) {
        memory.forget(picked); // a refused archive is gone from the service
      }
      throw e;
    }
  }
}
