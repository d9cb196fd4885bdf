/**
 * The Datasets section: list with search, detail, delete with confirmation, the add form and
 * the chunked, resuming upload; `requestAPI` is the only mock.
 */
import React, { act } from 'react';

import { YtungAPIError } from '../handler';
import { Datasets, downloadUrl, formatBytes, isArchive, uploadArchive } from '../panels/datasets';
import {
  byTestId,
  click,
  container,
  datasetModel,
  mockedRequest,
  newRoot,
  render,
  root,
  trans,
  useReactRoot
} from './testutils';

jest.mock('../handler', () => ({ ...jest.requireActual('../handler'), requestAPI: jest.fn() }));

const LIST = [
  datasetModel(),
  datasetModel({
    id: 2,
    name: 'coco',
    description: '',
    creator: 'bob',
    public: true,
    permission: 'public',
    labeled: false,
    can_change: false
  })
];

function row(id: number): HTMLElement {
  const found = container.querySelector<HTMLElement>(
    `[data-testid="ytung-dataset"][data-dataset="${id}"]`
  );
  expect(found).not.toBeNull();
  return found!;
}

async function type(element: HTMLElement | null, value: string): Promise<void> {
  expect(element).not.toBeNull();
  const input = element as HTMLInputElement;
  const setter = Object.getOwnPropertyDescriptor(
    Object.getPrototypeOf(input),
    'value'
  )!.set!;
  await act(async () => {
    setter.call(input, value);
    input.dispatchEvent(new Event('input', { bubbles: true }));
  });
}

/** Answer by endpoint and method; anything else fails the test. */
function answer(routes: Record<string, (init?: RequestInit) => unknown>): void {
  mockedRequest.mockImplementation(async (endpoint = '', init: RequestInit = {}) => {
    const key = `${init.method ?? 'GET'} ${endpoint}`;
    const handler = routes[key];
    if (!handler) {
      throw new Error(`unexpected call ${key}`);
    }
    return handler(init) as any;
  });
}

useReactRoot();

describe('helpers', () => {
  it('knows the archive types', () => {
    expect(['a.zip', 'A.TAR', 'x.tar.gz', 'x.tgz'].map(isArchive)).toEqual([
      true,
      true,
      true,
      true
    ]);
    expect(['a.rar', 'a.gz', '.zip', 'zip'].map(isArchive)).toEqual([false, false, false, false]);
  });

  it('formats sizes and builds download links', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.5 KB');
    expect(formatBytes(3 * 1024 ** 3)).toBe('3.0 GB');
    expect(downloadUrl(7)).toMatch(/ytung\/api\/datasets\/7\/download$/);
    expect(downloadUrl(7, 2)).toMatch(/ytung\/api\/datasets\/7\/download\?version=2$/);
  });
});

describe('Datasets list', () => {
  it('shows the manual columns, badges and only the allowed actions', async () => {
    answer({ 'GET datasets': () => LIST });
    await render(<Datasets trans={trans} />);
    const cats = row(1);
    expect(byTestId('ytung-dataset-name', cats)?.textContent).toBe('cats');
    expect(byTestId('ytung-dataset-description', cats)?.textContent).toBe('Cat pictures');
    expect(cats.querySelector('[data-field="creator"]')?.textContent).toBe('alice');
    expect(cats.querySelector('[data-field="version"]')?.textContent).toBe('2');
    expect(cats.querySelector('[data-field="updated"] time')?.getAttribute('dateTime')).toBe(
      '2026-11-28T11:00:00Z'
    );
    expect(byTestId('ytung-dataset-labeled', cats)?.textContent).toBe('Labeled');
    expect(byTestId('ytung-dataset-permission', cats)?.textContent).toBe('Private');
    expect(byTestId('ytung-dataset-edit', cats)).not.toBeNull();
    expect(byTestId('ytung-dataset-delete', cats)).not.toBeNull();
    expect(byTestId('ytung-dataset-download', cats)?.getAttribute('href')).toMatch(
      /datasets\/1\/download$/
    );

    const coco = row(2);
    expect(byTestId('ytung-dataset-labeled', coco)?.textContent).toBe('Not labeled');
    expect(byTestId('ytung-dataset-permission', coco)?.textContent).toBe('Public');
    // another user's public dataset: download only
    expect(byTestId('ytung-dataset-edit', coco)).toBeNull();
    expect(byTestId('ytung-dataset-delete', coco)).toBeNull();
    expect(byTestId('ytung-dataset-download', coco)).not.toBeNull();
  });

  it('searches after typing stops', async () => {
    jest.useFakeTimers();
    const queries: string[] = [];
    mockedRequest.mockImplementation(async (endpoint = '') => {
      queries.push(endpoint);
      return endpoint.includes('q=') ? [LIST[1]] : LIST;
    });
    await render(<Datasets trans={trans} />);
    await type(byTestId('ytung-datasets-search'), 'coc');
    await type(byTestId('ytung-datasets-search'), 'coco 2017');
    await act(async () => {
      jest.advanceTimersByTime(400);
    });
    expect(queries).toEqual(['datasets', 'datasets?q=coco%202017']);
    expect(container.querySelectorAll('[data-testid="ytung-dataset"]').length).toBe(1);
  });

  it('says when nothing matches, and when loading fails', async () => {
    answer({ 'GET datasets': () => [] });
    await render(<Datasets trans={trans} />);
    expect(byTestId('ytung-datasets-empty')?.textContent).toBe('No datasets yet');

    act(() => root.unmount());
    newRoot();
    mockedRequest.mockRejectedValue(new YtungAPIError(503, 'The Ytung service did not answer'));
    await render(<Datasets trans={trans} />);
    expect(byTestId('ytung-datasets-error')?.textContent).toContain(
      'Error 503: The Ytung service did not answer'
    );
  });

  it('deletes only after confirmation, and shows a refusal', async () => {
    let deleted = 0;
    answer({
      'GET datasets': () => LIST,
      'DELETE datasets/1': () => {
        deleted++;
        throw new YtungAPIError(409, 'Dataset cats is used by running or queued workloads: t (3)');
      }
    });
    await render(<Datasets trans={trans} />);
    await click(byTestId('ytung-dataset-delete', row(1)));
    expect(byTestId('ytung-dataset-confirm', row(1))?.textContent).toContain(
      'Delete dataset cats and all its versions?'
    );
    expect(deleted).toBe(0);
    await click(byTestId('ytung-dataset-cancel-delete', row(1)));
    expect(byTestId('ytung-dataset-confirm')).toBeNull();
    await click(byTestId('ytung-dataset-delete', row(1)));
    await click(byTestId('ytung-dataset-confirm-delete', row(1)));
    expect(deleted).toBe(1);
    expect(byTestId('ytung-datasets-delete-error')?.textContent).toContain(
      'Error 409: Dataset cats is used by running or queued workloads'
    );
  });
});

describe('Dataset detail', () => {
  it('opens from the name and shows the S3 fields and versions', async () => {
    answer({
      'GET datasets': () => LIST,
      'GET datasets/1': () => ({
        ...LIST[0],
        versions: [
          {
            version: 1,
            path: '/data/datasets/1/1',
            size_bytes: 100,
            file_count: 1,
            source: 'upload',
            origin: 'cats.zip',
            creator: 'alice',
            created: '2026-11-28T10:00:00Z'
          },
          {
            version: 2,
            path: '/data/datasets/1/2',
            size_bytes: 2048,
            file_count: 3,
            source: 'upload',
            origin: 'cats2.zip',
            creator: 'alice',
            created: '2026-11-28T11:00:00Z'
          }
        ]
      })
    });
    await render(<Datasets trans={trans} />);
    await click(byTestId('ytung-dataset-name', row(1)));
    const detail = byTestId('ytung-dataset-detail')!;
    const field = (name: string) => detail.querySelector(`[data-field="${name}"]`)?.textContent;
    expect(field('name')).toBe('cats');
    expect(field('version')).toBe('2');
    expect(field('creator')).toBe('alice');
    expect(field('description')).toBe('Cat pictures');
    expect(field('path')).toBe('/data/datasets/1/2');
    expect(field('size')).toBe('2.0 KB in 3 files');
    expect(field('created')).toBeTruthy();
    expect(field('updated')).toBeTruthy();
    const versions = detail.querySelectorAll('[data-testid="ytung-dataset-versions"] tbody tr');
    expect([...versions].map(r => r.getAttribute('data-version'))).toEqual(['1', '2']);
    await click(byTestId('ytung-dataset-back'));
    expect(byTestId('ytung-datasets-list')).not.toBeNull();
  });
});

describe('uploadArchive', () => {
  function file(size: number, name = 'data.zip'): File {
    return new File([new Uint8Array(size).fill(7)], name);
  }

  it('sends chunks with Content-Range and completes', async () => {
    const ranges: string[] = [];
    let offset = 0;
    answer({
      'POST datasets/uploads': init => {
        expect(JSON.parse(init!.body as string)).toEqual({
          name: 'n',
          filename: 'data.zip',
          size: 25
        });
        return { id: 'u1', filename: 'data.zip', size: 25, offset: 0 };
      },
      'PUT datasets/uploads/u1': init => {
        const headers = init!.headers as Record<string, string>;
        ranges.push(headers['Content-Range']);
        offset += (init!.body as Blob).size;
        return { id: 'u1', size: 25, offset };
      },
      'POST datasets/uploads/u1/complete': () => datasetModel({ id: 9, version: 1 })
    });
    const progress: number[] = [];
    const result = await uploadArchive(file(25), { name: 'n' }, sent => progress.push(sent), undefined, 10);
    expect(ranges).toEqual(['bytes 0-9/25', 'bytes 10-19/25', 'bytes 20-24/25']);
    expect(progress).toEqual([0, 10, 20, 25]);
    expect(result.id).toBe(9);
  });

  it('goes on from the offset the service has after a dropped chunk', async () => {
    const ranges: string[] = [];
    let received = 0;
    let failOnce = true;
    answer({
      'POST datasets/uploads': () => ({ id: 'u2', filename: 'd.zip', size: 30, offset: 0 }),
      'PUT datasets/uploads/u2': init => {
        const range = (init!.headers as Record<string, string>)['Content-Range'];
        ranges.push(range);
        if (range === 'bytes 10-19/30' && failOnce) {
          failOnce = false;
          received = 14; // part of the chunk arrived before the connection dropped
          throw new YtungAPIError(0, 'network error');
        }
        received += (init!.body as Blob).size;
        return { id: 'u2', size: 30, offset: received };
      },
      'GET datasets/uploads/u2': () => ({ id: 'u2', size: 30, offset: received }),
      'POST datasets/uploads/u2/complete': () => datasetModel({ id: 3 })
    });
    await uploadArchive(file(30), {}, () => undefined, undefined, 10);
    expect(ranges).toEqual(['bytes 0-9/30', 'bytes 10-19/30', 'bytes 14-23/30', 'bytes 24-29/30']);
  });

  it('stops on a refusal that another try cannot fix', async () => {
    answer({
      'POST datasets/uploads': () => ({ id: 'u3', filename: 'd.zip', size: 30, offset: 0 }),
      'PUT datasets/uploads/u3': () => {
        throw new YtungAPIError(404, 'No such upload: u3');
      }
    });
    await expect(uploadArchive(file(30), {}, () => undefined, undefined, 10)).rejects.toThrow(
      'No such upload'
    );
  });
});

describe('Add form', () => {
  async function openForm() {
    answer({ 'GET datasets': () => [] });
    await render(<Datasets trans={trans} chunkBytes={8} />);
    await click(byTestId('ytung-datasets-add'));
    expect(byTestId('ytung-dataset-form')).not.toBeNull();
  }

  async function choose(file: File) {
    const input = byTestId('ytung-dataset-form-file') as HTMLInputElement;
    Object.defineProperty(input, 'files', { value: [file], configurable: true });
    await act(async () => {
      input.dispatchEvent(new Event('change', { bubbles: true }));
    });
  }

  it('refuses a missing name and a wrong file type before sending anything', async () => {
    await openForm();
    mockedRequest.mockClear();
    await click(byTestId('ytung-dataset-form-submit'));
    expect(byTestId('ytung-dataset-form-error')?.textContent).toContain('Enter the dataset name');
    await type(byTestId('ytung-dataset-form-name'), 'pets');
    await choose(new File(['x'], 'pets.rar'));
    await click(byTestId('ytung-dataset-form-submit'));
    expect(byTestId('ytung-dataset-form-error')?.textContent).toContain(
      'Only .zip, .tar and .tar.gz archives can be uploaded'
    );
    expect(mockedRequest).not.toHaveBeenCalled();
  });

  it('uploads with progress and opens the new dataset', async () => {
    await openForm();
    let offset = 0;
    let release: () => void = () => undefined;
    const gate = new Promise<void>(resolve => (release = resolve));
    const created = datasetModel({ id: 5, name: 'pets', version: 1, versions: [] });
    answer({
      'POST datasets/uploads': init => {
        const body = JSON.parse(init!.body as string);
        expect(body).toEqual({
          name: 'pets',
          description: 'Cats and dogs',
          labeled: false,
          permission: 'public',
          filename: 'pets.tar.gz',
          size: 20
        });
        return { id: 'u5', filename: 'pets.tar.gz', size: 20, offset: 0 };
      },
      'PUT datasets/uploads/u5': async init => {
        offset += (init!.body as Blob).size;
        if (offset >= 16) {
          await gate;
        }
        return { id: 'u5', size: 20, offset };
      },
      'POST datasets/uploads/u5/complete': () => created,
      'GET datasets/5': () => created
    });
    await type(byTestId('ytung-dataset-form-name'), 'pets');
    await type(byTestId('ytung-dataset-form-description'), 'Cats and dogs');
    await click(byTestId('ytung-dataset-form-labeled'));
    const select = byTestId('ytung-dataset-form-permission') as HTMLSelectElement;
    await act(async () => {
      select.value = 'public';
      select.dispatchEvent(new Event('change', { bubbles: true }));
    });
    await choose(new File([new Uint8Array(20)], 'pets.tar.gz'));
    await click(byTestId('ytung-dataset-form-submit'));
    expect(byTestId('ytung-dataset-progress-text')?.textContent).toBe('40% of 20 B');
    expect((container.querySelector('progress') as HTMLProgressElement).value).toBe(40);
    await act(async () => {
      release();
    });
    expect(byTestId('ytung-datasets-notice')?.textContent).toBe('Dataset pets version 1 is ready');
    expect(byTestId('ytung-dataset-detail')).not.toBeNull();
  });

  it('registers a server path, and shows the service refusal', async () => {
    await openForm();
    const bodies: unknown[] = [];
    answer({
      'POST datasets': init => {
        bodies.push(JSON.parse(init!.body as string));
        throw new YtungAPIError(
          400,
          '/etc is not inside a directory the admin allows: /mnt/datasets'
        );
      }
    });
    await type(byTestId('ytung-dataset-form-name'), 'coco');
    await click(byTestId('ytung-dataset-form-source-path'));
    expect(byTestId('ytung-dataset-form-file')).toBeNull();
    await type(byTestId('ytung-dataset-form-path'), 'relative/dir');
    await click(byTestId('ytung-dataset-form-submit'));
    expect(byTestId('ytung-dataset-form-error')?.textContent).toContain(
      'Enter an absolute path on the server'
    );
    expect(bodies).toEqual([]);
    await type(byTestId('ytung-dataset-form-path'), '/etc');
    await click(byTestId('ytung-dataset-form-submit'));
    expect(bodies).toEqual([
      { name: 'coco', description: '', labeled: true, permission: 'private', path: '/etc' }
    ]);
    expect(byTestId('ytung-dataset-form-error')?.textContent).toContain(
      'Error 400: /etc is not inside a directory the admin allows'
    );
  });
});
