/**
 * Uploads that survive a page reload (`../uploads.ts`): what the browser remembers, going on
 * from the offset the service has with only the remaining chunks, and the Datasets panel's
 * unfinished uploads (resume by picking the file again, discard); `requestAPI` is the only mock.
 */
import React, { act } from 'react';

import { YtungAPIError } from '../handler';
import { Datasets, IDataset } from '../panels/datasets';
import {
  IRememberedUpload,
  sameStart,
  unfinishedUploads,
  uploadArchive,
  uploadKey,
  UploadMemory
} from '../uploads';
import {
  byTestId,
  click,
  container,
  datasetModel,
  mockedRequest,
  render,
  trans,
  useReactRoot
} from './testutils';

jest.mock('../handler', () => ({ ...jest.requireActual('../handler'), requestAPI: jest.fn() }));

const MODIFIED = 1_764_000_000_000;

function file(size: number, name = 'pets.tar', lastModified = MODIFIED): File {
  return new File([new Uint8Array(size).fill(7)], name, { lastModified });
}

function created(overrides: Partial<IDataset> = {}): IDataset {
  return datasetModel({
    id: 7,
    name: 'pets',
    description: '',
    version: 1,
    path: '/data/datasets/7/1',
    size_bytes: 30,
    file_count: 1,
    versions: [],
    ...overrides
  });
}

type Route = (init?: RequestInit) => unknown;

/** Answer by endpoint and method; anything else fails the test. Records every call. */
function answer(routes: Record<string, Route>): string[] {
  const calls: string[] = [];
  mockedRequest.mockImplementation(async (endpoint = '', init: RequestInit = {}) => {
    const key = `${init.method ?? 'GET'} ${endpoint}`;
    const range = (init.headers as Record<string, string> | undefined)?.['Content-Range'];
    calls.push(range ? `${key} ${range}` : key);
    const handler = routes[key];
    if (!handler) {
      throw new Error(`unexpected call ${key}`);
    }
    return handler(init) as any;
  });
  return calls;
}

/** A service holding one upload `id` of `size` bytes, `offset` of them received already. */
function service(id: string, size: number, offset: number, onComplete = () => created()) {
  const state = { offset };
  const routes: Record<string, Route> = {
    'POST datasets/uploads': () => ({ id, filename: 'pets.tar', size, offset: 0 }),
    [`GET datasets/uploads/${id}`]: () => ({ id, filename: 'pets.tar', size, offset: state.offset }),
    [`PUT datasets/uploads/${id}`]: init => {
      state.offset += (init!.body as Blob).size;
      return { id, filename: 'pets.tar', size, offset: state.offset };
    },
    [`DELETE datasets/uploads/${id}`]: () => undefined,
    [`POST datasets/uploads/${id}/complete`]: onComplete
  };
  return { state, routes };
}

const FIELDS = { name: 'pets', description: 'Cats', labeled: true, permission: 'private' };

useReactRoot();

beforeEach(() => {
  window.localStorage.clear();
});

describe('UploadMemory', () => {
  it('remembers per user and per file (name, size, last change)', () => {
    const alice = new UploadMemory(window.localStorage, 'alice');
    const bob = new UploadMemory(window.localStorage, 'bob');
    const entry: IRememberedUpload = {
      id: 'a'.repeat(32),
      file: { name: 'pets.tar', size: 30, lastModified: MODIFIED },
      start: FIELDS,
      started: '2026-11-29T00:00:00Z'
    };
    alice.remember(entry);
    expect(alice.find(file(30))).toEqual(entry);
    expect(bob.find(file(30))).toBeNull();
    expect(alice.find(file(31))).toBeNull();
    expect(alice.find(file(30, 'pets.tar', MODIFIED + 1))).toBeNull();
    expect(alice.find(file(30, 'other.tar'))).toBeNull();
    expect(alice.list()).toEqual([entry]);
    expect(bob.list()).toEqual([]);
    expect(window.localStorage.getItem(uploadKey('alice', entry.file))).toContain(entry.id);
    alice.forget(file(30));
    expect(alice.find(file(30))).toBeNull();
    expect(alice.list()).toEqual([]);
  });

  it('works without storage, and with entries it cannot read', () => {
    const none = new UploadMemory(null, 'alice');
    none.remember({ id: 'x', file: file(1), start: {}, started: '' });
    expect(none.find(file(1))).toBeNull();
    expect(none.list()).toEqual([]);
    window.localStorage.setItem(uploadKey('alice', file(3)), '{not json');
    expect(new UploadMemory(window.localStorage, 'alice').find(file(3))).toBeNull();
  });

  it('compares start bodies by their fields, not their order', () => {
    expect(sameStart({ a: 1, b: 'x' }, { b: 'x', a: 1 })).toBe(true);
    expect(sameStart({ a: 1 }, { a: 1, b: false })).toBe(false);
    expect(sameStart({ dataset_id: 3 }, { dataset_id: 4 })).toBe(false);
  });
});

describe('uploadArchive across a reload', () => {
  it('goes on from the offset the service has, sending only the remaining chunks', async () => {
    const id = 'b'.repeat(32);
    const { routes } = service(id, 30, 0);
    let first = true;
    const before = answer({
      ...routes,
      [`PUT datasets/uploads/${id}`]: init => {
        if (first) {
          first = false;
          return routes[`PUT datasets/uploads/${id}`](init);
        }
        return new Promise(() => undefined); // the page reloads while this chunk is on its way
      }
    });
    const memory = new UploadMemory(window.localStorage, 'alice');
    void uploadArchive(file(30), FIELDS, () => undefined, undefined, 10, { memory });
    await act(async () => {
      await new Promise(resolve => setTimeout(resolve, 0));
    });
    expect(before).toEqual([
      'POST datasets/uploads',
      `PUT datasets/uploads/${id} bytes 0-9/30`,
      `PUT datasets/uploads/${id} bytes 10-19/30`
    ]);

    // after the reload: a new memory on the same storage, a new File of the same file
    const after = answer(routes);
    const progress: number[] = [];
    const dataset = await uploadArchive(
      file(30),
      { permission: 'private', labeled: true, description: 'Cats', name: 'pets' },
      sent => progress.push(sent),
      undefined,
      10,
      { memory: new UploadMemory(window.localStorage, 'alice') }
    );
    expect(dataset.id).toBe(7);
    expect(after).toEqual([
      `GET datasets/uploads/${id}`,
      `PUT datasets/uploads/${id} bytes 10-19/30`,
      `PUT datasets/uploads/${id} bytes 20-29/30`,
      `POST datasets/uploads/${id}/complete`
    ]);
    expect(progress).toEqual([10, 20, 30]);
    expect(memory.list()).toEqual([]); // finished: forgotten
  });

  it('sends everything again when the completion says the service lost the bytes', async () => {
    const id = 'e'.repeat(32);
    let completions = 0;
    const { state, routes } = service(id, 20, 0, () => {
      completions++;
      if (completions === 1) {
        state.offset = 0; // the service restarted after unpacking (and dropping) the bytes
        throw new YtungAPIError(409, 'send it again from the start');
      }
      return created();
    });
    const calls = answer(routes);
    const dataset = await uploadArchive(file(20), FIELDS, () => undefined, undefined, 10, {
      memory: new UploadMemory(window.localStorage, 'zed')
    });
    expect(dataset.id).toBe(7);
    expect(calls).toEqual([
      'POST datasets/uploads',
      `PUT datasets/uploads/${id} bytes 0-9/20`,
      `PUT datasets/uploads/${id} bytes 10-19/20`,
      `POST datasets/uploads/${id}/complete`,
      `GET datasets/uploads/${id}`,
      `PUT datasets/uploads/${id} bytes 0-9/20`,
      `PUT datasets/uploads/${id} bytes 10-19/20`,
      `POST datasets/uploads/${id}/complete`
    ]);
  });

  it('keeps an upload that failed for want of a connection, and forgets a refused one', async () => {
    const id = 'c'.repeat(32);
    const memory = new UploadMemory(window.localStorage, 'alice');
    const { routes } = service(id, 30, 0);
    answer({
      ...routes,
      [`PUT datasets/uploads/${id}`]: () => {
        throw new YtungAPIError(0, 'network down');
      },
      [`GET datasets/uploads/${id}`]: () => ({ id, size: 30, offset: 0 })
    });
    await expect(
      uploadArchive(file(30), FIELDS, () => undefined, undefined, 10, { memory })
    ).rejects.toThrow('network down');
    expect(memory.list().map(e => e.id)).toEqual([id]);

    answer({
      ...routes,
      [`PUT datasets/uploads/${id}`]: () => {
        throw new YtungAPIError(400, "Path with '..' in the archive: ../x");
      }
    });
    await expect(
      uploadArchive(file(30), FIELDS, () => undefined, undefined, 10, { memory })
    ).rejects.toThrow("'..'");
    expect(memory.list()).toEqual([]);
  });

  it('starts again when the service forgot the upload or the fields changed', async () => {
    const memory = new UploadMemory(window.localStorage, 'alice');
    const old = 'd'.repeat(32);
    const fresh = 'e'.repeat(32);
    memory.remember({
      id: old,
      file: { name: 'pets.tar', size: 30, lastModified: MODIFIED },
      start: FIELDS,
      started: '2026-11-29T00:00:00Z'
    });
    const { routes } = service(fresh, 30, 0);
    const expired = answer({
      ...routes,
      [`GET datasets/uploads/${old}`]: () => {
        throw new YtungAPIError(404, `No such upload: ${old}`);
      }
    });
    await uploadArchive(file(30), FIELDS, () => undefined, undefined, 30, { memory });
    expect(expired.slice(0, 2)).toEqual([`GET datasets/uploads/${old}`, 'POST datasets/uploads']);

    memory.remember({
      id: old,
      file: { name: 'pets.tar', size: 30, lastModified: MODIFIED },
      start: FIELDS,
      started: '2026-11-29T00:00:00Z'
    });
    const changed = answer({ ...routes, [`DELETE datasets/uploads/${old}`]: () => undefined });
    await uploadArchive(file(30), { ...FIELDS, name: 'dogs' }, () => undefined, undefined, 30, {
      memory
    });
    expect(changed.slice(0, 2)).toEqual([`DELETE datasets/uploads/${old}`, 'POST datasets/uploads']);
    expect(memory.list()).toEqual([]);
  });

  it('lists the unfinished uploads the service still has', async () => {
    const memory = new UploadMemory(window.localStorage, 'alice');
    const kept = 'f'.repeat(32);
    const gone = '1'.repeat(32);
    memory.remember({
      id: kept,
      file: { name: 'pets.tar', size: 30, lastModified: MODIFIED },
      start: FIELDS,
      started: '2026-11-29T00:00:01Z'
    });
    memory.remember({
      id: gone,
      file: { name: 'old.zip', size: 5, lastModified: MODIFIED },
      start: FIELDS,
      started: '2026-11-29T00:00:00Z'
    });
    answer({
      [`GET datasets/uploads/${kept}`]: () => ({ id: kept, size: 30, offset: 20 }),
      [`GET datasets/uploads/${gone}`]: () => {
        throw new YtungAPIError(404, 'No such upload');
      }
    });
    const found = await unfinishedUploads(memory);
    expect(found.map(e => [e.id, e.offset])).toEqual([[kept, 20]]);
    expect(memory.list().map(e => e.id)).toEqual([kept]);
  });
});

describe('Datasets panel: unfinished uploads', () => {
  const id = '2'.repeat(32);

  function remembered(memory: UploadMemory): void {
    memory.remember({
      id,
      file: { name: 'pets.tar', size: 30, lastModified: MODIFIED },
      start: { name: 'pets', description: 'Cats', labeled: false, permission: 'public' },
      started: '2026-11-29T00:00:00Z'
    });
  }

  async function choose(picked: File) {
    const input = byTestId('ytung-dataset-form-file') as HTMLInputElement;
    Object.defineProperty(input, 'files', { value: [picked], configurable: true });
    await act(async () => {
      input.dispatchEvent(new Event('change', { bubbles: true }));
    });
  }

  it('resumes when the file is picked again, with the fields it was started with', async () => {
    const memory = new UploadMemory(window.localStorage, 'alice');
    remembered(memory);
    const { routes } = service(id, 30, 10);
    const calls = answer({ ...routes, 'GET datasets': () => [], 'GET datasets/7': () => created() });
    await render(<Datasets trans={trans} chunkBytes={10} memory={memory} />);
    const row = byTestId('ytung-datasets-unfinished-row');
    expect(row?.textContent).toContain('pets.tar');
    expect(byTestId('ytung-datasets-unfinished-progress')?.textContent).toBe('33% of 30 B');

    await click(byTestId('ytung-datasets-unfinished-resume'));
    expect((byTestId('ytung-dataset-form-name') as HTMLInputElement).value).toBe('pets');
    expect((byTestId('ytung-dataset-form-permission') as HTMLSelectElement).value).toBe('public');
    expect((byTestId('ytung-dataset-form-labeled') as HTMLInputElement).checked).toBe(false);
    expect(byTestId('ytung-dataset-form-resume')?.textContent).toBe(
      'Pick pets.tar again to go on with its upload'
    );
    await choose(file(30));
    expect(byTestId('ytung-dataset-form-resuming')).not.toBeNull();
    calls.length = 0;
    await click(byTestId('ytung-dataset-form-submit'));
    expect(calls).toEqual([
      `GET datasets/uploads/${id}`,
      `PUT datasets/uploads/${id} bytes 10-19/30`,
      `PUT datasets/uploads/${id} bytes 20-29/30`,
      `POST datasets/uploads/${id}/complete`,
      'GET datasets/7'
    ]);
    expect(byTestId('ytung-datasets-notice')?.textContent).toBe('Dataset pets version 1 is ready');
    expect(memory.list()).toEqual([]);
  });

  it('picking the same file in a plain add form resumes too; another file does not', async () => {
    const memory = new UploadMemory(window.localStorage, 'alice');
    remembered(memory);
    const { routes } = service(id, 30, 10);
    answer({ ...routes, 'GET datasets': () => [] });
    await render(<Datasets trans={trans} chunkBytes={10} memory={memory} />);
    await click(byTestId('ytung-datasets-add'));
    await choose(file(30, 'pets.tar', MODIFIED + 5));
    expect(byTestId('ytung-dataset-form-resuming')).toBeNull();
    await choose(file(30));
    expect(byTestId('ytung-dataset-form-resuming')).not.toBeNull();
    expect((byTestId('ytung-dataset-form-name') as HTMLInputElement).value).toBe('pets');
  });

  it('discards an unfinished upload on the service and in the browser', async () => {
    const memory = new UploadMemory(window.localStorage, 'alice');
    remembered(memory);
    const { routes } = service(id, 30, 10);
    const calls = answer({ ...routes, 'GET datasets': () => [] });
    await render(<Datasets trans={trans} chunkBytes={10} memory={memory} />);
    await click(byTestId('ytung-datasets-unfinished-discard'));
    expect(calls).toContain(`DELETE datasets/uploads/${id}`);
    expect(memory.list()).toEqual([]);
    expect(byTestId('ytung-datasets-unfinished')).toBeNull();
    expect(container.textContent).not.toContain('pets.tar');
  });
});
