/**
 * The Virtual clusters section (SPEC V3, V5, X1): the user's VCs with their device quotas and
 * use, switching the current VC, and the user's queued workloads with position and reason.
 *
 * It reloads `GET /ytung/api/vcs` every 10 s while it is visible (section expanded, sidebar
 * open, browser tab shown) and stops when hidden or disposed.
 */
import type { TranslationBundle } from '@jupyterlab/translation';
import { refreshIcon } from '@jupyterlab/ui-components';
import React, { useCallback, useEffect, useRef, useState } from 'react';

import { getLanguage, requestAPI, YtungAPIError } from '../handler';
import { PollingSectionPanel } from './section';
import type {
  IMyVirtualCluster,
  IMyVirtualClusters,
  IQueuedWorkload,
  ISettings,
  IVCDevices
} from '../tokens';

/** How often a visible panel reloads (ms). */
export const REFRESH_INTERVAL_MS = 10_000;

/** What the manual shows for "no limit". */
const UNLIMITED = '--';

interface IError {
  status: number;
  message: string;
}

function asError(error: unknown): IError {
  return {
    status: error instanceof YtungAPIError ? error.status : 0,
    message: String((error as Error)?.message ?? error)
  };
}

export interface IVirtualClustersProps {
  trans: TranslationBundle;
  /** Whether the panel is visible; it polls only then (default: true). */
  active?: boolean;
  /** The polling period in ms (default: REFRESH_INTERVAL_MS). */
  refreshInterval?: number;
}

/** Whether the browser tab is shown (`document.hidden` false). */
function usePageVisible(): boolean {
  const [visible, setVisible] = useState(() => !document.hidden);
  useEffect(() => {
    const onChange = () => setVisible(!document.hidden);
    document.addEventListener('visibilitychange', onChange);
    return () => document.removeEventListener('visibilitychange', onChange);
  }, []);
  return visible;
}

/** The view of `GET /ytung/api/vcs`, with loading and error states and a refresh button. */
export function VirtualClusters({
  trans,
  active = true,
  refreshInterval = REFRESH_INTERVAL_MS
}: IVirtualClustersProps): JSX.Element {
  const [data, setData] = useState<IMyVirtualClusters | null>(null);
  const [error, setError] = useState<IError | null>(null);
  const [loading, setLoading] = useState(false);
  const [switching, setSwitching] = useState<string | null>(null);
  const [switchError, setSwitchError] = useState<(IError & { vc: string }) | null>(null);
  const pageVisible = usePageVisible();

  // the latest request wins; a poll does not start while another request is in flight
  const latest = useRef(0);
  const inFlight = useRef(0);
  const mounted = useRef(true);
  useEffect(() => {
    mounted.current = true;
    return () => {
      mounted.current = false;
    };
  }, []);

  const load = useCallback(async (poll = false) => {
    if (poll && inFlight.current > 0) {
      return;
    }
    const request = ++latest.current;
    inFlight.current++;
    setLoading(true);
    try {
      const answer = await requestAPI<IMyVirtualClusters>('vcs');
      if (mounted.current && request === latest.current) {
        setData(answer);
        setError(null);
      }
    } catch (e) {
      if (mounted.current && request === latest.current) {
        setError(asError(e));
      }
    } finally {
      inFlight.current--;
      if (mounted.current && request === latest.current) {
        setLoading(false);
      }
    }
  }, []);

  const polling = active && pageVisible;
  useEffect(() => {
    if (!polling) {
      return;
    }
    void load();
    const timer = setInterval(() => void load(true), refreshInterval);
    return () => clearInterval(timer);
  }, [polling, refreshInterval, load]);

  const switchTo = useCallback(
    async (vc: string) => {
      setSwitching(vc);
      setSwitchError(null);
      try {
        const settings = await requestAPI<ISettings>('settings', {
          method: 'PUT',
          body: JSON.stringify({ current_vc: vc })
        });
        if (mounted.current) {
          setData(old => old && { ...old, current_vc: settings?.current_vc ?? vc });
        }
      } catch (e) {
        if (mounted.current) {
          setSwitchError({ vc, ...asError(e) });
        }
      } finally {
        if (mounted.current) {
          setSwitching(null);
        }
      }
      await load();
    },
    [load]
  );

  return (
    <div className="ytung-vcs" data-testid="ytung-vcs">
      {data === null && error === null && (
        <div className="ytung-vcs-loading" data-testid="ytung-vcs-loading">
          {trans.__('Loading…')}
        </div>
      )}
      {error && (
        <div className="ytung-error" role="alert" data-testid="ytung-vcs-error">
          <div className="ytung-error-title">
            {trans.__('Could not load your virtual clusters')}
          </div>
          <ErrorMessage error={error} trans={trans} />
        </div>
      )}
      {switchError && (
        <div className="ytung-error" role="alert" data-testid="ytung-vcs-switch-error">
          <div className="ytung-error-title">
            {trans.__('Could not switch to virtual cluster %1', switchError.vc)}
          </div>
          <ErrorMessage error={switchError} trans={trans} />
        </div>
      )}
      {data && (
        <>
          {data.vcs.length ? (
            <div className="ytung-vcs-list">
              {data.vcs.map(vc => (
                <VCCard
                  key={vc.name}
                  vc={vc}
                  current={vc.name === data.current_vc}
                  switching={switching}
                  onUse={name => void switchTo(name)}
                  trans={trans}
                />
              ))}
            </div>
          ) : (
            <div className="ytung-empty" data-testid="ytung-vcs-empty">
              {trans.__('You are not a member of any virtual cluster yet')}
            </div>
          )}
          <h3 className="ytung-heading">{trans.__('My queued workloads')}</h3>
          {data.queued.length ? (
            <ol className="ytung-queue" data-testid="ytung-queue">
              {[...data.queued]
                .sort((a, b) => (a.position ?? Infinity) - (b.position ?? Infinity))
                .map(item => (
                  <QueueItem key={item.id} item={item} trans={trans} />
                ))}
            </ol>
          ) : (
            <div className="ytung-empty" data-testid="ytung-queue-empty">
              {trans.__('You have no queued workloads')}
            </div>
          )}
        </>
      )}
      <button
        className="jp-mod-styled jp-mod-accept ytung-refresh"
        data-testid="ytung-vcs-refresh"
        title={trans.__('Load the virtual clusters and the queue again')}
        disabled={loading}
        onClick={() => void load()}
      >
        <refreshIcon.react tag="span" className="ytung-button-icon" />
        {trans.__('Refresh')}
      </button>
    </div>
  );
}

function ErrorMessage({
  error,
  trans
}: {
  error: IError;
  trans: TranslationBundle;
}): JSX.Element {
  return (
    <div className="ytung-error-message">
      {error.status ? trans.__('Error %1: %2', error.status, error.message) : error.message}
    </div>
  );
}

/** The short kind of a device type ("GPU", "NPU"), shown next to the manual's name. */
export function deviceKind(deviceType: string | null): string {
  if (!deviceType) {
    return 'CPU';
  }
  if (/_gpu(_|$)/.test(deviceType)) {
    return 'GPU';
  }
  if (/_npu(_|$)/.test(deviceType)) {
    return 'NPU';
  }
  return '';
}

function DeviceType({ type }: { type: string }): JSX.Element {
  const kind = deviceKind(type);
  return (
    <span className="ytung-device-type">
      <code>{type}</code>
      {kind && <span className="ytung-device-kind"> {kind}</span>}
    </span>
  );
}

function VCCard({
  vc,
  current,
  switching,
  onUse,
  trans
}: {
  vc: IMyVirtualCluster;
  current: boolean;
  switching: string | null;
  onUse: (name: string) => void;
  trans: TranslationBundle;
}): JSX.Element {
  return (
    <section
      className={`ytung-vcs-card${current ? ' ytung-mod-current' : ''}`}
      data-testid="ytung-vcs-card"
      data-vc={vc.name}
      data-current={current ? 'true' : 'false'}
    >
      <header className="ytung-vcs-card-header">
        <span className="ytung-vcs-name" data-testid="ytung-vcs-name">
          {vc.name}
        </span>
        {current ? (
          <span
            className="ytung-badge"
            data-testid="ytung-vcs-current"
            title={trans.__('New workloads run in this virtual cluster')}
          >
            {trans.__('Current')}
          </span>
        ) : (
          <button
            className="jp-mod-styled ytung-vcs-use"
            data-testid="ytung-vcs-use"
            title={trans.__('Run new workloads in virtual cluster %1', vc.name)}
            disabled={switching !== null}
            onClick={() => onUse(vc.name)}
          >
            {switching === vc.name ? trans.__('Switching…') : trans.__('Use this VC')}
          </button>
        )}
      </header>
      {vc.description && <div className="ytung-vcs-description">{vc.description}</div>}
      <dl className="ytung-fields">
        <dt>{trans.__('Max usage duration')}</dt>
        <dd data-testid="ytung-vcs-max-hours">
          {vc.max_hours === null || vc.max_hours === undefined
            ? UNLIMITED
            : trans.__('%1 h', vc.max_hours)}
        </dd>
      </dl>
      {vc.devices.length ? (
        vc.devices.map(devices => (
          <DeviceTable key={devices.device_type} devices={devices} trans={trans} />
        ))
      ) : (
        <div className="ytung-empty" data-testid="ytung-vcs-no-devices">
          {trans.__('No devices are assigned to this virtual cluster')}
        </div>
      )}
    </section>
  );
}

function DeviceTable({
  devices,
  trans
}: {
  devices: IVCDevices;
  trans: TranslationBundle;
}): JSX.Element {
  const full = devices.quota > 0 && devices.used >= devices.quota;
  const rows: [string, string, number | string][] = [
    ['quota', trans.__('Quota'), devices.quota],
    ['user_max', trans.__('Per-user max'), devices.user_max ?? UNLIMITED],
    ['used', trans.__('Used'), devices.used],
    ['my_used', trans.__('Mine'), devices.my_used],
    ['queued', trans.__('Queued'), devices.queued]
  ];
  return (
    <table
      className={`ytung-vcs-devices${full ? ' ytung-mod-full' : ''}`}
      data-testid="ytung-vcs-devices"
      data-device-type={devices.device_type}
    >
      <caption>
        <DeviceType type={devices.device_type} />
      </caption>
      <tbody>
        {rows.map(([field, label, value]) => (
          <tr key={field}>
            <th scope="row">{label}</th>
            <td data-field={field}>{value}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function kindLabel(kind: string, trans: TranslationBundle): string {
  switch (kind) {
    case 'devenv':
      return trans.__('Dev environment');
    case 'training':
      return trans.__('Training job');
    case 'evaluation':
      return trans.__('Evaluation job');
    case 'inference':
      return trans.__('Inference service');
    case 'conversion':
      return trans.__('Model conversion');
    default:
      return kind;
  }
}

function formatTime(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) {
    return iso;
  }
  return date.toLocaleString(getLanguage() === 'zh_CN' ? 'zh-CN' : 'en');
}

/**
 * X1: when a queued workload starts at the latest — the time in the reader's zone with how it
 * was found — or why that is unknown; nothing before the service has estimated it.
 */
export function EstimatedStart({
  start,
  how
}: {
  start?: string | null;
  how?: string | null;
}): JSX.Element | null {
  if (!how) {
    return null;
  }
  return (
    <span className="ytung-queue-estimate" data-testid="ytung-queue-estimate">
      {start ? (
        <>
          <time dateTime={start} title={start}>
            {formatTime(start)}
          </time>{' '}
          <span className="ytung-muted">({how})</span>
        </>
      ) : (
        how
      )}
    </span>
  );
}

function QueueItem({
  item,
  trans
}: {
  item: IQueuedWorkload;
  trans: TranslationBundle;
}): JSX.Element {
  const cpuOnly = !item.device_type || item.devices_per_node <= 0;
  return (
    <li className="ytung-queue-item" data-testid="ytung-queue-item" data-workload={item.id}>
      <div className="ytung-queue-item-header">
        <span
          className="ytung-badge ytung-queue-position"
          data-testid="ytung-queue-position"
          title={trans.__('Position in the queue of virtual cluster %1', item.vc)}
        >
          {item.position === null || item.position === undefined
            ? UNLIMITED
            : trans.__('#%1', item.position)}
        </span>
        <span className="ytung-queue-name" data-testid="ytung-queue-name">
          {item.name}
        </span>
        <span className="ytung-queue-kind">{kindLabel(item.kind, trans)}</span>
      </div>
      <div className="ytung-queue-reason" data-testid="ytung-queue-reason">
        {item.reason}
      </div>
      <dl className="ytung-fields">
        <dt>{trans.__('Virtual cluster')}</dt>
        <dd>{item.vc}</dd>
        <dt>{trans.__('Devices')}</dt>
        <dd data-testid="ytung-queue-devices">
          {cpuOnly ? (
            'CPU'
          ) : (
            <span title={trans.__('Nodes × devices per node')}>
              {item.nodes} × {item.devices_per_node} <DeviceType type={item.device_type!} />
            </span>
          )}
        </dd>
        <dt>{trans.__('Workloads ahead')}</dt>
        <dd data-testid="ytung-queue-ahead">{item.ahead}</dd>
        {item.estimate_reason && (
          <>
            <dt>{trans.__('Estimated start')}</dt>
            <dd>
              <EstimatedStart start={item.estimated_start} how={item.estimate_reason} />
            </dd>
          </>
        )}
        <dt>{trans.__('Submitted')}</dt>
        <dd data-testid="ytung-queue-submitted">
          <time dateTime={item.submitted} title={item.submitted}>
            {formatTime(item.submitted)}
          </time>
        </dd>
      </dl>
    </li>
  );
}

/**
 * The Virtual clusters section as a Lumino widget; it tells the view whether it is visible, so
 * that polling runs only while somebody can see it.
 */
export class VirtualClustersPanel extends PollingSectionPanel {
  constructor(trans: TranslationBundle) {
    super('ytung-vcs-panel', trans.__('Virtual clusters'), active => (
      <VirtualClusters trans={trans} active={active} />
    ));
  }
}
