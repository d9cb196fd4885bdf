/**
 * The Training section (SPEC T1–T7): the job list (status, name, engine, created; stop, pause,
 * resume), the create form (single-node or distributed, prefilled from a parameter set, a
 * template or a preset model; save as template), parameter sets (edit; create a job from one),
 * preset models (fuzzy search; create a job prefilled) and a job's detail (summary, ports,
 * console log paginated and tagged per rank with a live tail, device error log, metrics).
 *
 * Everything goes through `requestAPI` (`/ytung/api/jobs…`, `/ytung/api/paramsets…`,
 * `/ytung/api/jobtemplates…`, `/ytung/api/presets…`).
 */
import type { TranslationBundle } from '@jupyterlab/translation';
import React, { useCallback, useEffect, useRef, useState } from 'react';

import { requestAPI, YtungAPIError } from '../handler';
import { PollingSectionPanel } from './section';
import { EstimatedStart } from './vcs';

export const REFRESH_INTERVAL_MS = 10_000;
export const TAIL_INTERVAL_MS = 2_000;
export const LOG_PAGE = 100;

export interface IJob {
  id: number;
  name: string;
  description: string;
  engine: string;
  status: string;
  created: string;
  distributed: boolean;
  nodes: number;
  devices_per_node: number;
  device_type: string | null;
  workload: number | null;
  vc: string | null;
  runs: number[];
  paused: boolean;
  exit_code: number | null;
  stderr_tail: string | null;
  reason: { code: string; text: string } | null;
  /** while queued (X1): position and, once estimated, the estimated start */
  queue?: {
    position: number | null;
    estimated_start?: string | null;
    estimate_reason?: string | null;
  } | null;
  spec: Record<string, any>;
  ports: {
    jupyter: string;
    terminal: string;
    tensorboard: string | null;
    tensorboard_available: boolean;
  } | null;
}

export interface ILogLine {
  time: string;
  rank: number;
  stream: string;
  text: string;
}

export interface ILogPage {
  ranks: number[];
  total: number;
  offset: number;
  limit: number;
  lines: ILogLine[];
  device_log: string[];
}

export interface IParamSet {
  id: number | string;
  name: string;
  description: string;
  preset: boolean;
  spec: Record<string, any>;
}

export interface IPreset {
  name: string;
  title: string;
  use: string;
  accuracy: number;
  size_bytes: number;
  created: string;
  engine: string;
}

export interface ITemplate {
  id: number;
  name: string;
  description: string;
  spec: Record<string, any>;
}

/** The create form's state (texts as typed). */
export interface IJobForm {
  name: string;
  description: string;
  engine: string;
  code_dir: string;
  start_file: string;
  output_path: string;
  dataset_id: string;
  dataset_version: string;
  params: string;
  device_type: string;
  devices: string;
  distributed: boolean;
  nodes: string;
  devices_per_node: string;
  master_command: string;
  worker_command: string;
  keep_alive: boolean;
}

export const EMPTY_FORM: IJobForm = {
  name: '',
  description: '',
  engine: 'pytorch',
  code_dir: '',
  start_file: '',
  output_path: '',
  dataset_id: '',
  dataset_version: '',
  params: '',
  device_type: '',
  devices: '0',
  distributed: false,
  nodes: '2',
  devices_per_node: '0',
  master_command: '',
  worker_command: '',
  keep_alive: false
};

/** `key=value` lines (or `--key value`) → an object; blank lines and `#` comments skipped. */
export function parseParams(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) {
      continue;
    }
    const match = /^(?:--)?([^=\s]+)\s*(?:=|\s)\s*(.*)$/.exec(line);
    if (match) {
      out[match[1]] = match[2];
    } else {
      out[line.replace(/^--/, '')] = '';
    }
  }
  return out;
}

export function formatParams(params: Record<string, unknown> | null | undefined): string {
  return Object.entries(params ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join('\n');
}

/** The form → the body of `POST jobs`. */
export function formToBody(form: IJobForm): Record<string, unknown> {
  const body: Record<string, unknown> = {
    name: form.name.trim(),
    description: form.description,
    engine: form.engine,
    code_dir: form.code_dir.trim(),
    start_file: form.start_file.trim(),
    output_path: form.output_path.trim(),
    params: parseParams(form.params),
    device_type: form.device_type || null,
    distributed: form.distributed,
    keep_alive: form.keep_alive
  };
  if (form.dataset_id.trim()) {
    body.dataset = {
      id: Number(form.dataset_id),
      version: form.dataset_version.trim() ? Number(form.dataset_version) : null
    };
  }
  if (form.distributed) {
    body.nodes = Number(form.nodes);
    body.devices_per_node = Number(form.devices_per_node);
    body.master_command = form.master_command;
    body.worker_command = form.worker_command;
  } else {
    body.devices = Number(form.devices);
  }
  return body;
}

/** A job form from a stored spec (a job's, a template's, a parameter set's, a preset's). */
export function specToForm(spec: Record<string, any>, base: IJobForm = EMPTY_FORM): IJobForm {
  const text = (v: unknown, fallback: string) =>
    v === undefined || v === null ? fallback : String(v);
  return {
    ...base,
    name: text(spec.name, base.name),
    description: text(spec.description, base.description),
    engine: text(spec.engine, base.engine) || 'pytorch',
    code_dir: text(spec.code_dir, base.code_dir),
    start_file: text(spec.start_file, base.start_file),
    output_path: text(spec.output_path, base.output_path),
    dataset_id: spec.dataset ? text(spec.dataset.id, '') : base.dataset_id,
    dataset_version: spec.dataset ? text(spec.dataset.version, '') : base.dataset_version,
    params: spec.params ? formatParams(spec.params) : base.params,
    device_type: text(spec.device_type, base.device_type),
    devices: text(spec.devices ?? spec.devices_per_node, base.devices),
    distributed: Boolean(spec.distributed ?? base.distributed),
    nodes: text(spec.nodes, base.nodes),
    devices_per_node: text(spec.devices_per_node, base.devices_per_node),
    master_command: text(spec.master_command, base.master_command),
    worker_command: text(spec.worker_command, base.worker_command),
    keep_alive: Boolean(spec.keep_alive ?? base.keep_alive)
  };
}

export function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024) {
    return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  }
  if (bytes >= 1024) {
    return `${(bytes / 1024).toFixed(1)} KB`;
  }
  return `${bytes} B`;
}

function errorText(e: unknown, trans: TranslationBundle): string {
  if (e instanceof YtungAPIError && e.status) {
    return trans.__('Error %1: %2', e.status, e.message);
  }
  return String((e as Error)?.message ?? e);
}

function statusLabel(status: string, trans: TranslationBundle): string {
  switch (status) {
    case 'unapproved':
      return trans.__('Unapproved');
    case 'queued':
      return trans.__('Queued');
    case 'scheduling':
      return trans.__('Scheduling');
    case 'running':
      return trans.__('Running');
    case 'stopping':
      return trans.__('Stopping');
    case 'completed':
      return trans.__('Completed');
    case 'failed':
      return trans.__('Failed');
    case 'closed':
      return trans.__('Closed');
    case 'paused':
      return trans.__('Paused');
    case 'error':
      return trans.__('Error');
    default:
      return status;
  }
}

const LIVE = ['unapproved', 'queued', 'scheduling', 'running'];

type Tab = 'jobs' | 'create' | 'paramsets' | 'presets' | 'templates';

export interface ITrainingProps {
  trans: TranslationBundle;
  active?: boolean;
  refreshInterval?: number;
  tailInterval?: number;
}

/** The whole section: tabs, and a job's detail when one is open. */
export function Training({
  trans,
  active = true,
  refreshInterval = REFRESH_INTERVAL_MS,
  tailInterval = TAIL_INTERVAL_MS
}: ITrainingProps): JSX.Element {
  const [tab, setTab] = useState<Tab>('jobs');
  const [form, setForm] = useState<IJobForm>(EMPTY_FORM);
  const [openJob, setOpenJob] = useState<number | null>(null);

  const prefill = useCallback((f: IJobForm) => {
    setForm(f);
    setOpenJob(null);
    setTab('create');
  }, []);

  const tabs: [Tab, string][] = [
    ['jobs', trans.__('Training jobs')],
    ['create', trans.__('Create training')],
    ['paramsets', trans.__('Training parameters')],
    ['presets', trans.__('Preset models')],
    ['templates', trans.__('Job templates')]
  ];
  return (
    <div className="ytung-training" data-testid="ytung-training">
      <nav className="ytung-training-tabs">
        {tabs.map(([key, label]) => (
          <button
            key={key}
            className={`jp-mod-styled ytung-training-tab${tab === key && openJob === null ? ' ytung-mod-current' : ''}`}
            data-testid={`ytung-training-tab-${key}`}
            onClick={() => {
              setOpenJob(null);
              setTab(key);
            }}
          >
            {label}
          </button>
        ))}
      </nav>
      {openJob !== null ? (
        <JobDetail
          jobId={openJob}
          trans={trans}
          active={active}
          tailInterval={tailInterval}
          onBack={() => setOpenJob(null)}
        />
      ) : tab === 'jobs' ? (
        <JobList
          trans={trans}
          active={active}
          refreshInterval={refreshInterval}
          onOpen={setOpenJob}
        />
      ) : tab === 'create' ? (
        <JobForm trans={trans} form={form} setForm={setForm} onCreated={setOpenJob} />
      ) : tab === 'paramsets' ? (
        <ParamSets trans={trans} onUse={prefill} />
      ) : tab === 'presets' ? (
        <Presets trans={trans} onUse={prefill} />
      ) : (
        <Templates trans={trans} onUse={prefill} />
      )}
    </div>
  );
}

/** T1: status, name, engine, created; stop, pause, resume; open the detail. */
export function JobList({
  trans,
  active,
  refreshInterval,
  onOpen
}: {
  trans: TranslationBundle;
  active: boolean;
  refreshInterval: number;
  onOpen: (id: number) => void;
}): JSX.Element {
  const [jobs, setJobs] = useState<IJob[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = useCallback(async () => {
    try {
      setJobs(await requestAPI<IJob[]>('jobs'));
      setError(null);
    } catch (e) {
      setError(errorText(e, trans));
    }
  }, [trans]);
  useEffect(() => {
    if (!active) {
      return;
    }
    void load();
    const timer = setInterval(() => void load(), refreshInterval);
    return () => clearInterval(timer);
  }, [active, load, refreshInterval]);

  const act = async (job: IJob, action: 'stop' | 'pause' | 'resume') => {
    try {
      if (action === 'stop') {
        await requestAPI(`jobs/${job.id}`, { method: 'DELETE' });
      } else {
        await requestAPI(`jobs/${job.id}/${action}`, { method: 'POST' });
      }
      setError(null);
    } catch (e) {
      setError(errorText(e, trans));
    }
    await load();
  };

  return (
    <div className="ytung-training-jobs" data-testid="ytung-training-jobs">
      {error && (
        <div className="ytung-error" role="alert" data-testid="ytung-training-error">
          {error}
        </div>
      )}
      {jobs === null && !error && <div>{trans.__('Loading…')}</div>}
      {jobs && jobs.length === 0 && (
        <div className="ytung-empty" data-testid="ytung-training-empty">
          {trans.__('You have no training jobs yet')}
        </div>
      )}
      {jobs && jobs.length > 0 && (
        <table className="ytung-table">
          <thead>
            <tr>
              <th>{trans.__('Status')}</th>
              <th>{trans.__('Name')}</th>
              <th>{trans.__('Engine')}</th>
              <th>{trans.__('Created')}</th>
              <th>{trans.__('Actions')}</th>
            </tr>
          </thead>
          <tbody>
            {jobs.map(job => (
              <tr key={job.id} data-testid="ytung-training-job" data-job={job.id}>
                <td data-field="status" title={job.reason?.text ?? ''}>
                  {statusLabel(job.status, trans)}
                </td>
                <td data-field="name">
                  <a href="#" onClick={e => (e.preventDefault(), onOpen(job.id))}>
                    {job.name}
                  </a>
                </td>
                <td data-field="engine">{job.engine}</td>
                <td data-field="created">{new Date(job.created).toLocaleString()}</td>
                <td>
                  {(LIVE.includes(job.status) || job.ports) && (
                    <>
                      <button
                        className="jp-mod-styled"
                        data-testid="ytung-training-stop"
                        onClick={() => void act(job, 'stop')}
                      >
                        {trans.__('Stop')}
                      </button>
                      <button
                        className="jp-mod-styled"
                        data-testid="ytung-training-pause"
                        onClick={() => void act(job, 'pause')}
                      >
                        {trans.__('Pause')}
                      </button>
                    </>
                  )}
                  {job.status === 'paused' && (
                    <button
                      className="jp-mod-styled"
                      data-testid="ytung-training-resume"
                      onClick={() => void act(job, 'resume')}
                    >
                      {trans.__('Resume')}
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

/** T2/T3: the create form; T7: save it as a template. */
export function JobForm({
  trans,
  form,
  setForm,
  onCreated
}: {
  trans: TranslationBundle;
  form: IJobForm;
  setForm: (f: IJobForm) => void;
  onCreated: (id: number) => void;
}): JSX.Element {
  const [error, setError] = useState<string | null>(null);
  const [note, setNote] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [templateName, setTemplateName] = useState('');
  const set = (key: keyof IJobForm) => (e: React.ChangeEvent<any>) =>
    setForm({
      ...form,
      [key]: e.target.type === 'checkbox' ? e.target.checked : e.target.value
    });

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const job = await requestAPI<IJob>('jobs', {
        method: 'POST',
        body: JSON.stringify(formToBody(form))
      });
      onCreated(job.id);
    } catch (err) {
      setError(errorText(err, trans));
    } finally {
      setBusy(false);
    }
  };

  const saveTemplate = async () => {
    setError(null);
    setNote(null);
    try {
      const spec = formToBody(form);
      await requestAPI('jobtemplates', {
        method: 'POST',
        body: JSON.stringify({ name: templateName.trim(), spec })
      });
      setNote(trans.__('Saved as template %1', templateName.trim()));
    } catch (err) {
      setError(errorText(err, trans));
    }
  };

  const field = (key: keyof IJobForm, label: string, required = false, placeholder = '') => (
    <label className="ytung-field">
      <span>
        {label}
        {required && ' *'}
      </span>
      <input
        type="text"
        name={key}
        data-testid={`ytung-training-field-${key}`}
        value={form[key] as string}
        placeholder={placeholder}
        onChange={set(key)}
      />
    </label>
  );

  return (
    <form className="ytung-training-form" data-testid="ytung-training-form" onSubmit={submit}>
      {error && (
        <div className="ytung-error" role="alert" data-testid="ytung-training-form-error">
          {error}
        </div>
      )}
      {note && <div className="ytung-note">{note}</div>}
      <label className="ytung-field">
        <input
          type="checkbox"
          name="distributed"
          data-testid="ytung-training-field-distributed"
          checked={form.distributed}
          onChange={set('distributed')}
        />
        <span>{trans.__('Distributed training')}</span>
      </label>
      {field('name', trans.__('Job name'), true, trans.__('letters, digits and _'))}
      {field('description', trans.__('Description'))}
      <label className="ytung-field">
        <span>{trans.__('Engine')} *</span>
        <select name="engine" value={form.engine} onChange={set('engine')}>
          <option value="pytorch">PyTorch</option>
        </select>
      </label>
      {field('code_dir', trans.__('Code directory'), true, '/home/<user>/...')}
      {field('start_file', trans.__('Start file'), true, 'train.py')}
      {field('output_path', trans.__('Output path'), true)}
      {field('dataset_id', trans.__('Training dataset (id)'))}
      {field('dataset_version', trans.__('Dataset version'))}
      <label className="ytung-field">
        <span>{trans.__('Run parameters (one key=value a line)')}</span>
        <textarea
          name="params"
          data-testid="ytung-training-field-params"
          rows={4}
          value={form.params}
          onChange={set('params')}
        />
      </label>
      <label className="ytung-field">
        <span>{trans.__('Device type')}</span>
        <select name="device_type" value={form.device_type} onChange={set('device_type')}>
          <option value="">CPU</option>
          <option value="nvidia_gpu_amd64">nvidia_gpu_amd64 (GPU)</option>
          <option value="huawei_npu_arm64">huawei_npu_arm64 (NPU)</option>
        </select>
      </label>
      {form.distributed ? (
        <>
          {field('nodes', trans.__('Number of nodes'), true)}
          {field('devices_per_node', trans.__('Devices per node'), true)}
          {field('master_command', trans.__('Master command'))}
          {field('worker_command', trans.__('Worker command'))}
        </>
      ) : (
        field('devices', trans.__('Number of devices'), true)
      )}
      <label className="ytung-field">
        <input
          type="checkbox"
          name="keep_alive"
          checked={form.keep_alive}
          onChange={set('keep_alive')}
        />
        <span>{trans.__('Keep the environment after the command ends (debugging)')}</span>
      </label>
      <div className="ytung-actions">
        <button
          type="submit"
          className="jp-mod-styled jp-mod-accept"
          data-testid="ytung-training-submit"
          disabled={busy}
        >
          {trans.__('Create')}
        </button>
        <button type="button" className="jp-mod-styled" onClick={() => setForm(EMPTY_FORM)}>
          {trans.__('Reset')}
        </button>
      </div>
      <div className="ytung-actions">
        <input
          type="text"
          data-testid="ytung-training-template-name"
          placeholder={trans.__('Template name')}
          value={templateName}
          onChange={e => setTemplateName(e.target.value)}
        />
        <button
          type="button"
          className="jp-mod-styled"
          data-testid="ytung-training-save-template"
          onClick={() => void saveTemplate()}
        >
          {trans.__('Save as template')}
        </button>
      </div>
    </form>
  );
}

/** T4: preset and saved parameter sets; edit (a preset saves a copy); create a job. */
export function ParamSets({
  trans,
  onUse
}: {
  trans: TranslationBundle;
  onUse: (f: IJobForm) => void;
}): JSX.Element {
  const [sets, setSets] = useState<IParamSet[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [editing, setEditing] = useState<{ id: string; name: string; params: string } | null>(
    null
  );
  const load = useCallback(async () => {
    try {
      setSets(await requestAPI<IParamSet[]>('paramsets'));
    } catch (e) {
      setError(errorText(e, trans));
    }
  }, [trans]);
  useEffect(() => void load(), [load]);

  const save = async (set: IParamSet) => {
    try {
      await requestAPI(`paramsets/${encodeURIComponent(String(set.id))}`, {
        method: 'PUT',
        body: JSON.stringify({
          ...set.spec,
          name: editing!.name,
          description: set.description,
          params: parseParams(editing!.params)
        })
      });
      setEditing(null);
      setError(null);
      await load();
    } catch (e) {
      setError(errorText(e, trans));
    }
  };

  const useSet = async (set: IParamSet) => {
    try {
      let spec: Record<string, any> = { ...set.spec, name: '' };
      if (set.preset) {
        // a preset's code is copied into the home first (kept if it is there)
        const prepared = await requestAPI<Record<string, any>>(
          `presets/${encodeURIComponent(set.name)}/prepare`,
          { method: 'POST' }
        );
        spec = { ...prepared, params: set.spec.params };
      }
      onUse(specToForm(spec));
    } catch (e) {
      setError(errorText(e, trans));
    }
  };

  return (
    <div className="ytung-training-paramsets" data-testid="ytung-training-paramsets">
      {error && (
        <div className="ytung-error" role="alert">
          {error}
        </div>
      )}
      {(sets ?? []).map(set => (
        <section
          key={String(set.id)}
          className="ytung-card"
          data-testid="ytung-training-paramset"
          data-id={String(set.id)}
        >
          <header>
            <b>{set.name}</b> {set.preset && <span className="ytung-badge">{trans.__('Preset')}</span>}
          </header>
          {editing?.id === String(set.id) ? (
            <>
              <input
                type="text"
                data-testid="ytung-training-paramset-name"
                value={editing.name}
                onChange={e => setEditing({ ...editing, name: e.target.value })}
              />
              <textarea
                rows={4}
                data-testid="ytung-training-paramset-params"
                value={editing.params}
                onChange={e => setEditing({ ...editing, params: e.target.value })}
              />
              <button
                className="jp-mod-styled jp-mod-accept"
                data-testid="ytung-training-paramset-save"
                onClick={() => void save(set)}
              >
                {trans.__('Save')}
              </button>
            </>
          ) : (
            <pre className="ytung-training-params">{formatParams(set.spec.params)}</pre>
          )}
          <div className="ytung-actions">
            <button
              className="jp-mod-styled"
              data-testid="ytung-training-paramset-edit"
              onClick={() =>
                setEditing({
                  id: String(set.id),
                  name: set.preset ? `${set.name}_mine` : set.name,
                  params: formatParams(set.spec.params)
                })
              }
            >
              {trans.__('Edit')}
            </button>
            <button
              className="jp-mod-styled"
              data-testid="ytung-training-paramset-use"
              onClick={() => void useSet(set)}
            >
              {trans.__('Create training job')}
            </button>
          </div>
        </section>
      ))}
    </div>
  );
}

/** T5: preset models with fuzzy search; create a job prefilled. */
export function Presets({
  trans,
  onUse
}: {
  trans: TranslationBundle;
  onUse: (f: IJobForm) => void;
}): JSX.Element {
  const [search, setSearch] = useState('');
  const [presets, setPresets] = useState<IPreset[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    requestAPI<IPreset[]>(`presets?search=${encodeURIComponent(search)}`)
      .then(p => live && setPresets(p))
      .catch(e => live && setError(errorText(e, trans)));
    return () => {
      live = false;
    };
  }, [search, trans]);

  const use = async (preset: IPreset) => {
    try {
      const form = await requestAPI<Record<string, any>>(
        `presets/${encodeURIComponent(preset.name)}/prepare`,
        { method: 'POST' }
      );
      onUse(specToForm(form));
    } catch (e) {
      setError(errorText(e, trans));
    }
  };

  return (
    <div className="ytung-training-presets" data-testid="ytung-training-presets">
      <input
        type="search"
        data-testid="ytung-training-preset-search"
        placeholder={trans.__('Search by model name')}
        value={search}
        onChange={e => setSearch(e.target.value)}
      />
      {error && (
        <div className="ytung-error" role="alert">
          {error}
        </div>
      )}
      <table className="ytung-table">
        <thead>
          <tr>
            <th>{trans.__('Model name')}</th>
            <th>{trans.__('Model use')}</th>
            <th>{trans.__('Accuracy')}</th>
            <th>{trans.__('Model size')}</th>
            <th>{trans.__('Created')}</th>
            <th>{trans.__('Actions')}</th>
          </tr>
        </thead>
        <tbody>
          {(presets ?? []).map(p => (
            <tr key={p.name} data-testid="ytung-training-preset" data-name={p.name}>
              <td>{p.name}</td>
              <td>{p.use}</td>
              <td data-field="accuracy">{(p.accuracy * 100).toFixed(2)}%</td>
              <td>{formatBytes(p.size_bytes)}</td>
              <td>{new Date(p.created).toLocaleDateString()}</td>
              <td>
                <button
                  className="jp-mod-styled"
                  data-testid="ytung-training-preset-use"
                  onClick={() => void use(p)}
                >
                  {trans.__('Create training job')}
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** T7: my job templates; use one (prefill the form) or delete it. */
export function Templates({
  trans,
  onUse
}: {
  trans: TranslationBundle;
  onUse: (f: IJobForm) => void;
}): JSX.Element {
  const [templates, setTemplates] = useState<ITemplate[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = useCallback(async () => {
    try {
      setTemplates(await requestAPI<ITemplate[]>('jobtemplates'));
    } catch (e) {
      setError(errorText(e, trans));
    }
  }, [trans]);
  useEffect(() => void load(), [load]);
  const remove = async (t: ITemplate) => {
    try {
      await requestAPI(`jobtemplates/${t.id}`, { method: 'DELETE' });
    } catch (e) {
      setError(errorText(e, trans));
    }
    await load();
  };
  return (
    <div className="ytung-training-templates" data-testid="ytung-training-templates">
      {error && (
        <div className="ytung-error" role="alert">
          {error}
        </div>
      )}
      {templates && templates.length === 0 && (
        <div className="ytung-empty">{trans.__('You have no job templates yet')}</div>
      )}
      {(templates ?? []).map(t => (
        <section key={t.id} className="ytung-card" data-testid="ytung-training-template">
          <b>{t.name}</b> <span>{t.description}</span>
          <div className="ytung-actions">
            <button
              className="jp-mod-styled"
              data-testid="ytung-training-template-use"
              onClick={() => onUse(specToForm({ ...t.spec, name: '' }))}
            >
              {trans.__('Use')}
            </button>
            <button className="jp-mod-styled" onClick={() => void remove(t)}>
              {trans.__('Delete')}
            </button>
          </div>
        </section>
      ))}
    </div>
  );
}

/** T6: summary, ports, the console log (paginated, per rank, live tail), device log, metrics. */
export function JobDetail({
  jobId,
  trans,
  active,
  tailInterval,
  onBack
}: {
  jobId: number;
  trans: TranslationBundle;
  active: boolean;
  tailInterval: number;
  onBack: () => void;
}): JSX.Element {
  const [job, setJob] = useState<IJob | null>(null);
  const [page, setPage] = useState<ILogPage | null>(null);
  const [offset, setOffset] = useState(0);
  const [rank, setRank] = useState<string>('');
  const [tail, setTail] = useState(true);
  const [metrics, setMetrics] = useState<any>(null);
  const [error, setError] = useState<string | null>(null);
  const offsetRef = useRef(0);
  offsetRef.current = offset;

  const load = useCallback(
    async (follow: boolean) => {
      try {
        const j = await requestAPI<IJob>(`jobs/${jobId}`);
        const rankQuery = rank ? `&rank=${rank}` : '';
        let p = await requestAPI<ILogPage>(
          `jobs/${jobId}/logs?offset=${offsetRef.current}&limit=${LOG_PAGE}${rankQuery}`
        );
        if (follow && p.total > offsetRef.current + LOG_PAGE) {
          // live tail: jump to the last page
          const last = Math.max(0, p.total - LOG_PAGE);
          p = await requestAPI<ILogPage>(
            `jobs/${jobId}/logs?offset=${last}&limit=${LOG_PAGE}${rankQuery}`
          );
          setOffset(last);
        }
        setJob(j);
        setPage(p);
        setMetrics(await requestAPI(`jobs/${jobId}/metrics`));
        setError(null);
      } catch (e) {
        setError(errorText(e, trans));
      }
    },
    [jobId, rank, trans]
  );

  useEffect(() => {
    void load(tail);
  }, [load, offset, tail]);
  useEffect(() => {
    if (!active || !tail) {
      return;
    }
    const timer = setInterval(() => void load(true), tailInterval);
    return () => clearInterval(timer);
  }, [active, tail, tailInterval, load]);

  const act = async (action: 'stop' | 'pause' | 'resume') => {
    try {
      const path = action === 'stop' ? `jobs/${jobId}` : `jobs/${jobId}/${action}`;
      setJob(await requestAPI<IJob>(path, { method: action === 'stop' ? 'DELETE' : 'POST' }));
    } catch (e) {
      setError(errorText(e, trans));
    }
  };
  const last = metrics?.samples?.length ? metrics.samples[metrics.samples.length - 1] : null;

  return (
    <div className="ytung-training-detail" data-testid="ytung-training-detail">
      <button className="jp-mod-styled" onClick={onBack}>
        {trans.__('Back')}
      </button>
      {error && (
        <div className="ytung-error" role="alert" data-testid="ytung-training-detail-error">
          {error}
        </div>
      )}
      {job && (
        <dl className="ytung-fields" data-testid="ytung-training-summary">
          <dt>{trans.__('Name')}</dt>
          <dd>{job.name}</dd>
          <dt>{trans.__('Status')}</dt>
          <dd data-testid="ytung-training-status">{statusLabel(job.status, trans)}</dd>
          {job.reason && (
            <>
              <dt>{trans.__('Reason')}</dt>
              <dd data-testid="ytung-training-reason">{job.reason.text}</dd>
            </>
          )}
          {job.queue?.estimate_reason && (
            <>
              <dt>{trans.__('Estimated start')}</dt>
              <dd>
                <EstimatedStart start={job.queue.estimated_start} how={job.queue.estimate_reason} />
              </dd>
            </>
          )}
          <dt>{trans.__('Engine')}</dt>
          <dd>{job.engine}</dd>
          <dt>{trans.__('Devices')}</dt>
          <dd>
            {job.distributed
              ? trans.__('%1 nodes × %2', job.nodes, job.devices_per_node)
              : job.devices_per_node}{' '}
            {job.device_type ?? 'CPU'}
          </dd>
          {job.exit_code !== null && (
            <>
              <dt>{trans.__('Exit code')}</dt>
              <dd data-testid="ytung-training-exit-code">{job.exit_code}</dd>
            </>
          )}
          {job.ports && (
            <>
              <dt>{trans.__('Ports')}</dt>
              <dd className="ytung-training-ports">
                <a href={job.ports.jupyter} target="_blank" rel="noreferrer">
                  Jupyter
                </a>{' '}
                <a href={job.ports.terminal} target="_blank" rel="noreferrer">
                  {trans.__('Terminal')}
                </a>{' '}
                {job.ports.tensorboard ? (
                  <a href={job.ports.tensorboard} target="_blank" rel="noreferrer">
                    TensorBoard
                  </a>
                ) : (
                  <span>{trans.__('TensorBoard is not installed')}</span>
                )}
              </dd>
            </>
          )}
          {last && (
            <>
              <dt>{trans.__('CPU / memory')}</dt>
              <dd data-testid="ytung-training-metrics">
                {last.cpu_percent}% / {formatBytes(last.memory_bytes)}
              </dd>
            </>
          )}
        </dl>
      )}
      {job && (
        <div className="ytung-actions">
          {(LIVE.includes(job.status) || job.ports) && (
            <>
              <button className="jp-mod-styled" onClick={() => void act('stop')}>
                {trans.__('Stop')}
              </button>
              <button className="jp-mod-styled" onClick={() => void act('pause')}>
                {trans.__('Pause')}
              </button>
            </>
          )}
          {job.status === 'paused' && (
            <button className="jp-mod-styled" onClick={() => void act('resume')}>
              {trans.__('Resume')}
            </button>
          )}
        </div>
      )}
      {job?.stderr_tail && (
        <pre className="ytung-training-stderr" data-testid="ytung-training-stderr">
          {job.stderr_tail}
        </pre>
      )}
      <div className="ytung-actions">
        <select
          data-testid="ytung-training-rank"
          value={rank}
          onChange={e => {
            setRank(e.target.value);
            setOffset(0);
          }}
        >
          <option value="">{trans.__('All ranks')}</option>
          {(page?.ranks ?? []).map(r => (
            <option key={r} value={String(r)}>
              {trans.__('Rank %1', r)}
            </option>
          ))}
        </select>
        <label>
          <input
            type="checkbox"
            data-testid="ytung-training-tail"
            checked={tail}
            onChange={e => setTail(e.target.checked)}
          />
          {trans.__('Live tail')}
        </label>
        <button
          className="jp-mod-styled"
          data-testid="ytung-training-prev"
          disabled={offset === 0}
          onClick={() => (setTail(false), setOffset(Math.max(0, offset - LOG_PAGE)))}
        >
          {trans.__('Previous')}
        </button>
        <button
          className="jp-mod-styled"
          data-testid="ytung-training-next"
          disabled={!page || offset + LOG_PAGE >= page.total}
          onClick={() => (setTail(false), setOffset(offset + LOG_PAGE))}
        >
          {trans.__('Next')}
        </button>
        <span data-testid="ytung-training-range">
          {page
            ? trans.__(
                'Lines %1–%2 of %3',
                page.total ? offset + 1 : 0,
                Math.min(offset + LOG_PAGE, page.total),
                page.total
              )
            : ''}
        </span>
      </div>
      <pre className="ytung-training-log" data-testid="ytung-training-log">
        {(page?.lines ?? []).map((line, i) => (
          <div key={i} className={`ytung-log-line ytung-log-${line.stream}`}>
            <span className="ytung-log-rank">[rank {line.rank}]</span> {line.text}
          </div>
        ))}
      </pre>
      {page && page.device_log.length > 0 && (
        <>
          <h3 className="ytung-heading">{trans.__('Device error log')}</h3>
          <pre className="ytung-training-device-log" data-testid="ytung-training-device-log">
            {page.device_log.join('\n')}
          </pre>
        </>
      )}
    </div>
  );
}

/** The Training section as a Lumino widget (polls only while visible). */
export class TrainingPanel extends PollingSectionPanel {
  constructor(trans: TranslationBundle) {
    super('ytung-training-panel', trans.__('Training'), active => (
      <Training trans={trans} active={active} />
    ));
  }
}
