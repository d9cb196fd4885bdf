/**
 * The Overview section renders what `requestAPI('me')` answers; `requestAPI` is the only mock.
 */
import { nullTranslator } from '@jupyterlab/translation';
import React, { act } from 'react';
import { createRoot, Root } from 'react-dom/client';

import { requestAPI, YtungAPIError } from '../handler';
import { Overview } from '../panels/overview';
import type { IMe } from '../tokens';

jest.mock('../handler', () => {
  const actual = jest.requireActual('../handler');
  return { ...actual, requestAPI: jest.fn() };
});

const mockedRequest = requestAPI as jest.MockedFunction<typeof requestAPI>;
const trans = nullTranslator.load('ytung');

const alice: IMe = {
  name: 'alice',
  nickname: 'Alice',
  admin: false,
  roles: [{ name: 'User', description: 'Uses the platform' }],
  permissions: ['workloads'],
  vcs: [{ name: 'vc-a', description: 'Team A GPUs' }]
};

let container: HTMLDivElement;
let root: Root;

async function renderOverview(): Promise<void> {
  await act(async () => {
    root.render(<Overview trans={trans} />);
  });
}

function byTestId(id: string): HTMLElement | null {
  return container.querySelector(`[data-testid="${id}"]`);
}

beforeAll(() => {
  (globalThis as any).IS_REACT_ACT_ENVIRONMENT = true;
});

beforeEach(() => {
  mockedRequest.mockReset();
  container = document.createElement('div');
  document.body.appendChild(container);
  root = createRoot(container);
});

afterEach(() => {
  act(() => root.unmount());
  container.remove();
});

describe('Overview', () => {
  it('shows the user, roles and virtual clusters', async () => {
    mockedRequest.mockResolvedValue(alice);
    await renderOverview();
    expect(mockedRequest).toHaveBeenCalledWith('me');
    expect(byTestId('ytung-overview-username')?.textContent).toBe('alice');
    expect(byTestId('ytung-overview-nickname')?.textContent).toBe('Alice');
    expect(byTestId('ytung-overview-roles')?.textContent).toContain('User');
    expect(byTestId('ytung-overview-vcs')?.textContent).toContain('vc-a');
    expect(byTestId('ytung-overview-no-vcs')).toBeNull();
  });

  it('says so when the user is in no virtual cluster', async () => {
    mockedRequest.mockResolvedValue({ ...alice, vcs: [] });
    await renderOverview();
    expect(byTestId('ytung-overview-no-vcs')?.textContent).toBe(
      'You are not a member of any virtual cluster yet'
    );
  });

  it('shows errors with their status and loads again on refresh', async () => {
    mockedRequest.mockRejectedValueOnce(new YtungAPIError(503, 'the Ytung service is unreachable'));
    await renderOverview();
    expect(byTestId('ytung-overview-error')?.textContent).toContain(
      'Error 503: the Ytung service is unreachable'
    );
    expect(byTestId('ytung-overview-username')).toBeNull();

    mockedRequest.mockResolvedValueOnce(alice);
    await act(async () => {
      byTestId('ytung-overview-refresh')!.click();
    });
    expect(mockedRequest).toHaveBeenCalledTimes(2);
    expect(byTestId('ytung-overview-error')).toBeNull();
    expect(byTestId('ytung-overview-username')?.textContent).toBe('alice');
  });

  it('shows a loading state until the answer comes', async () => {
    mockedRequest.mockReturnValue(new Promise(() => undefined));
    await renderOverview();
    expect(byTestId('ytung-overview-loading')?.textContent).toBe('Loading…');
    expect((byTestId('ytung-overview-refresh') as HTMLButtonElement).disabled).toBe(true);
  });
});
