/**
 * The Overview section renders what `requestAPI('me')` answers; `requestAPI` is the only mock.
 */
import React, { act } from 'react';

import { YtungAPIError } from '../handler';
import { Overview } from '../panels/overview';
import type { IMe } from '../tokens';
import { byTestId, mockedRequest, render, trans, useReactRoot } from './testutils';

jest.mock('../handler', () => ({ ...jest.requireActual('../handler'), requestAPI: jest.fn() }));

const alice: IMe = {
  name: 'alice',
  nickname: 'Alice',
  admin: false,
  roles: [{ name: 'User', description: 'Uses the platform' }],
  permissions: ['workloads'],
  vcs: [{ name: 'vc-a', description: 'Team A GPUs' }]
};

function renderOverview(): Promise<void> {
  return render(<Overview trans={trans} />);
}

useReactRoot();

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

  it('links a VC admin to the workloads they approve', async () => {
    mockedRequest.mockResolvedValue({ ...alice, vc_admin_of: ['vc-a'] });
    await renderOverview();
    const link = byTestId('ytung-overview-approvals') as HTMLAnchorElement;
    expect(link.getAttribute('href')).toBe('/services/ytung/admin/workloads');
    expect(document.body.textContent).toContain('You approve the workloads of vc-a');
  });

  it('links a platform admin too, and nobody else', async () => {
    mockedRequest.mockResolvedValue({ ...alice, admin: true, vc_admin_of: [] });
    await renderOverview();
    expect(byTestId('ytung-overview-approvals')).not.toBeNull();
  });

  it('has no approvals link for an ordinary user', async () => {
    mockedRequest.mockResolvedValue(alice);
    await renderOverview();
    expect(byTestId('ytung-overview-approvals')).toBeNull();
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
