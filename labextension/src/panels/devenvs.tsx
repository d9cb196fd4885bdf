/**
 * The Dev environments section (SPEC D1–D9, I1, U1): create an environment with every D1
 * field, the list with every D2 column and its actions (open the Lab of that environment,
 * upload code by drag and drop into its code dir, the SSH line and password, open a port
 * 40000–49999, stop, pause, start again, save image, delete), the saved images and the
 * Privilege Job setting.
 *
 * Everything goes through `requestAPI` (`/ytung/api/devenvs…`, `/ytung/api/images…`,
 * `/ytung/api/settings/privilege`); uploads use the Jupyter contents API of this server
 * (the home is shared by all of the user's environments), injectable for tests.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import type { TranslationBundle } from '@jupyterlab/translation';
import React, { useCallback, useEffect, useRef, useState } from 'react';

import { requestAPI, YtungAPIError } from '../handler';
import { PollingSectionPanel } from './section';
import { EstimatedStart } from './vcs';

export const REFRESH_INTERVAL_MS = 10_000;
export const PORT_RANGE: [number, number] = [40000, 49999];

export interface IDevEnv {
  id: number;
  name: string;
  owner: string;
  description: string;
  code_dir: string;
  engine_source: string;
  engine: string;
  image: string;
  engine_type: string;
  job_type: string;
  device_type: string | null;
  nodes: number;
  devices_per_node: number;
  total_devices: number;
  privileged: boolean;
  created: string;
  status: string;
  status_text: string;
  paused: boolean;
  reason: { code: string; text: string } | null;
  /** while queued (X1): position, reason and the estimated start */
  queue?: {
    position: number | null;
    estimated_start?: string | null;
    estimate_reason?: string | null;
  } | null;
  time_left: number | null;
  lab_url: string | null;
  proxy_url: string | null;
  ssh: { command: string; password: string; port: number; host: string } | null;
  stoppable: boolean;
  startable: boolean;
  /** stopped, or still unapproved (deleting withdraws it) */
  deletable: boolean;
}

export interface IEngine {
  name: string;
  image: string;
  engine_type?: string;
  description?: string;
}

export interface ISavedImage {
  id: number;
  name: string;
  version: string;
  description: string;
  from_devenv: string;
  packages: string[];
  created: string;
}

export interface IDevEnvOptions {
  engines: IEngine[];
  saved_images: ISavedImage[];
  engine_types: string[];
  job_types: string[];
  device_types: string[];
  vcs: string[];
  current_vc: string | null;
  privilege_enabled: boolean;
  code_dir: string;
  port_range: [number, number];
}

/** Writes one file into the server's file system (path relative to the server root). */
export type Uploader = (path: string, file: File) => Promise<void>;

/** The Jupyter contents API of this server: a base64 `PUT /api/contents/<path>`. */
export const contentsUploader: Uploader = async (path, file) => {
  const buffer = new Uint8Array(await file.arrayBuffer());
  let binary = '';
  for (let i = 0; i < buffer.length; i += 0x8000) {
    binary += String.fromCharCode(...buffer.subarray(i, i + 0x8000));
  }
  const settings = ServerConnection.makeSettings();
  const url = URLExt.join(settings.baseUrl, 'api/contents', URLExt.encodeParts(path));
  const response = await ServerConnection.makeRequest(
    url,
    {
      method: 'PUT',
      body: JSON.stringify({ type: 'file', format: 'base64', content: btoa(binary) })
    },
    settings
  );
  if (!response.ok) {
    throw new YtungAPIError(response.status, response.statusText);
  }
};

/** The code dir (`/home/<user>/x/y`) relative to the home, which is this server's root. */
export function homeRelative(codeDir: string): string {
  const parts = codeDir.split('/').filter(Boolean);
  return parts.slice(2).join('/');
}

/** D6: the port a user typed, or an error text. */
export function checkPort(value: string, trans: TranslationBundle): number | string {
  const port = Number(value);
  if (!/^\d+$/.test(value.trim()) || port < PORT_RANGE[0] || port > PORT_RANGE[1]) {
    return trans.__('Ports %1-%2 only', PORT_RANGE[0], PORT_RANGE[1]);
  }
  return port;
}

function timeLeft(seconds: number | null): string {
  if (seconds === null) {
    return '--';
  }
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  return `${h}:${String(m).padStart(2, '0')}`;
}

function message(error: unknown): string {
  if (error instanceof YtungAPIError && error.status) {
    return `${error.status}: ${error.message}`;
  }
  return String((error as Error)?.message ?? error);
}

export interface IDevEnvsProps {
  trans: TranslationBundle;
  active?: boolean;
  refreshInterval?: number;
  upload?: Uploader;
  openUrl?: (url: string) => void;
}

/** A labelled `<select>` of plain choices, led by an empty choice with its own label. */
function ChoiceSelect({
  label,
  name,
  value,
  onChange,
  emptyLabel,
  choices
}: {
  label: string;
  name: string;
  value: string;
  onChange: (event: React.ChangeEvent<HTMLSelectElement>) => void;
  emptyLabel: string;
  choices: string[];
}): JSX.Element {
  return (
    <label>
      {label}
      <select name={name} value={value} onChange={onChange}>
        <option value="">{emptyLabel}</option>
        {choices.map(t => (
          <option key={t} value={t}>
            {t}
          </option>
        ))}
      </select>
    </label>
  );
}

const EMPTY_FORM = {
  name: '',
  description: '',
  code_dir: '',
  engine_source: 'preset',
  engine: '',
  engine_type: '',
  job_type: 'regular',
  nodes: '1',
  devices_per_node: '0',
  device_type: '',
  privileged: false,
  vc: ''
};

export function DevEnvs({
  trans,
  active = true,
  refreshInterval = REFRESH_INTERVAL_MS,
  upload = contentsUploader,
  openUrl = url => window.open(url, '_blank', 'noopener')
}: IDevEnvsProps): JSX.Element {
  const [envs, setEnvs] = useState<IDevEnv[] | null>(null);
  const [options, setOptions] = useState<IDevEnvOptions | null>(null);
  const [images, setImages] = useState<ISavedImage[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [creating, setCreating] = useState(false);
  const [form, setForm] = useState({ ...EMPTY_FORM });
  const mounted = useRef(true);
  useEffect(
    () => () => {
      mounted.current = false;
    },
    []
  );

  const load = useCallback(async () => {
    try {
      const [list, opts, imgs] = await Promise.all([
        requestAPI<IDevEnv[]>('devenvs'),
        requestAPI<IDevEnvOptions>('devenvs/options'),
        requestAPI<ISavedImage[]>('images')
      ]);
      if (mounted.current) {
        setEnvs(list);
        setOptions(opts);
        setImages(imgs);
        setLoadError(null);
      }
    } catch (e) {
      if (mounted.current) {
        setLoadError(message(e));
      }
    }
  }, []);

  useEffect(() => {
    if (!active) {
      return;
    }
    void load();
    const timer = setInterval(() => void load(), refreshInterval);
    return () => clearInterval(timer);
  }, [active, refreshInterval, load]);

  /** Run an action, show its error or a notice, and reload. */
  const run = useCallback(
    async (action: () => Promise<unknown>, done?: string) => {
      setError(null);
      setNotice(null);
      try {
        await action();
        if (done && mounted.current) {
          setNotice(done);
        }
      } catch (e) {
        if (mounted.current) {
          setError(message(e));
        }
      }
      await load();
    },
    [load]
  );

  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    const distributed = form.job_type === 'distributed';
    const body = {
      ...form,
      code_dir: form.code_dir || options?.code_dir || '',
      engine: form.engine || (form.engine_source === 'preset' ? options?.engines[0]?.name : ''),
      nodes: distributed ? Number(form.nodes) : 1,
      devices_per_node: Number(form.devices_per_node),
      device_type: form.device_type || null,
      vc: form.vc || null
    };
    await run(async () => {
      await requestAPI('devenvs', { method: 'POST', body: JSON.stringify(body) });
      if (mounted.current) {
        setForm({ ...EMPTY_FORM });
        setCreating(false);
      }
    }, trans.__('Created %1', form.name));
  };

  const set = (key: keyof typeof EMPTY_FORM) => (event: React.ChangeEvent<any>) => {
    const value = event.target.type === 'checkbox' ? event.target.checked : event.target.value;
    setForm(old => ({ ...old, [key]: value }));
  };
  const total =
    (form.job_type === 'distributed' ? Number(form.nodes) || 0 : 1) *
    (Number(form.devices_per_node) || 0);

  return (
    <div className="ytung-devenvs" data-testid="ytung-devenvs">
      {(error || loadError) && (
        <div className="ytung-error" role="alert" data-testid="ytung-devenvs-error">
          <div className="ytung-error-message">{error ?? loadError}</div>
        </div>
      )}
      {notice && (
        <div className="ytung-notice" role="status" data-testid="ytung-devenvs-notice">
          {notice}
        </div>
      )}
      {envs === null && !loadError && <div className="ytung-empty">{trans.__('Loading…')}</div>}
      {envs !== null && envs.length === 0 && (
        <div className="ytung-empty" data-testid="ytung-devenvs-empty">
          {trans.__('No dev environments yet')}
        </div>
      )}
      {envs?.map(env => (
        <DevEnvCard
          key={env.id}
          env={env}
          trans={trans}
          run={run}
          upload={upload}
          openUrl={openUrl}
        />
      ))}
      <button
        className="jp-mod-styled jp-mod-accept"
        data-testid="ytung-devenvs-new"
        onClick={() => setCreating(!creating)}
      >
        {creating ? trans.__('Cancel') : trans.__('New dev environment')}
      </button>
      {creating && options && (
        <form className="ytung-devenv-form" data-testid="ytung-devenv-form" onSubmit={submit}>
          <label>
            {trans.__('Name')} *
            <input name="name" required value={form.name} onChange={set('name')} />
          </label>
          <label>
            {trans.__('Description')}
            <input name="description" value={form.description} onChange={set('description')} />
          </label>
          <label>
            {trans.__('Code dir')}
            <input
              name="code_dir"
              placeholder={options.code_dir}
              value={form.code_dir}
              onChange={set('code_dir')}
            />
          </label>
          <label>
            {trans.__('Engine source')}
            <select name="engine_source" value={form.engine_source} onChange={set('engine_source')}>
              <option value="preset">{trans.__('Preset engine')}</option>
              <option value="saved">{trans.__('Saved engine')}</option>
              <option value="custom">{trans.__('Custom image')}</option>
            </select>
          </label>
          <label>
            {trans.__('Engine')}
            {form.engine_source === 'custom' ? (
              <input
                name="engine"
                placeholder="registry.example.com/team/pytorch:2.13"
                value={form.engine}
                onChange={set('engine')}
              />
            ) : (
              <select name="engine" value={form.engine} onChange={set('engine')}>
                <option value="">—</option>
                {form.engine_source === 'preset'
                  ? options.engines.map(e => (
                      <option key={e.name} value={e.name}>
                        {e.name}
                      </option>
                    ))
                  : options.saved_images.map(i => (
                      <option key={i.id} value={String(i.id)}>
                        {i.name}:{i.version}
                      </option>
                    ))}
              </select>
            )}
          </label>
          <ChoiceSelect
            label={trans.__('Engine type')}
            name="engine_type"
            value={form.engine_type}
            onChange={set('engine_type')}
            emptyLabel={trans.__('As the engine says')}
            choices={options.engine_types}
          />
          <label>
            {trans.__('Job type')}
            <select name="job_type" value={form.job_type} onChange={set('job_type')}>
              <option value="regular">{trans.__('Regular job')}</option>
              <option value="distributed">{trans.__('Distributed job')}</option>
            </select>
          </label>
          {form.job_type === 'distributed' && (
            <label>
              {trans.__('Nodes')}
              <input name="nodes" type="number" min="1" value={form.nodes} onChange={set('nodes')} />
            </label>
          )}
          <ChoiceSelect
            label={trans.__('Device type')}
            name="device_type"
            value={form.device_type}
            onChange={set('device_type')}
            emptyLabel={trans.__('CPU only')}
            choices={options.device_types}
          />
          <label>
            {trans.__('Devices per node')}
            <input
              name="devices_per_node"
              type="number"
              min="0"
              max="8"
              value={form.devices_per_node}
              onChange={set('devices_per_node')}
            />
          </label>
          <label>
            {trans.__('Total devices')}
            <input name="total" readOnly value={String(total)} data-testid="ytung-devenv-total" />
          </label>
          {options.vcs.length > 1 && (
            <label>
              {trans.__('Virtual cluster')}
              <select name="vc" value={form.vc} onChange={set('vc')}>
                <option value="">{options.current_vc ?? ''}</option>
                {options.vcs.map(v => (
                  <option key={v} value={v}>
                    {v}
                  </option>
                ))}
              </select>
            </label>
          )}
          {options.privilege_enabled && (
            <label className="ytung-check">
              <input
                name="privileged"
                type="checkbox"
                checked={form.privileged}
                onChange={set('privileged')}
              />
              {trans.__('Privilege Job (root inside the environment)')}
            </label>
          )}
          <button className="jp-mod-styled jp-mod-accept" type="submit">
            {trans.__('Create')}
          </button>
        </form>
      )}
      <h3 className="ytung-heading">{trans.__('Saved images')}</h3>
      {images.length === 0 && <div className="ytung-empty">{trans.__('No saved images')}</div>}
      <ul className="ytung-images" data-testid="ytung-images">
        {images.map(i => (
          <li key={i.id} data-image={i.id}>
            <span title={i.packages.join('\n')}>
              {i.name}:{i.version}
            </span>{' '}
            <span className="ytung-muted">
              {trans.__('from %1, %2 packages', i.from_devenv, i.packages.length)}
            </span>{' '}
            <button
              className="jp-mod-styled"
              onClick={() =>
                void run(
                  () => requestAPI(`images/${i.id}`, { method: 'DELETE' }),
                  trans.__('Deleted image %1', i.name)
                )
              }
            >
              {trans.__('Delete')}
            </button>
          </li>
        ))}
      </ul>
      {options && (
        <label className="ytung-check" data-testid="ytung-privilege-setting">
          <input
            type="checkbox"
            checked={options.privilege_enabled}
            onChange={event =>
              void run(() =>
                requestAPI('settings/privilege', {
                  method: 'PUT',
                  body: JSON.stringify({ privilege_enabled: event.target.checked })
                })
              )
            }
          />
          {trans.__('Privilege Job: allow me to create environments with root inside')}
        </label>
      )}
    </div>
  );
}

function DevEnvCard({
  env,
  trans,
  run,
  upload,
  openUrl
}: {
  env: IDevEnv;
  trans: TranslationBundle;
  run: (action: () => Promise<unknown>, done?: string) => Promise<void>;
  upload: Uploader;
  openUrl: (url: string) => void;
}): JSX.Element {
  const [port, setPort] = useState('');
  const [portError, setPortError] = useState<string | null>(null);
  const [image, setImage] = useState<{ name: string; version: string; description: string }>({
    name: '',
    version: '',
    description: ''
  });
  const [dragging, setDragging] = useState(false);
  const action = (verb: string, done: string) =>
    void run(() => requestAPI(`devenvs/${env.id}/${verb}`, { method: 'POST' }), done);

  const drop = (files: FileList | File[]) => {
    const list = Array.from(files);
    const dir = homeRelative(env.code_dir);
    void run(
      async () => {
        for (const file of list) {
          await upload(dir ? `${dir}/${file.name}` : file.name, file);
        }
      },
      trans.__('Uploaded %1 files to %2', list.length, env.code_dir)
    );
  };

  return (
    <section
      className="ytung-devenv-card"
      data-testid="ytung-devenv"
      data-devenv={env.id}
      data-status={env.status}
    >
      <header>
        <strong>{env.name}</strong>{' '}
        <span className={`ytung-badge ytung-status-${env.status}`} data-testid="ytung-devenv-status">
          {env.status_text}
          {env.paused ? ` (${trans.__('paused')})` : ''}
        </span>
      </header>
      <dl className="ytung-devenv-fields">
        <dt>{trans.__('Engine')}</dt>
        <dd>
          {env.engine_type} <code>{env.image}</code>
        </dd>
        <dt>{trans.__('Created')}</dt>
        <dd>{env.created.slice(0, 16).replace('T', ' ')}</dd>
        <dt>{trans.__('Remaining run time')}</dt>
        <dd data-testid="ytung-devenv-time-left">{timeLeft(env.time_left)}</dd>
        <dt>{trans.__('Code dir')}</dt>
        <dd>{env.code_dir}</dd>
        <dt>{trans.__('Description')}</dt>
        <dd>{env.description}</dd>
        <dt>{trans.__('Privileged')}</dt>
        <dd>{env.privileged ? trans.__('Yes') : trans.__('No')}</dd>
      </dl>
      {env.reason && <div className="ytung-muted">{env.reason.text}</div>}
      {env.queue?.estimate_reason && (
        <div className="ytung-muted">
          {trans.__('Estimated start')}:{' '}
          <EstimatedStart start={env.queue.estimated_start} how={env.queue.estimate_reason} />
        </div>
      )}
      {env.ssh && (
        <div className="ytung-devenv-ssh" data-testid="ytung-devenv-ssh">
          <code>{env.ssh.command}</code>
          <div>
            {trans.__('Password')}: <code>{env.ssh.password}</code>
          </div>
        </div>
      )}
      <div className="ytung-devenv-actions">
        {env.lab_url && (
          <button className="jp-mod-styled jp-mod-accept" onClick={() => openUrl(env.lab_url!)}>
            {trans.__('Open')}
          </button>
        )}
        {env.stoppable && (
          <>
            <button className="jp-mod-styled" onClick={() => action('stop', trans.__('Stopping %1', env.name))}>
              {trans.__('Stop')}
            </button>
            <button className="jp-mod-styled" onClick={() => action('pause', trans.__('Stopping %1', env.name))}>
              {trans.__('Pause')}
            </button>
          </>
        )}
        {env.startable && (
          <>
            <button className="jp-mod-styled" onClick={() => action('start', trans.__('Starting %1', env.name))}>
              {env.paused ? trans.__('Resume') : trans.__('Start')}
            </button>
          </>
        )}
        {env.deletable && (
          <button
            className="jp-mod-styled jp-mod-warn"
            onClick={() =>
              void run(
                () => requestAPI(`devenvs/${env.id}`, { method: 'DELETE' }),
                trans.__('Deleted %1; its files stay in %2', env.name, env.code_dir)
              )
            }
          >
            {trans.__('Delete')}
          </button>
        )}
      </div>
      <div
        className={`ytung-dropzone${dragging ? ' ytung-mod-dragging' : ''}`}
        data-testid="ytung-devenv-upload"
        onDragOver={e => {
          e.preventDefault();
          setDragging(true);
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={e => {
          e.preventDefault();
          setDragging(false);
          drop(e.dataTransfer.files);
        }}
      >
        {trans.__('Upload code: drop files here (into %1)', env.code_dir)}
        <input
          type="file"
          multiple
          aria-label={trans.__('Upload code')}
          onChange={e => e.target.files && drop(e.target.files)}
        />
      </div>
      {env.proxy_url && (
        <form
          className="ytung-devenv-port"
          onSubmit={e => {
            e.preventDefault();
            const checked = checkPort(port, trans);
            if (typeof checked === 'string') {
              setPortError(checked);
              return;
            }
            setPortError(null);
            openUrl(`${env.proxy_url}${checked}/`);
          }}
        >
          <input
            name="port"
            placeholder={String(PORT_RANGE[0])}
            value={port}
            onChange={e => setPort(e.target.value)}
            aria-label={trans.__('Port')}
          />
          <button className="jp-mod-styled" type="submit">
            {trans.__('Open port')}
          </button>
          {portError && (
            <span className="ytung-error-message" role="alert" data-testid="ytung-port-error">
              {portError}
            </span>
          )}
        </form>
      )}
      {env.status === 'running' && (
        <form
          className="ytung-devenv-image"
          onSubmit={e => {
            e.preventDefault();
            void run(
              () =>
                requestAPI(`devenvs/${env.id}/images`, {
                  method: 'POST',
                  body: JSON.stringify(image)
                }),
              trans.__('Saved image %1:%2', image.name, image.version || '1')
            );
          }}
        >
          <input
            name="image_name"
            required
            placeholder={trans.__('Image name')}
            value={image.name}
            onChange={e => setImage({ ...image, name: e.target.value })}
          />
          <input
            name="image_version"
            placeholder="1"
            value={image.version}
            onChange={e => setImage({ ...image, version: e.target.value })}
          />
          <input
            name="image_description"
            placeholder={trans.__('Description')}
            value={image.description}
            onChange={e => setImage({ ...image, description: e.target.value })}
          />
          <button className="jp-mod-styled" type="submit">
            {trans.__('Save image')}
          </button>
        </form>
      )}
    </section>
  );
}

/** The section of the Ytung sidebar; polls only while visible. */
export class DevEnvsPanel extends PollingSectionPanel {
  constructor(trans: TranslationBundle) {
    super('ytung-devenvs-panel', trans.__('Dev environments'), active => (
      <DevEnvs trans={trans} active={active} />
    ));
  }
}
