/**
 * The Overview section: who the user is on the platform (nickname, roles, virtual clusters).
 */
import { PageConfig } from '@jupyterlab/coreutils';
import type { TranslationBundle } from '@jupyterlab/translation';
import { refreshIcon } from '@jupyterlab/ui-components';
import React, { useCallback, useEffect, useState } from 'react';

import { requestAPI, YtungAPIError } from '../handler';
import { SectionPanel } from './section';
import type { IMe } from '../tokens';

/** A page of the platform service, next to the hub (``<prefix>services/ytung/<path>``). */
export function serviceUrl(path: string): string {
  const hubPrefix = PageConfig.getOption('hubPrefix') || '/hub/';
  const prefix = hubPrefix.replace(/hub\/?$/, '');
  return `${prefix}services/ytung/${path}`;
}

type State =
  | { kind: 'loading' }
  | { kind: 'error'; status: number; message: string }
  | { kind: 'ready'; me: IMe };

export interface IOverviewProps {
  trans: TranslationBundle;
}

/** The view of `GET /ytung/api/me`, with loading and error states and a refresh button. */
export function Overview({ trans }: IOverviewProps): JSX.Element {
  const [state, setState] = useState<State>({ kind: 'loading' });

  const load = useCallback(async () => {
    setState({ kind: 'loading' });
    try {
      const me = await requestAPI<IMe>('me');
      setState({ kind: 'ready', me });
    } catch (error) {
      const status = error instanceof YtungAPIError ? error.status : 0;
      setState({
        kind: 'error',
        status,
        message: String((error as Error)?.message ?? error)
      });
    }
  }, []);

  useEffect(() => {
    void load();
  }, [load]);

  return (
    <div className="ytung-overview" data-testid="ytung-overview">
      {state.kind === 'loading' && (
        <div className="ytung-overview-loading" data-testid="ytung-overview-loading">
          {trans.__('Loading…')}
        </div>
      )}
      {state.kind === 'error' && (
        <div className="ytung-overview-error" role="alert" data-testid="ytung-overview-error">
          <div className="ytung-overview-error-title">
            {trans.__('Could not load your platform profile')}
          </div>
          <div className="ytung-overview-error-message">
            {state.status
              ? trans.__('Error %1: %2', state.status, state.message)
              : state.message}
          </div>
        </div>
      )}
      {state.kind === 'ready' && <Profile me={state.me} trans={trans} />}
      <button
        className="jp-mod-styled jp-mod-accept ytung-overview-refresh"
        data-testid="ytung-overview-refresh"
        title={trans.__('Load your profile again')}
        disabled={state.kind === 'loading'}
        onClick={() => void load()}
      >
        <refreshIcon.react tag="span" className="ytung-button-icon" />
        {trans.__('Refresh')}
      </button>
    </div>
  );
}

function Profile({ me, trans }: { me: IMe; trans: TranslationBundle }): JSX.Element {
  return (
    <div className="ytung-overview-profile">
      <dl className="ytung-overview-fields">
        <dt>{trans.__('User')}</dt>
        <dd className="ytung-overview-username" data-testid="ytung-overview-username">
          {me.name}
        </dd>
        <dt>{trans.__('Nickname')}</dt>
        <dd className="ytung-overview-nickname" data-testid="ytung-overview-nickname">
          {me.nickname || '—'}
        </dd>
      </dl>
      {me.admin && (
        <div className="ytung-overview-admin">{trans.__('You are a platform administrator')}</div>
      )}
      {!me.admin && !!me.vc_admin_of?.length && (
        <div className="ytung-overview-admin">
          {trans.__('You approve the workloads of %1', me.vc_admin_of.join(', '))}
        </div>
      )}
      {(me.admin || !!me.vc_admin_of?.length) && (
        <a
          className="ytung-overview-approvals"
          data-testid="ytung-overview-approvals"
          href={serviceUrl('admin/workloads')}
          target="_blank"
          rel="noopener noreferrer"
        >
          {trans.__('Workloads and approvals')}
        </a>
      )}

      <h3 className="ytung-overview-heading">{trans.__('Roles')}</h3>
      {me.roles.length ? (
        <ul className="ytung-overview-roles" data-testid="ytung-overview-roles">
          {me.roles.map(role => (
            <li key={role.name} title={role.description}>
              {role.label ?? role.name}
            </li>
          ))}
        </ul>
      ) : (
        <div className="ytung-overview-empty">{trans.__('No roles')}</div>
      )}

      <h3 className="ytung-overview-heading">{trans.__('Virtual clusters')}</h3>
      {me.vcs.length ? (
        <ul className="ytung-overview-vcs" data-testid="ytung-overview-vcs">
          {me.vcs.map(vc => (
            <li key={vc.name}>
              <span className="ytung-overview-vc-name">{vc.name}</span>
              {vc.description && (
                <span className="ytung-overview-vc-description"> — {vc.description}</span>
              )}
            </li>
          ))}
        </ul>
      ) : (
        <div className="ytung-overview-empty" data-testid="ytung-overview-no-vcs">
          {trans.__('You are not a member of any virtual cluster yet')}
        </div>
      )}
    </div>
  );
}

/** The Overview as a Lumino widget, one section of the Ytung sidebar. */
export class OverviewPanel extends SectionPanel {
  constructor(trans: TranslationBundle) {
    super('ytung-overview-panel', trans.__('Overview'), () => <Overview trans={trans} />);
  }
}
