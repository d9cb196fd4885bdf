/**
 * The Virtual clusters section renders what `requestAPI('vcs')` answers, switches the current
 * VC with `PUT settings` and polls only while visible; `requestAPI` is the only mock.
 */
import { Widget } from '@lumino/widgets';
import React, { act } from 'react';

import { YtungAPIError } from '../handler';
import {
  deviceKind,
  REFRESH_INTERVAL_MS,
  VirtualClusters,
  VirtualClustersPanel
} from '../panels/vcs';
import type { IMyVirtualClusters } from '../tokens';
import {
  byTestId,
  click,
  container,
  mockedRequest,
  newRoot,
  render,
  root,
  trans,
  useReactRoot
} from './testutils';

jest.mock('../handler', () => ({ ...jest.requireActual('../handler'), requestAPI: jest.fn() }));

/** The document of tests/lab/fake_service.py's vcs_document(). */
function myVCs(): IMyVirtualClusters {
  return {
    current_vc: 'vision',
    vcs: [
      {
        name: 'vision',
        description: 'Computer vision team',
        max_hours: 24,
        devices: [
          {
            device_type: 'nvidia_gpu_amd64',
            quota: 8,
            user_max: 2,
            used: 8,
            my_used: 1,
            queued: 2
          }
        ]
      },
      {
        name: 'speech',
        description: '',
        max_hours: null,
        devices: [
          {
            device_type: 'huawei_npu_arm64',
            quota: 16,
            user_max: null,
            used: 4,
            my_used: 0,
            queued: 0
          }
        ]
      }
    ],
    queued: [
      {
        id: 12,
        name: 'devenv-12',
        kind: 'devenv',
        vc: 'vision',
        device_type: 'nvidia_gpu_amd64',
        nodes: 1,
        devices_per_node: 2,
        position: 1,
        ahead: 0,
        reason:
          "VC 'vision' has 0 of 8 nvidia_gpu_amd64 free, this workload needs 2; 0 workloads ahead",
        submitted: '2026-11-28T10:00:00Z'
      }
    ]
  };
}

function card(vc: string): HTMLElement {
  const found = container.querySelector<HTMLElement>(
    `[data-testid="ytung-vcs-card"][data-vc="${vc}"]`
  );
  expect(found).not.toBeNull();
  return found!;
}

function field(vc: string, deviceType: string, name: string): string | null | undefined {
  return card(vc).querySelector(
    `[data-testid="ytung-vcs-devices"][data-device-type="${deviceType}"] td[data-field="${name}"]`
  )?.textContent;
}

useReactRoot();

describe('VirtualClusters', () => {
  it('shows my VCs with quotas and use, the current one marked', async () => {
    mockedRequest.mockResolvedValue(myVCs());
    await render(<VirtualClusters trans={trans} />);
    expect(mockedRequest).toHaveBeenCalledWith('vcs');

    const cards = container.querySelectorAll('[data-testid="ytung-vcs-card"]');
    expect([...cards].map(c => c.getAttribute('data-vc'))).toEqual(['vision', 'speech']);

    expect(byTestId('ytung-vcs-current', card('vision'))?.textContent).toBe('Current');
    expect(card('vision').dataset.current).toBe('true');
    expect(byTestId('ytung-vcs-use', card('vision'))).toBeNull();
    expect(byTestId('ytung-vcs-current', card('speech'))).toBeNull();
    expect(byTestId('ytung-vcs-use', card('speech'))?.textContent).toBe('Use this VC');

    expect(card('vision').textContent).toContain('Computer vision team');
    expect(byTestId('ytung-vcs-max-hours', card('vision'))?.textContent).toBe('24 h');
    expect(byTestId('ytung-vcs-max-hours', card('speech'))?.textContent).toBe('--');

    const gpu = 'nvidia_gpu_amd64';
    expect(field('vision', gpu, 'quota')).toBe('8');
    expect(field('vision', gpu, 'user_max')).toBe('2');
    expect(field('vision', gpu, 'used')).toBe('8');
    expect(field('vision', gpu, 'my_used')).toBe('1');
    expect(field('vision', gpu, 'queued')).toBe('2');
    expect(card('vision').querySelector('caption')?.textContent).toBe('nvidia_gpu_amd64 GPU');
    expect(field('speech', 'huawei_npu_arm64', 'user_max')).toBe('--');
    expect(card('speech').querySelector('caption')?.textContent).toBe('huawei_npu_arm64 NPU');
  });

  it('shows my queued workloads with position, reason and devices', async () => {
    mockedRequest.mockResolvedValue(myVCs());
    await render(<VirtualClusters trans={trans} />);
    const items = container.querySelectorAll('[data-testid="ytung-queue-item"]');
    expect(items).toHaveLength(1);
    const item = items[0] as HTMLElement;
    expect(item.dataset.workload).toBe('12');
    expect(byTestId('ytung-queue-position', item)?.textContent).toBe('#1');
    expect(byTestId('ytung-queue-name', item)?.textContent).toBe('devenv-12');
    expect(byTestId('ytung-queue-reason', item)?.textContent).toBe(myVCs().queued[0].reason);
    expect(byTestId('ytung-queue-devices', item)?.textContent).toBe('1 × 2 nvidia_gpu_amd64 GPU');
    expect(byTestId('ytung-queue-ahead', item)?.textContent).toBe('0');
    expect(item.textContent).toContain('Dev environment');
    expect(byTestId('ytung-queue-submitted', item)?.querySelector('time')?.dateTime).toBe(
      '2026-11-28T10:00:00Z'
    );
    expect(byTestId('ytung-queue-empty')).toBeNull();
  });

  it('shows the estimated start of a queued workload, or why it is unknown', async () => {
    const data = myVCs();
    const how =
      'no later than when 1 running workload(s) have ended (each at its time limit at the latest), ' +
      'if nothing is submitted ahead of it';
    data.queued[0] = {
      ...data.queued[0],
      estimated_start: '2026-11-28T11:00:00+00:00',
      estimate_reason: how
    } as any;
    data.queued.push({
      ...data.queued[0],
      id: 13,
      position: 2,
      estimated_start: null,
      estimate_reason: 'unknown: a workload ahead has no time limit'
    } as any);
    data.queued.push({ ...myVCs().queued[0], id: 14, position: 3 });
    mockedRequest.mockResolvedValue(data);
    await render(<VirtualClusters trans={trans} />);
    const items = [...container.querySelectorAll<HTMLElement>('[data-testid="ytung-queue-item"]')];
    expect(items.map(i => i.dataset.workload)).toEqual(['12', '13', '14']);

    const known = byTestId('ytung-queue-estimate', items[0]);
    expect(known?.querySelector('time')?.dateTime).toBe('2026-11-28T11:00:00+00:00');
    expect(known?.querySelector('time')?.textContent).toBe(
      new Date('2026-11-28T11:00:00+00:00').toLocaleString('en')
    );
    expect(known?.textContent).toContain(`(${how})`);
    expect(items[0].textContent).toContain('Estimated start');

    const unknown = byTestId('ytung-queue-estimate', items[1]);
    expect(unknown?.querySelector('time')).toBeNull();
    expect(unknown?.textContent).toBe('unknown: a workload ahead has no time limit');

    // not estimated yet (before the service's next pass): no row at all
    expect(byTestId('ytung-queue-estimate', items[2])).toBeNull();
    expect(items[2].textContent).not.toContain('Estimated start');
  });

  it('orders the queue by position and shows CPU-only workloads as CPU', async () => {
    const data = myVCs();
    data.queued.push({
      ...data.queued[0],
      id: 13,
      name: 'training-13',
      kind: 'training',
      device_type: null,
      devices_per_node: 0,
      position: 0
    });
    mockedRequest.mockResolvedValue(data);
    await render(<VirtualClusters trans={trans} />);
    const items = [...container.querySelectorAll<HTMLElement>('[data-testid="ytung-queue-item"]')];
    expect(items.map(i => i.dataset.workload)).toEqual(['13', '12']);
    expect(byTestId('ytung-queue-devices', items[0])?.textContent).toBe('CPU');
  });

  it('says so when there are no VCs and no queued workloads', async () => {
    mockedRequest.mockResolvedValue({ current_vc: null, vcs: [], queued: [] });
    await render(<VirtualClusters trans={trans} />);
    expect(byTestId('ytung-vcs-empty')?.textContent).toBe(
      'You are not a member of any virtual cluster yet'
    );
    expect(byTestId('ytung-queue-empty')?.textContent).toBe('You have no queued workloads');
  });

  it('offers every VC when none is current, and says when a VC has no devices', async () => {
    const data = myVCs();
    data.current_vc = null;
    data.vcs[1].devices = [];
    mockedRequest.mockResolvedValue(data);
    await render(<VirtualClusters trans={trans} />);
    expect(container.querySelectorAll('[data-testid="ytung-vcs-use"]')).toHaveLength(2);
    expect(byTestId('ytung-vcs-current')).toBeNull();
    expect(byTestId('ytung-vcs-no-devices', card('speech'))).not.toBeNull();
  });

  it('switches the current VC with PUT settings, then reloads', async () => {
    mockedRequest.mockResolvedValueOnce(myVCs());
    await render(<VirtualClusters trans={trans} />);

    const switched = { ...myVCs(), current_vc: 'speech' };
    mockedRequest
      .mockResolvedValueOnce({ current_vc: 'speech' })
      .mockResolvedValueOnce(switched);
    await click(byTestId('ytung-vcs-use', card('speech')));

    expect(mockedRequest.mock.calls).toEqual([
      ['vcs'],
      ['settings', { method: 'PUT', body: JSON.stringify({ current_vc: 'speech' }) }],
      ['vcs']
    ]);
    expect(byTestId('ytung-vcs-current', card('speech'))).not.toBeNull();
    expect(byTestId('ytung-vcs-use', card('vision'))).not.toBeNull();
    expect(byTestId('ytung-vcs-switch-error')).toBeNull();
  });

  it('shows why a switch failed and keeps the current VC', async () => {
    mockedRequest.mockResolvedValueOnce(myVCs());
    await render(<VirtualClusters trans={trans} />);
    mockedRequest
      .mockRejectedValueOnce(new YtungAPIError(404, 'No such virtual cluster: speech'))
      .mockResolvedValueOnce(myVCs());
    await click(byTestId('ytung-vcs-use', card('speech')));
    expect(byTestId('ytung-vcs-switch-error')?.textContent).toBe(
      'Could not switch to virtual cluster speechError 404: No such virtual cluster: speech'
    );
    expect(byTestId('ytung-vcs-current', card('vision'))).not.toBeNull();
  });

  it('shows load errors with their status and loads again on refresh', async () => {
    mockedRequest.mockRejectedValueOnce(new YtungAPIError(503, 'the Ytung service is unreachable'));
    await render(<VirtualClusters trans={trans} />);
    expect(byTestId('ytung-vcs-error')?.textContent).toContain(
      'Error 503: the Ytung service is unreachable'
    );
    expect(byTestId('ytung-vcs-card')).toBeNull();

    mockedRequest.mockResolvedValueOnce(myVCs());
    await click(byTestId('ytung-vcs-refresh'));
    expect(mockedRequest).toHaveBeenCalledTimes(2);
    expect(byTestId('ytung-vcs-error')).toBeNull();
    expect(byTestId('ytung-vcs-card')).not.toBeNull();
  });

  it('keeps the last answer on screen when a reload fails', async () => {
    mockedRequest.mockResolvedValueOnce(myVCs());
    await render(<VirtualClusters trans={trans} />);
    mockedRequest.mockRejectedValueOnce(new YtungAPIError(500, 'Database is locked'));
    await click(byTestId('ytung-vcs-refresh'));
    expect(byTestId('ytung-vcs-error')?.textContent).toContain('Error 500: Database is locked');
    expect(byTestId('ytung-vcs-card')).not.toBeNull();
  });

  it('shows a loading state until the answer comes', async () => {
    mockedRequest.mockReturnValue(new Promise(() => undefined));
    await render(<VirtualClusters trans={trans} />);
    expect(byTestId('ytung-vcs-loading')?.textContent).toBe('Loading…');
    expect((byTestId('ytung-vcs-refresh') as HTMLButtonElement).disabled).toBe(true);
  });

  it('reloads every 10 s while active, and stops when inactive or unmounted', async () => {
    jest.useFakeTimers();
    mockedRequest.mockResolvedValue(myVCs());
    await render(<VirtualClusters trans={trans} active={true} />);
    expect(mockedRequest).toHaveBeenCalledTimes(1);

    await act(async () => {
      jest.advanceTimersByTime(REFRESH_INTERVAL_MS);
    });
    expect(mockedRequest).toHaveBeenCalledTimes(2);

    await render(<VirtualClusters trans={trans} active={false} />);
    await act(async () => {
      jest.advanceTimersByTime(3 * REFRESH_INTERVAL_MS);
    });
    expect(mockedRequest).toHaveBeenCalledTimes(2);

    // shown again: at once, then on the timer
    await render(<VirtualClusters trans={trans} active={true} />);
    expect(mockedRequest).toHaveBeenCalledTimes(3);
    act(() => root.unmount());
    await act(async () => {
      jest.advanceTimersByTime(3 * REFRESH_INTERVAL_MS);
    });
    expect(mockedRequest).toHaveBeenCalledTimes(3);
    newRoot();
  });

  it('does not load while inactive from the start', async () => {
    jest.useFakeTimers();
    mockedRequest.mockResolvedValue(myVCs());
    await render(<VirtualClusters trans={trans} active={false} />);
    await act(async () => {
      jest.advanceTimersByTime(3 * REFRESH_INTERVAL_MS);
    });
    expect(mockedRequest).not.toHaveBeenCalled();
  });

  it('skips a poll while the previous request is still out', async () => {
    jest.useFakeTimers();
    mockedRequest.mockReturnValue(new Promise(() => undefined));
    await render(<VirtualClusters trans={trans} />);
    await act(async () => {
      jest.advanceTimersByTime(3 * REFRESH_INTERVAL_MS);
    });
    expect(mockedRequest).toHaveBeenCalledTimes(1);
  });
});

describe('deviceKind', () => {
  it('names the device kinds of the manual', () => {
    expect(deviceKind('nvidia_gpu_amd64')).toBe('GPU');
    expect(deviceKind('huawei_npu_arm64')).toBe('NPU');
    expect(deviceKind(null)).toBe('CPU');
    expect(deviceKind('tpu_v5')).toBe('');
  });
});

describe('VirtualClustersPanel', () => {
  it('is a sidebar section that polls only while shown', async () => {
    jest.useFakeTimers();
    mockedRequest.mockResolvedValue(myVCs());
    const panel = new VirtualClustersPanel(trans);
    expect(panel.title.label).toBe('Virtual clusters');
    expect(panel.id).toBe('ytung-vcs-panel');

    await act(async () => {
      Widget.attach(panel, document.body);
    });
    expect(mockedRequest).toHaveBeenCalledTimes(1);
    expect(byTestId('ytung-vcs-card', panel.node)).not.toBeNull();

    await act(async () => {
      panel.hide();
    });
    await act(async () => {
      jest.advanceTimersByTime(3 * REFRESH_INTERVAL_MS);
    });
    expect(mockedRequest).toHaveBeenCalledTimes(1);

    await act(async () => {
      panel.show();
      jest.advanceTimersByTime(100); // the posted update-request
    });
    expect(mockedRequest).toHaveBeenCalledTimes(2);

    await act(async () => {
      panel.dispose();
    });
    await act(async () => {
      jest.advanceTimersByTime(3 * REFRESH_INTERVAL_MS);
    });
    expect(mockedRequest).toHaveBeenCalledTimes(2);
  });
});
