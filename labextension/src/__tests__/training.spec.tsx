/**
 * The Training section: the pure form helpers, the job list and its actions, the detail with
 * the paginated, rank-tagged log and its live tail, presets prefilling the form, and a
 * template saved from the form; `requestAPI` is the only mock.
 */
import React, { act } from 'react';

import { YtungAPIError } from '../handler';
import {
  EMPTY_FORM,
  formatBytes,
  formToBody,
  IJob,
  ILogPage,
  JobDetail,
  JobList,
  parseParams,
  specToForm,
  Training
} from '../panels/training';
import {
  byTestId,
  click,
  container,
  mockedRequest,
  render,
  trans,
  useReactRoot
} from './testutils';

jest.mock('../handler', () => ({ ...jest.requireActual('../handler'), requestAPI: jest.fn() }));

function job(changes: Partial<IJob> = {}): IJob {
  return {
    id: 3,
    name: 'digits_1',
    description: '',
    engine: 'pytorch',
    status: 'running',
    created: '2026-11-28T21:00:00Z',
    distributed: true,
    nodes: 2,
    devices_per_node: 0,
    device_type: null,
    workload: 9,
    vc: 'default',
    runs: [9],
    paused: false,
    exit_code: null,
    stderr_tail: null,
    reason: null,
    spec: {},
    ports: {
      jupyter: '/user/ann/training-9/lab',
      terminal: '/user/ann/training-9/terminals/1',
      tensorboard: null,
      tensorboard_available: false
    },
    ...changes
  };
}

function logPage(offset: number, total: number): ILogPage {
  const lines = [];
  for (let i = offset; i < Math.min(total, offset + 100); i++) {
    lines.push({ time: `t${i}`, rank: i % 2, stream: 'stdout', text: `line ${i}` });
  }
  return { ranks: [0, 1], total, offset, limit: 100, lines, device_log: [] };
}

useReactRoot();

describe('form helpers', () => {
  it('parses run parameters from key=value lines', () => {
    expect(parseParams('epochs=3\n--lr 0.1\n\n# note\nflag\nname = a b')).toEqual({
      epochs: '3',
      lr: '0.1',
      flag: '',
      name: 'a b'
    });
  });

  it('builds the body of a single-node and a distributed job', () => {
    const single = formToBody({ ...EMPTY_FORM, name: ' j ', params: 'a=1', devices: '2' });
    expect(single).toEqual({
      name: 'j',
      description: '',
      engine: 'pytorch',
      code_dir: '',
      start_file: '',
      output_path: '',
      params: { a: '1' },
      device_type: null,
      distributed: false,
      keep_alive: false,
      devices: 2
    });
    const dist = formToBody({
      ...EMPTY_FORM,
      distributed: true,
      nodes: '2',
      devices_per_node: '4',
      master_command: 'python m.py',
      dataset_id: '5',
      dataset_version: '2'
    });
    expect(dist).toMatchObject({
      nodes: 2,
      devices_per_node: 4,
      master_command: 'python m.py',
      dataset: { id: 5, version: 2 }
    });
    expect(dist).not.toHaveProperty('devices');
  });

  it('turns a stored spec back into the form', () => {
    const form = specToForm({
      code_dir: '/home/ann/presets/digits_cnn',
      start_file: 'train.py',
      params: { epochs: '8', lr: '0.01' },
      devices: 0
    });
    expect(form.params).toBe('epochs=8\nlr=0.01');
    expect(form.code_dir).toBe('/home/ann/presets/digits_cnn');
    expect(form.devices).toBe('0');
  });

  it('formats sizes', () => {
    expect(formatBytes(159357)).toBe('155.6 KB');
    expect(formatBytes(3 * 1024 * 1024)).toBe('3.0 MB');
  });
});

describe('JobList', () => {
  it('lists status, name, engine and stops a running job', async () => {
    mockedRequest.mockResolvedValue([job(), job({ id: 2, name: 'old', status: 'paused' })]);
    await render(<JobList trans={trans} active refreshInterval={60_000} onOpen={jest.fn()} />);
    const rows = container.querySelectorAll('[data-testid="ytung-training-job"]');
    expect([...rows].map(r => r.querySelector('[data-field="name"]')!.textContent)).toEqual([
      'digits_1',
      'old'
    ]);
    expect(rows[0].querySelector('[data-field="status"]')!.textContent).toBe('Running');
    expect(rows[1].querySelector('[data-testid="ytung-training-resume"]')).not.toBeNull();
    await click(rows[0].querySelector('[data-testid="ytung-training-stop"]'));
    expect(mockedRequest).toHaveBeenCalledWith('jobs/3', { method: 'DELETE' });
  });

  it('shows an error of the service', async () => {
    mockedRequest.mockRejectedValue(new YtungAPIError(503, 'down'));
    await render(<JobList trans={trans} active refreshInterval={60_000} onOpen={jest.fn()} />);
    expect(byTestId('ytung-training-error')!.textContent).toBe('Error 503: down');
  });
});

describe('JobDetail', () => {
  it('pages through the log tagged per rank', async () => {
    mockedRequest.mockImplementation(async (endpoint = '') => {
      if (endpoint === 'jobs/3') {
        return job({ status: 'completed', exit_code: 0 });
      }
      if (endpoint.startsWith('jobs/3/logs')) {
        const offset = Number(/offset=(\d+)/.exec(endpoint)![1]);
        return logPage(offset, 150);
      }
      return { samples: [{ cpu_percent: 97.5, memory_bytes: 2048 }], ranks: [] };
    });
    await render(
      <JobDetail jobId={3} trans={trans} active tailInterval={60_000} onBack={jest.fn()} />
    );
    // the live tail shows the last page
    expect(byTestId('ytung-training-range')!.textContent).toBe('Lines 51–150 of 150');
    await click(byTestId('ytung-training-prev'));
    expect(byTestId('ytung-training-range')!.textContent).toBe('Lines 1–100 of 150');
    const first = byTestId('ytung-training-log')!.querySelector('.ytung-log-line')!;
    expect(first.textContent).toBe('[rank 0] line 0');
    expect(byTestId('ytung-training-exit-code')!.textContent).toBe('0');
    expect(byTestId('ytung-training-metrics')!.textContent).toBe('97.5% / 2.0 KB');
    expect(mockedRequest).toHaveBeenCalledWith('jobs/3/logs?offset=0&limit=100');
  });

  it('follows new lines while the live tail is on', async () => {
    jest.useFakeTimers();
    let total = 5;
    mockedRequest.mockImplementation(async (endpoint = '') => {
      if (endpoint === 'jobs/3') {
        return job();
      }
      if (endpoint.startsWith('jobs/3/logs')) {
        return logPage(Number(/offset=(\d+)/.exec(endpoint)![1]), total);
      }
      return { samples: [], ranks: [] };
    });
    await render(
      <JobDetail jobId={3} trans={trans} active tailInterval={2000} onBack={jest.fn()} />
    );
    expect(byTestId('ytung-training-log')!.children).toHaveLength(5);
    total = 8;
    await act(async () => {
      jest.advanceTimersByTime(2000);
    });
    expect(byTestId('ytung-training-log')!.children).toHaveLength(8);
    expect(byTestId('ytung-training-log')!.lastElementChild!.textContent).toBe('[rank 1] line 7');
  });
});

describe('Training', () => {
  it('creates a job prefilled from a preset model', async () => {
    mockedRequest.mockImplementation(async (endpoint = '', init?: RequestInit) => {
      if (endpoint === 'jobs') {
        return [];
      }
      if (endpoint.startsWith('presets?')) {
        return [
          {
            name: 'digits_cnn',
            title: 'Digits CNN',
            use: 'digits',
            accuracy: 0.9917,
            size_bytes: 159357,
            created: '2026-11-28T21:50:00Z',
            engine: 'pytorch'
          }
        ];
      }
      if (endpoint === 'presets/digits_cnn/prepare') {
        return {
          name: 'digits_cnn_job',
          code_dir: '/home/ann/presets/digits_cnn',
          start_file: 'train.py',
          output_path: '/home/ann/jobs/digits_cnn/output',
          params: { epochs: '8' },
          distributed: false,
          devices: 0
        };
      }
      throw new Error(`unexpected ${endpoint} ${init?.method}`);
    });
    await render(<Training trans={trans} refreshInterval={60_000} />);
    await click(byTestId('ytung-training-tab-presets'));
    const row = container.querySelector('[data-testid="ytung-training-preset"]')!;
    expect(row.querySelector('[data-field="accuracy"]')!.textContent).toBe('99.17%');
    await click(row.querySelector('[data-testid="ytung-training-preset-use"]') as HTMLElement);
    const name = byTestId('ytung-training-field-name') as HTMLInputElement;
    expect(name.value).toBe('digits_cnn_job');
    expect((byTestId('ytung-training-field-params') as HTMLTextAreaElement).value).toBe(
      'epochs=8'
    );
    expect((byTestId('ytung-training-field-code_dir') as HTMLInputElement).value).toBe(
      '/home/ann/presets/digits_cnn'
    );
  });

  it('shows the refusal of a bad form', async () => {
    mockedRequest.mockImplementation(async (endpoint = '') => {
      if (endpoint === 'jobs') {
        throw new YtungAPIError(400, 'File or path does not exist: missing.py');
      }
      return [];
    });
    await render(<Training trans={trans} active={false} />);
    await click(byTestId('ytung-training-tab-create'));
    await click(byTestId('ytung-training-submit'));
    expect(byTestId('ytung-training-form-error')!.textContent).toBe(
      'Error 400: File or path does not exist: missing.py'
    );
  });
});

describe('ParamSets', () => {
  it('creates a job from a preset set (its code copied first) and edits a set', async () => {
    const calls: string[] = [];
    mockedRequest.mockImplementation(async (endpoint = '', init?: RequestInit) => {
      calls.push(`${init?.method ?? 'GET'} ${endpoint}`);
      if (endpoint === 'jobs') {
        return [];
      }
      if (endpoint === 'paramsets') {
        return [
          {
            id: 'preset:digits_cnn',
            name: 'digits_cnn',
            description: 'digits',
            preset: true,
            spec: { code_dir: 'presets/digits_cnn', start_file: 'train.py', params: { epochs: '8' } }
          }
        ];
      }
      if (endpoint === 'presets/digits_cnn/prepare') {
        return { name: 'digits_cnn_job', code_dir: '/home/ann/presets/digits_cnn', params: {} };
      }
      return { id: 4 };
    });
    await render(<Training trans={trans} active={false} />);
    await click(byTestId('ytung-training-tab-paramsets'));
    await click(byTestId('ytung-training-paramset-edit'));
    const params = byTestId('ytung-training-paramset-params') as HTMLTextAreaElement;
    expect(params.value).toBe('epochs=8');
    await click(byTestId('ytung-training-paramset-save'));
    const put = mockedRequest.mock.calls.find(c => c[1]?.method === 'PUT')!;
    expect(put[0]).toBe('paramsets/preset%3Adigits_cnn');
    expect(JSON.parse(put[1]!.body as string)).toMatchObject({
      name: 'digits_cnn_mine',
      params: { epochs: '8' }
    });
    await click(byTestId('ytung-training-paramset-use'));
    expect(calls).toContain('POST presets/digits_cnn/prepare');
    expect((byTestId('ytung-training-field-code_dir') as HTMLInputElement).value).toBe(
      '/home/ann/presets/digits_cnn'
    );
    expect((byTestId('ytung-training-field-params') as HTMLTextAreaElement).value).toBe(
      'epochs=8'
    );
  });
});
