/**
 * The Datasets section (SPEC S1–S3, 数据集): the datasets the user may see with fuzzy search,
 * a detail view, adding one (archive upload with a progress bar, or a server path), editing,
 * downloading and deleting (with a confirmation).
 *
 * An upload goes in chunks and resumes after a dropped connection or a page reload
 * (`../uploads.ts`); the list shows the unfinished ones, to pick their file again or discard.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import type { TranslationBundle } from '@jupyterlab/translation';
import { refreshIcon } from '@jupyterlab/ui-components';
import React, { useCallback, useEffect, useRef, useState } from 'react';

import { getLanguage, requestAPI, YtungAPIError } from '../handler';
import {
  CHUNK_BYTES,
  discardUpload,
  IRememberedUpload,
  IUnfinishedUpload,
  unfinishedUploads,
  uploadArchive,
  UploadMemory
} from '../uploads';
import { SectionPanel } from './section';

export {
  CHUNK_ATTEMPTS,
  CHUNK_BYTES,
  type IDatasetUpload,
  uploadArchive,
  UploadMemory
} from '../uploads';

/** One version of a dataset (detail view). */
export interface IDatasetVersion {
  version: number;
  path: string;
  size_bytes: number;
  file_count: number;
  source: 'upload' | 'path' | 'directory' | string;
  origin: string;
  creator: string;
  created: string;
}

/** `GET /ytung/api/datasets` rows; the detail adds `versions`. */
export interface IDataset {
  id: number;
  name: string;
  description: string;
  creator: string;
  public: boolean;
  permission: 'public' | 'private';
  labeled: boolean;
  created: string;
  updated: string;
  version: number | null;
  path: string | null;
  size_bytes: number;
  file_count: number;
  can_change: boolean;
  versions?: IDatasetVersion[];
}

/** The fields of the add / edit forms. */
export interface IDatasetFields {
  name: string;
  description: string;
  labeled: boolean;
  permission: 'public' | 'private';
}

/** The archives the service accepts. */
export const ARCHIVE_TYPES = ['.zip', '.tar', '.tar.gz', '.tgz'];
/** Wait after typing before searching (ms). */
export const SEARCH_DELAY_MS = 300;

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

/** Whether `filename` is an archive the service accepts. */
export function isArchive(filename: string): boolean {
  const lower = filename.toLowerCase();
  return ARCHIVE_TYPES.some(ext => lower.endsWith(ext) && lower.length > ext.length);
}

/** The download link of a dataset version (served through the server extension). */
export function downloadUrl(id: number, version?: number | null): string {
  const settings = ServerConnection.makeSettings();
  const path = URLExt.join(settings.baseUrl, 'ytung', 'api', 'datasets', String(id), 'download');
  return version ? `${path}?version=${version}` : path;
}

/** "1.5 MB" */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

function formatTime(iso: string | null | undefined): string {
  if (!iso) {
    return '--';
  }
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) {
    return iso;
  }
  return date.toLocaleString(getLanguage() === 'zh_CN' ? 'zh-CN' : 'en');
}

type View =
  | { kind: 'list' }
  | { kind: 'detail'; id: number }
  | { kind: 'add'; versionOf?: IDatasetRef; resume?: IRememberedUpload }
  | { kind: 'edit'; dataset: IDataset };

/** What the add form needs of the dataset that gets a new version. */
type IDatasetRef = Pick<IDataset, 'id' | 'name'>;

export interface IDatasetsProps {
  trans: TranslationBundle;
  /** Bytes per upload request (tests use small ones). */
  chunkBytes?: number;
  /** Where unfinished uploads are remembered (default: this user's, in `localStorage`). */
  memory?: UploadMemory;
}

/** The Datasets section: list (with search), detail, add, edit. */
export function Datasets({ trans, chunkBytes = CHUNK_BYTES, memory }: IDatasetsProps): JSX.Element {
  const [view, setView] = useState<View>({ kind: 'list' });
  const [uploads] = useState(() => memory ?? new UploadMemory());
  const [notice, setNotice] = useState<string | null>(null);
  const show = (next: View, message: string | null = null) => {
    setNotice(message);
    setView(next);
  };
  return (
    <div className="ytung-datasets" data-testid="ytung-datasets">
      {notice && (
        <div className="ytung-datasets-notice" role="status" data-testid="ytung-datasets-notice">
          {notice}
        </div>
      )}
      {view.kind === 'list' && (
        <DatasetList
          trans={trans}
          onOpen={id => show({ kind: 'detail', id })}
          onAdd={() => show({ kind: 'add' })}
          onEdit={dataset => show({ kind: 'edit', dataset })}
          onDeleted={name => setNotice(trans.__('Dataset %1 was deleted', name))}
          memory={uploads}
          onResume={entry => show({ kind: 'add', versionOf: entry.versionOf, resume: entry })}
        />
      )}
      {view.kind === 'detail' && (
        <DatasetDetail
          trans={trans}
          id={view.id}
          onBack={() => show({ kind: 'list' })}
          onEdit={dataset => show({ kind: 'edit', dataset })}
          onNewVersion={dataset => show({ kind: 'add', versionOf: dataset })}
        />
      )}
      {view.kind === 'add' && (
        <DatasetForm
          trans={trans}
          versionOf={view.versionOf}
          resume={view.resume}
          memory={uploads}
          chunkBytes={chunkBytes}
          onDone={dataset =>
            show(
              { kind: 'detail', id: dataset.id },
              trans.__('Dataset %1 version %2 is ready', dataset.name, dataset.version ?? '')
            )
          }
          onCancel={() =>
            show(view.versionOf ? { kind: 'detail', id: view.versionOf.id } : { kind: 'list' })
          }
        />
      )}
      {view.kind === 'edit' && (
        <DatasetForm
          trans={trans}
          editing={view.dataset}
          memory={uploads}
          chunkBytes={chunkBytes}
          onDone={dataset =>
            show({ kind: 'detail', id: dataset.id }, trans.__('Dataset %1 was saved', dataset.name))
          }
          onCancel={() => show({ kind: 'detail', id: view.dataset.id })}
        />
      )}
    </div>
  );
}

function ErrorBox({
  title,
  error,
  trans,
  testid
}: {
  title: string;
  error: IError;
  trans: TranslationBundle;
  testid: string;
}): JSX.Element {
  return (
    <div className="ytung-error" role="alert" data-testid={testid}>
      <div className="ytung-error-title">{title}</div>
      <div className="ytung-error-message">
        {error.status ? trans.__('Error %1: %2', error.status, error.message) : error.message}
      </div>
    </div>
  );
}

/** "Edit" for a dataset the user may change; nothing otherwise. */
function EditButton({
  dataset,
  onEdit,
  trans
}: {
  dataset: IDataset;
  onEdit: (dataset: IDataset) => void;
  trans: TranslationBundle;
}): JSX.Element | null {
  if (!dataset.can_change) {
    return null;
  }
  return (
    <button
      className="jp-mod-styled"
      data-testid="ytung-dataset-edit"
      onClick={() => onEdit(dataset)}
    >
      {trans.__('Edit')}
    </button>
  );
}

function LabeledBadge({ labeled, trans }: { labeled: boolean; trans: TranslationBundle }) {
  return (
    <span
      className={`ytung-badge${labeled ? '' : ' ytung-mod-muted'}`}
      data-testid="ytung-dataset-labeled"
      title={trans.__('Labeled')}
    >
      {labeled ? trans.__('Labeled') : trans.__('Not labeled')}
    </span>
  );
}

function PermissionBadge({ dataset, trans }: { dataset: IDataset; trans: TranslationBundle }) {
  return (
    <span className="ytung-badge ytung-mod-muted" data-testid="ytung-dataset-permission">
      {dataset.public ? trans.__('Public') : trans.__('Private')}
    </span>
  );
}

/**
 * The uploads this browser started and the service still has (after a reload, say): pick the
 * file again to go on from where it stopped, or discard it.
 */
function UnfinishedUploads({
  trans,
  memory,
  onResume
}: {
  trans: TranslationBundle;
  memory: UploadMemory;
  onResume: (entry: IRememberedUpload) => void;
}): JSX.Element | null {
  const [entries, setEntries] = useState<IUnfinishedUpload[]>([]);
  const [error, setError] = useState<IError | null>(null);
  const mounted = useRef(true);
  const load = useCallback(async () => {
    const found = await unfinishedUploads(memory);
    if (mounted.current) {
      setEntries(found);
    }
  }, [memory]);
  useEffect(() => {
    mounted.current = true;
    void load();
    return () => {
      mounted.current = false;
    };
  }, [load]);

  const discard = async (entry: IUnfinishedUpload) => {
    setError(null);
    try {
      await discardUpload(memory, entry);
    } catch (e) {
      setError(asError(e));
    }
    await load();
  };

  if (!entries.length) {
    return null;
  }
  return (
    <section className="ytung-datasets-unfinished" data-testid="ytung-datasets-unfinished">
      <h4 className="ytung-heading">{trans.__('Unfinished uploads')}</h4>
      <div className="ytung-datasets-hint">
        {trans.__('Pick the same file again to go on from where the upload stopped')}
      </div>
      <ul>
        {entries.map(entry => {
          const percent = Math.floor((100 * entry.offset) / Math.max(entry.file.size, 1));
          return (
            <li key={entry.id} data-testid="ytung-datasets-unfinished-row" data-upload={entry.id}>
              <div>
                <strong className="ytung-datasets-unfinished-name">
                  {entry.versionOf
                    ? trans.__('New version of %1', entry.versionOf.name)
                    : String(entry.start.name ?? '')}
                </strong>{' '}
                ({entry.file.name})
              </div>
              <div data-testid="ytung-datasets-unfinished-progress">
                {trans.__('%1% of %2', percent, formatBytes(entry.file.size))}
              </div>
              <div className="ytung-datasets-actions">
                <button
                  className="jp-mod-styled jp-mod-accept"
                  data-testid="ytung-datasets-unfinished-resume"
                  onClick={() => onResume(entry)}
                >
                  {trans.__('Resume upload')}
                </button>
                <button
                  className="jp-mod-styled"
                  data-testid="ytung-datasets-unfinished-discard"
                  onClick={() => void discard(entry)}
                >
                  {trans.__('Discard')}
                </button>
              </div>
            </li>
          );
        })}
      </ul>
      {error && (
        <ErrorBox
          title={trans.__('Could not discard the upload')}
          error={error}
          trans={trans}
          testid="ytung-datasets-unfinished-error"
        />
      )}
    </section>
  );
}

function DatasetList({
  trans,
  onOpen,
  onAdd,
  onEdit,
  onDeleted,
  memory,
  onResume
}: {
  trans: TranslationBundle;
  onOpen: (id: number) => void;
  onAdd: () => void;
  onEdit: (dataset: IDataset) => void;
  onDeleted: (name: string) => void;
  memory: UploadMemory;
  onResume: (entry: IRememberedUpload) => void;
}): JSX.Element {
  const [query, setQuery] = useState('');
  const [data, setData] = useState<IDataset[] | null>(null);
  const [error, setError] = useState<IError | null>(null);
  const [loading, setLoading] = useState(false);
  const [confirming, setConfirming] = useState<number | null>(null);
  const [deleteError, setDeleteError] = useState<(IError & { name: string }) | null>(null);
  const latest = useRef(0);
  const mounted = useRef(true);
  useEffect(() => {
    mounted.current = true;
    return () => {
      mounted.current = false;
    };
  }, []);

  const load = useCallback(async (q: string) => {
    const request = ++latest.current;
    setLoading(true);
    try {
      const endpoint = q.trim() ? `datasets?q=${encodeURIComponent(q.trim())}` : 'datasets';
      const answer = await requestAPI<IDataset[]>(endpoint);
      if (mounted.current && request === latest.current) {
        setData(answer);
        setError(null);
      }
    } catch (e) {
      if (mounted.current && request === latest.current) {
        setError(asError(e));
      }
    } finally {
      if (mounted.current && request === latest.current) {
        setLoading(false);
      }
    }
  }, []);

  useEffect(() => {
    if (!query.trim()) {
      void load('');
      return;
    }
    const timer = setTimeout(() => void load(query), SEARCH_DELAY_MS);
    return () => clearTimeout(timer);
  }, [query, load]);

  const remove = async (dataset: IDataset) => {
    setDeleteError(null);
    try {
      await requestAPI(`datasets/${dataset.id}`, { method: 'DELETE' });
      setConfirming(null);
      onDeleted(dataset.name);
    } catch (e) {
      setDeleteError({ name: dataset.name, ...asError(e) });
      setConfirming(null);
    }
    await load(query);
  };

  return (
    <>
      <UnfinishedUploads trans={trans} memory={memory} onResume={onResume} />
      <div className="ytung-datasets-toolbar">
        <input
          type="search"
          className="jp-mod-styled ytung-datasets-search"
          data-testid="ytung-datasets-search"
          placeholder={trans.__('Search by name or description')}
          aria-label={trans.__('Search datasets')}
          value={query}
          onChange={e => setQuery(e.target.value)}
        />
        <button
          className="jp-mod-styled jp-mod-accept"
          data-testid="ytung-datasets-add"
          onClick={onAdd}
        >
          {trans.__('Add dataset')}
        </button>
        <button
          className="jp-mod-styled ytung-refresh"
          data-testid="ytung-datasets-refresh"
          title={trans.__('Load the datasets again')}
          disabled={loading}
          onClick={() => void load(query)}
        >
          <refreshIcon.react tag="span" className="ytung-button-icon" />
        </button>
      </div>
      {data === null && error === null && (
        <div className="ytung-empty" data-testid="ytung-datasets-loading">
          {trans.__('Loading…')}
        </div>
      )}
      {error && (
        <ErrorBox
          title={trans.__('Could not load the datasets')}
          error={error}
          trans={trans}
          testid="ytung-datasets-error"
        />
      )}
      {deleteError && (
        <ErrorBox
          title={trans.__('Could not delete dataset %1', deleteError.name)}
          error={deleteError}
          trans={trans}
          testid="ytung-datasets-delete-error"
        />
      )}
      {data &&
        (data.length ? (
          <ul className="ytung-datasets-list" data-testid="ytung-datasets-list">
            {data.map(dataset => (
              <li
                key={dataset.id}
                className="ytung-datasets-item"
                data-testid="ytung-dataset"
                data-dataset={dataset.id}
              >
                <div className="ytung-datasets-item-header">
                  <button
                    className="ytung-link ytung-datasets-name"
                    data-testid="ytung-dataset-name"
                    title={trans.__('Show the details of dataset %1', dataset.name)}
                    onClick={() => onOpen(dataset.id)}
                  >
                    {dataset.name}
                  </button>
                  <LabeledBadge labeled={dataset.labeled} trans={trans} />
                  <PermissionBadge dataset={dataset} trans={trans} />
                </div>
                {dataset.description && (
                  <div className="ytung-datasets-description" data-testid="ytung-dataset-description">
                    {dataset.description}
                  </div>
                )}
                <dl className="ytung-fields">
                  <dt>{trans.__('Creator')}</dt>
                  <dd data-field="creator">{dataset.creator}</dd>
                  <dt>{trans.__('Version')}</dt>
                  <dd data-field="version">{dataset.version ?? '--'}</dd>
                  <dt>{trans.__('Updated')}</dt>
                  <dd data-field="updated">
                    <time dateTime={dataset.updated}>{formatTime(dataset.updated)}</time>
                  </dd>
                </dl>
                <div className="ytung-datasets-actions">
                  <EditButton dataset={dataset} onEdit={onEdit} trans={trans} />
                  {dataset.version !== null && (
                    <a
                      className="jp-mod-styled ytung-button-link"
                      data-testid="ytung-dataset-download"
                      href={downloadUrl(dataset.id)}
                      download
                    >
                      {trans.__('Download')}
                    </a>
                  )}
                  {dataset.can_change &&
                    (confirming === dataset.id ? (
                      <span className="ytung-datasets-confirm" data-testid="ytung-dataset-confirm">
                        {trans.__('Delete dataset %1 and all its versions?', dataset.name)}
                        <button
                          className="jp-mod-styled jp-mod-warn"
                          data-testid="ytung-dataset-confirm-delete"
                          onClick={() => void remove(dataset)}
                        >
                          {trans.__('Delete')}
                        </button>
                        <button
                          className="jp-mod-styled"
                          data-testid="ytung-dataset-cancel-delete"
                          onClick={() => setConfirming(null)}
                        >
                          {trans.__('Cancel')}
                        </button>
                      </span>
                    ) : (
                      <button
                        className="jp-mod-styled jp-mod-warn"
                        data-testid="ytung-dataset-delete"
                        onClick={() => setConfirming(dataset.id)}
                      >
                        {trans.__('Delete')}
                      </button>
                    ))}
                </div>
              </li>
            ))}
          </ul>
        ) : (
          <div className="ytung-empty" data-testid="ytung-datasets-empty">
            {query.trim()
              ? trans.__('No dataset matches %1', query.trim())
              : trans.__('No datasets yet')}
          </div>
        ))}
    </>
  );
}

function DatasetDetail({
  trans,
  id,
  onBack,
  onEdit,
  onNewVersion
}: {
  trans: TranslationBundle;
  id: number;
  onBack: () => void;
  onEdit: (dataset: IDataset) => void;
  onNewVersion: (dataset: IDataset) => void;
}): JSX.Element {
  const [dataset, setDataset] = useState<IDataset | null>(null);
  const [error, setError] = useState<IError | null>(null);
  useEffect(() => {
    let live = true;
    requestAPI<IDataset>(`datasets/${id}`)
      .then(d => live && setDataset(d))
      .catch(e => live && setError(asError(e)));
    return () => {
      live = false;
    };
  }, [id]);

  const rows: [string, string, React.ReactNode][] = dataset
    ? [
        ['name', trans.__('Dataset name'), dataset.name],
        ['version', trans.__('Version'), dataset.version ?? '--'],
        ['creator', trans.__('Creator'), dataset.creator],
        ['created', trans.__('Created'), formatTime(dataset.created)],
        ['description', trans.__('Description'), dataset.description || '--'],
        ['path', trans.__('Storage path'), <code key="path">{dataset.path ?? '--'}</code>],
        ['updated', trans.__('Updated'), formatTime(dataset.updated)],
        ['labeled', trans.__('Labeled'), dataset.labeled ? trans.__('Yes') : trans.__('No')],
        ['permission', trans.__('Permission'), dataset.public ? trans.__('Public') : trans.__('Private')],
        [
          'size',
          trans.__('Size'),
          trans.__('%1 in %2 files', formatBytes(dataset.size_bytes), dataset.file_count)
        ]
      ]
    : [];

  return (
    <section className="ytung-datasets-detail" data-testid="ytung-dataset-detail">
      <button className="jp-mod-styled" data-testid="ytung-dataset-back" onClick={onBack}>
        {trans.__('Back to the list')}
      </button>
      {error && (
        <ErrorBox
          title={trans.__('Could not load the dataset')}
          error={error}
          trans={trans}
          testid="ytung-dataset-detail-error"
        />
      )}
      {!dataset && !error && <div className="ytung-empty">{trans.__('Loading…')}</div>}
      {dataset && (
        <>
          <h3 className="ytung-heading">{dataset.name}</h3>
          <dl className="ytung-fields ytung-datasets-fields">
            {rows.map(([field, label, value]) => (
              <React.Fragment key={field}>
                <dt>{label}</dt>
                <dd data-field={field}>{value}</dd>
              </React.Fragment>
            ))}
          </dl>
          <div className="ytung-datasets-actions">
            <EditButton dataset={dataset} onEdit={onEdit} trans={trans} />
            {dataset.can_change && (
              <button
                className="jp-mod-styled"
                data-testid="ytung-dataset-new-version"
                onClick={() => onNewVersion(dataset)}
              >
                {trans.__('New version')}
              </button>
            )}
          </div>
          <h3 className="ytung-heading">{trans.__('Versions')}</h3>
          <table className="ytung-datasets-versions" data-testid="ytung-dataset-versions">
            <thead>
              <tr>
                <th>{trans.__('Version')}</th>
                <th>{trans.__('Created')}</th>
                <th>{trans.__('Size')}</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {(dataset.versions ?? []).map(v => (
                <tr key={v.version} data-version={v.version} title={v.path}>
                  <td>{v.version}</td>
                  <td>{formatTime(v.created)}</td>
                  <td>{formatBytes(v.size_bytes)}</td>
                  <td>
                    <a
                      href={downloadUrl(dataset.id, v.version)}
                      download
                      data-testid="ytung-dataset-version-download"
                    >
                      {trans.__('Download')}
                    </a>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}

/** The form fields an upload was started with (those of a new dataset). */
function startedFields(entry: IRememberedUpload): IDatasetFields {
  const start = entry.start;
  return {
    name: String(start.name ?? ''),
    description: String(start.description ?? ''),
    labeled: start.labeled !== false,
    permission: start.permission === 'public' ? 'public' : 'private'
  };
}

function DatasetForm({
  trans,
  editing,
  versionOf,
  resume,
  memory,
  chunkBytes,
  onDone,
  onCancel
}: {
  trans: TranslationBundle;
  editing?: IDataset;
  versionOf?: IDatasetRef;
  /** an unfinished upload to go on with once its file is picked again */
  resume?: IRememberedUpload;
  memory: UploadMemory;
  chunkBytes: number;
  onDone: (dataset: IDataset) => void;
  onCancel: () => void;
}): JSX.Element {
  const [fields, setFields] = useState<IDatasetFields>(
    resume && !resume.versionOf
      ? startedFields(resume)
      : {
          name: editing?.name ?? '',
          description: editing?.description ?? '',
          labeled: editing?.labeled ?? true,
          permission: editing?.permission ?? 'private'
        }
  );
  const [source, setSource] = useState<'upload' | 'path'>('upload');
  const [file, setFile] = useState<File | null>(null);
  const [resuming, setResuming] = useState<IRememberedUpload | null>(null);
  const [path, setPath] = useState('');
  const [progress, setProgress] = useState<{ sent: number; total: number } | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<IError | null>(null);
  const cancelled = useRef(false);
  const mounted = useRef(true);
  useEffect(() => {
    mounted.current = true;
    return () => {
      mounted.current = false;
      cancelled.current = true;
    };
  }, []);

  const problem = (): string | null => {
    if (!versionOf && !fields.name.trim()) {
      return trans.__('Enter the dataset name');
    }
    if (editing) {
      return null;
    }
    if (source === 'upload') {
      if (!file) {
        return trans.__('Choose an archive to upload');
      }
      if (!isArchive(file.name)) {
        return trans.__('Only .zip, .tar and .tar.gz archives can be uploaded');
      }
    } else if (!path.trim().startsWith('/')) {
      return trans.__('Enter an absolute path on the server');
    }
    return null;
  };

  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    const invalid = problem();
    if (invalid) {
      setError({ status: 0, message: invalid });
      return;
    }
    setError(null);
    setBusy(true);
    cancelled.current = false;
    const body = versionOf
      ? { dataset_id: versionOf.id }
      : { ...fields, name: fields.name.trim() };
    try {
      let dataset: IDataset;
      if (editing) {
        dataset = await requestAPI<IDataset>(`datasets/${editing.id}`, {
          method: 'PATCH',
          body: JSON.stringify(body)
        });
      } else if (source === 'path') {
        dataset = versionOf
          ? await requestAPI<IDataset>(`datasets/${versionOf.id}/versions`, {
              method: 'POST',
              body: JSON.stringify({ path: path.trim() })
            })
          : await requestAPI<IDataset>('datasets', {
              method: 'POST',
              body: JSON.stringify({ ...body, path: path.trim() })
            });
      } else {
        dataset = await uploadArchive(
          file!,
          body,
          (sent, total) => mounted.current && setProgress({ sent, total }),
          () => cancelled.current,
          chunkBytes,
          { memory, versionOf }
        );
      }
      if (mounted.current) {
        onDone(dataset);
      }
    } catch (e) {
      if (mounted.current) {
        const err = asError(e);
        setError(
          cancelled.current ? { status: 0, message: trans.__('The upload was cancelled') } : err
        );
        setProgress(null);
      }
    } finally {
      if (mounted.current) {
        setBusy(false);
      }
    }
  };

  /** A picked file with an unfinished upload for the same dataset goes on with it. */
  const pick = (picked: File | null) => {
    setFile(picked);
    const entry = picked ? memory.find(picked) : null;
    const same = entry !== null && (entry.versionOf?.id ?? null) === (versionOf?.id ?? null);
    setResuming(same ? entry : null);
    if (same && !versionOf) {
      setFields(startedFields(entry!));
    }
  };

  const percent = progress && progress.total ? Math.floor((100 * progress.sent) / progress.total) : 0;
  const set = (patch: Partial<IDatasetFields>) => setFields(old => ({ ...old, ...patch }));

  return (
    <form className="ytung-datasets-form" data-testid="ytung-dataset-form" onSubmit={submit}>
      <h3 className="ytung-heading">
        {editing
          ? trans.__('Edit dataset %1', editing.name)
          : versionOf
            ? trans.__('New version of %1', versionOf.name)
            : trans.__('Add dataset')}
      </h3>
      {!versionOf && (
        <>
          <label>
            {trans.__('Dataset name')}
            <input
              className="jp-mod-styled"
              data-testid="ytung-dataset-form-name"
              value={fields.name}
              maxLength={64}
              onChange={e => set({ name: e.target.value })}
            />
          </label>
          <label>
            {trans.__('Description')}
            <textarea
              className="jp-mod-styled"
              data-testid="ytung-dataset-form-description"
              value={fields.description}
              maxLength={2000}
              onChange={e => set({ description: e.target.value })}
            />
          </label>
          <label className="ytung-datasets-check">
            <input
              type="checkbox"
              data-testid="ytung-dataset-form-labeled"
              checked={fields.labeled}
              onChange={e => set({ labeled: e.target.checked })}
            />
            {trans.__('Labeled')}
          </label>
          <label>
            {trans.__('Permission')}
            <select
              className="jp-mod-styled"
              data-testid="ytung-dataset-form-permission"
              value={fields.permission}
              onChange={e => set({ permission: e.target.value as 'public' | 'private' })}
            >
              <option value="private">{trans.__('Private')}</option>
              <option value="public">{trans.__('Public')}</option>
            </select>
          </label>
        </>
      )}
      {!editing && (
        <fieldset className="ytung-datasets-source">
          <legend>{trans.__('Source')}</legend>
          <label className="ytung-datasets-check">
            <input
              type="radio"
              name="ytung-dataset-source"
              data-testid="ytung-dataset-form-source-upload"
              checked={source === 'upload'}
              onChange={() => setSource('upload')}
            />
            {trans.__('Upload an archive')}
          </label>
          <label className="ytung-datasets-check">
            <input
              type="radio"
              name="ytung-dataset-source"
              data-testid="ytung-dataset-form-source-path"
              checked={source === 'path'}
              onChange={() => setSource('path')}
            />
            {trans.__('Server path')}
          </label>
          {source === 'upload' ? (
            <input
              key="file"
              type="file"
              accept={ARCHIVE_TYPES.join(',')}
              data-testid="ytung-dataset-form-file"
              onChange={e => pick(e.target.files?.[0] ?? null)}
            />
          ) : (
            <input
              key="path"
              className="jp-mod-styled"
              data-testid="ytung-dataset-form-path"
              placeholder="/mnt/datasets/coco"
              value={path}
              onChange={e => setPath(e.target.value)}
            />
          )}
          <div className="ytung-datasets-hint">
            {source === 'upload'
              ? trans.__('A .zip, .tar or .tar.gz archive of up to 2 GB; it is unpacked on the server')
              : trans.__('A directory on the server that the administrator allows')}
          </div>
          {source === 'upload' && resume && !resuming && (
            <div className="ytung-datasets-hint" data-testid="ytung-dataset-form-resume">
              {trans.__('Pick %1 again to go on with its upload', resume.file.name)}
            </div>
          )}
          {source === 'upload' && resuming && (
            <div className="ytung-datasets-hint" data-testid="ytung-dataset-form-resuming">
              {trans.__('This file was partly uploaded: the upload goes on from where it stopped')}
            </div>
          )}
        </fieldset>
      )}
      {progress && (
        <div className="ytung-datasets-progress" data-testid="ytung-dataset-progress">
          <progress max={100} value={percent} />
          <span data-testid="ytung-dataset-progress-text">
            {progress.sent >= progress.total
              ? trans.__('Unpacking…')
              : trans.__('%1% of %2', percent, formatBytes(progress.total))}
          </span>
        </div>
      )}
      {error && (
        <ErrorBox
          title={editing ? trans.__('Could not save the dataset') : trans.__('Could not add the dataset')}
          error={error}
          trans={trans}
          testid="ytung-dataset-form-error"
        />
      )}
      <div className="ytung-datasets-actions">
        <button
          type="submit"
          className="jp-mod-styled jp-mod-accept"
          data-testid="ytung-dataset-form-submit"
          disabled={busy}
        >
          {editing ? trans.__('Save') : source === 'upload' ? trans.__('Upload') : trans.__('Add')}
        </button>
        <button
          type="button"
          className="jp-mod-styled"
          data-testid="ytung-dataset-form-cancel"
          onClick={() => {
            if (busy) {
              cancelled.current = true;
            } else {
              onCancel();
            }
          }}
        >
          {trans.__('Cancel')}
        </button>
      </div>
    </form>
  );
}

/** The Datasets section as a Lumino widget. */
export class DatasetsPanel extends SectionPanel {
  constructor(trans: TranslationBundle) {
    super('ytung-datasets-panel', trans.__('Datasets'), () => <Datasets trans={trans} />);
  }
}
