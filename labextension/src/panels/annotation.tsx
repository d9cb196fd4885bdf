/**
 * The Annotation section (SPEC S4–S7, 数据标注): annotation projects (ID, name, description;
 * create, edit, delete), the annotation datasets of a project (create from an unlabeled
 * dataset with classes and object types, label, convert to COCO with progress, delete).
 *
 * "Label" opens the labeling tool (labeling/widget.ts) in the main area through `onOpen`.
 */
import type { TranslationBundle } from '@jupyterlab/translation';
import React, { useCallback, useEffect, useRef, useState } from 'react';

import { requestAPI, YtungAPIError } from '../handler';
import { SectionPanel } from './section';
import type { IAnnotationDataset } from '../labeling/widget';

export interface IProject {
  id: number;
  name: string;
  description: string;
  owner: string;
  datasets: number;
  can_manage: boolean;
}

/** A dataset that may be the source of an annotation dataset (`GET annotations/sources`). */
export interface ISource {
  id: number;
  name: string;
  labeled?: boolean;
}

export interface IExport {
  id: number;
  status: 'running' | 'completed' | 'failed';
  done: number;
  total: number;
  progress: number;
  annotations: number;
  message: string;
  result: { dataset_id: number; version: number } | null;
}

/** How often a running export is polled (ms). */
export const EXPORT_POLL_MS = 1000;

/** The name (required) and description fields of a form. */
function NameDescriptionFields({
  nameLabel,
  nameTestId,
  name,
  onName,
  descriptionLabel,
  descriptionTestId,
  description,
  onDescription,
  descriptionRequired = false
}: {
  nameLabel: string;
  nameTestId: string;
  name: string;
  onName: (value: string) => void;
  descriptionLabel: string;
  descriptionTestId: string;
  description: string;
  onDescription: (value: string) => void;
  descriptionRequired?: boolean;
}): JSX.Element {
  return (
    <>
      <label>
        {nameLabel}
        <input
          className="jp-mod-styled"
          data-testid={nameTestId}
          value={name}
          required
          onChange={e => onName(e.target.value)}
        />
      </label>
      <label>
        {descriptionLabel}
        <textarea
          className="jp-mod-styled"
          data-testid={descriptionTestId}
          value={description}
          required={descriptionRequired}
          onChange={e => onDescription(e.target.value)}
        />
      </label>
    </>
  );
}

function errorText(error: unknown, trans: TranslationBundle): string {
  const text = String((error as Error)?.message ?? error);
  return error instanceof YtungAPIError && error.status
    ? trans.__('Error %1: %2', error.status, text)
    : text;
}

export interface IAnnotationProps {
  trans: TranslationBundle;
  /** open the labeling tool for a dataset */
  onOpen: (dataset: IAnnotationDataset) => void;
  /** polling period of exports (tests make it short) */
  pollInterval?: number;
}

/** Projects, then the datasets of the chosen project. */
export function Annotation({ trans, onOpen, pollInterval = EXPORT_POLL_MS }: IAnnotationProps) {
  const [projects, setProjects] = useState<IProject[] | null>(null);
  const [project, setProject] = useState<IProject | null>(null);
  const [error, setError] = useState<string | null>(null);

  const load = useCallback(async () => {
    try {
      setProjects(await requestAPI<IProject[]>('annotations/projects'));
      setError(null);
    } catch (e) {
      setError(errorText(e, trans));
    }
  }, [trans]);

  useEffect(() => {
    void load();
  }, [load]);

  return (
    <div className="ytung-annotation" data-testid="ytung-annotation">
      {error && (
        <div className="ytung-error" role="alert" data-testid="ytung-annotation-error">
          {error}
        </div>
      )}
      {project ? (
        <ProjectDatasets
          project={project}
          trans={trans}
          onBack={() => {
            setProject(null);
            void load();
          }}
          onOpen={onOpen}
          pollInterval={pollInterval}
        />
      ) : (
        <Projects
          projects={projects}
          trans={trans}
          reload={load}
          onChoose={setProject}
          onError={setError}
        />
      )}
    </div>
  );
}

function ProjectForm({
  trans,
  initial,
  submitLabel,
  onSubmit,
  onCancel
}: {
  trans: TranslationBundle;
  initial?: IProject;
  submitLabel: string;
  onSubmit: (body: { name: string; description: string }) => Promise<void>;
  onCancel: () => void;
}) {
  const [name, setName] = useState(initial?.name ?? '');
  const [description, setDescription] = useState(initial?.description ?? '');
  const [error, setError] = useState<string | null>(null);
  return (
    <form
      className="ytung-form"
      data-testid="ytung-project-form"
      onSubmit={e => {
        e.preventDefault();
        onSubmit({ name, description }).catch(err => setError(errorText(err, trans)));
      }}
    >
      <NameDescriptionFields
        nameLabel={trans.__('Project name')}
        nameTestId="ytung-project-name"
        name={name}
        onName={setName}
        descriptionLabel={trans.__('Description')}
        descriptionTestId="ytung-project-description"
        description={description}
        onDescription={setDescription}
      />
      {error && (
        <div className="ytung-error" role="alert">
          {error}
        </div>
      )}
      <div className="ytung-form-buttons">
        <button type="button" className="jp-mod-styled" onClick={onCancel}>
          {trans.__('Cancel')}
        </button>
        <button
          type="submit"
          className="jp-mod-styled jp-mod-accept"
          data-testid="ytung-project-save"
        >
          {submitLabel}
        </button>
      </div>
    </form>
  );
}

function Projects({
  projects,
  trans,
  reload,
  onChoose,
  onError
}: {
  projects: IProject[] | null;
  trans: TranslationBundle;
  reload: () => Promise<void>;
  onChoose: (p: IProject) => void;
  onError: (message: string | null) => void;
}) {
  const [creating, setCreating] = useState(false);
  const [editing, setEditing] = useState<number | null>(null);
  return (
    <>
      <div className="ytung-annotation-bar">
        <h3 className="ytung-heading">{trans.__('Annotation projects')}</h3>
        <button
          className="jp-mod-styled jp-mod-accept"
          data-testid="ytung-project-new"
          onClick={() => setCreating(true)}
        >
          {trans.__('New project')}
        </button>
      </div>
      {creating && (
        <ProjectForm
          trans={trans}
          submitLabel={trans.__('Create')}
          onCancel={() => setCreating(false)}
          onSubmit={async body => {
            await requestAPI('annotations/projects', {
              method: 'POST',
              body: JSON.stringify(body)
            });
            setCreating(false);
            await reload();
          }}
        />
      )}
      {projects === null ? (
        <div className="ytung-empty">{trans.__('Loading…')}</div>
      ) : projects.length === 0 ? (
        <div className="ytung-empty" data-testid="ytung-projects-empty">
          {trans.__('No annotation projects yet')}
        </div>
      ) : (
        <table className="ytung-table" data-testid="ytung-projects">
          <thead>
            <tr>
              <th>{trans.__('Project ID')}</th>
              <th>{trans.__('Project name')}</th>
              <th>{trans.__('Description')}</th>
              <th>{trans.__('Actions')}</th>
            </tr>
          </thead>
          <tbody>
            {projects.map(p =>
              editing === p.id ? (
                <tr key={p.id}>
                  <td colSpan={4}>
                    <ProjectForm
                      trans={trans}
                      initial={p}
                      submitLabel={trans.__('Save')}
                      onCancel={() => setEditing(null)}
                      onSubmit={async body => {
                        await requestAPI(`annotations/projects/${p.id}`, {
                          method: 'PATCH',
                          body: JSON.stringify(body)
                        });
                        setEditing(null);
                        await reload();
                      }}
                    />
                  </td>
                </tr>
              ) : (
                <tr key={p.id} data-testid="ytung-project" data-project={p.id}>
                  <td>
                    <a
                      href="#"
                      data-testid="ytung-project-open"
                      title={trans.__('Open the datasets of project %1', p.name)}
                      onClick={e => {
                        e.preventDefault();
                        onChoose(p);
                      }}
                    >
                      {p.id}
                    </a>
                  </td>
                  <td>{p.name}</td>
                  <td className="ytung-annotation-description">{p.description}</td>
                  <td className="ytung-actions">
                    {p.can_manage && (
                      <>
                        <button
                          className="jp-mod-styled"
                          data-testid="ytung-project-edit"
                          onClick={() => setEditing(p.id)}
                        >
                          {trans.__('Edit')}
                        </button>
                        <button
                          className="jp-mod-styled jp-mod-warn"
                          data-testid="ytung-project-delete"
                          onClick={async () => {
                            if (!window.confirm(trans.__('Delete project %1 and its datasets?', p.name))) {
                              return;
                            }
                            try {
                              await requestAPI(`annotations/projects/${p.id}`, {
                                method: 'DELETE'
                              });
                              onError(null);
                            } catch (err) {
                              onError(errorText(err, trans));
                            }
                            await reload();
                          }}
                        >
                          {trans.__('Delete')}
                        </button>
                      </>
                    )}
                  </td>
                </tr>
              )
            )}
          </tbody>
        </table>
      )}
    </>
  );
}

function DatasetForm({
  project,
  trans,
  onDone,
  onCancel
}: {
  project: IProject;
  trans: TranslationBundle;
  onDone: () => Promise<void>;
  onCancel: () => void;
}) {
  const [sources, setSources] = useState<ISource[] | null>(null);
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const [isPublic, setPublic] = useState(false);
  const [source, setSource] = useState('');
  const [types, setTypes] = useState<string[]>(['bbox', 'polygon']);
  const [classes, setClasses] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    requestAPI<ISource[]>('annotations/sources')
      .then(found => {
        setSources(found);
        if (found.length) {
          setSource(String(found[0].id));
        }
      })
      .catch(err => setError(errorText(err, trans)));
  }, [trans]);

  const toggleType = (type: string) =>
    setTypes(old => (old.includes(type) ? old.filter(t => t !== type) : [...old, type]));

  return (
    <form
      className="ytung-form"
      data-testid="ytung-ann-dataset-form"
      onSubmit={async e => {
        e.preventDefault();
        setBusy(true);
        setError(null);
        try {
          await requestAPI(`annotations/projects/${project.id}/datasets`, {
            method: 'POST',
            body: JSON.stringify({
              name,
              description,
              public: isPublic,
              source: Number(source),
              data_type: 'image',
              object_types: types,
              classes: classes
                .split(/[,，\n]/)
                .map(c => c.trim())
                .filter(c => c)
            })
          });
          await onDone();
        } catch (err) {
          setError(errorText(err, trans));
        } finally {
          setBusy(false);
        }
      }}
    >
      <NameDescriptionFields
        nameLabel={trans.__('Dataset name')}
        nameTestId="ytung-ann-dataset-name"
        name={name}
        onName={setName}
        descriptionLabel={trans.__('Dataset description')}
        descriptionTestId="ytung-ann-dataset-description"
        description={description}
        onDescription={setDescription}
        descriptionRequired
      />
      <label>
        {trans.__('Permission')}
        <select
          className="jp-mod-styled"
          data-testid="ytung-ann-dataset-permission"
          value={isPublic ? 'public' : 'private'}
          onChange={e => setPublic(e.target.value === 'public')}
        >
          <option value="private">{trans.__('Private')}</option>
          <option value="public">{trans.__('Public')}</option>
        </select>
      </label>
      <label>
        {trans.__('Data source')}
        <select
          className="jp-mod-styled"
          data-testid="ytung-ann-dataset-source"
          value={source}
          required
          onChange={e => setSource(e.target.value)}
        >
          {(sources ?? []).map(s => (
            <option key={s.id} value={String(s.id)}>
              {s.name} (#{s.id})
            </option>
          ))}
        </select>
      </label>
      {sources !== null && sources.length === 0 && (
        <div className="ytung-empty" data-testid="ytung-ann-dataset-no-sources">
          {trans.__('No unlabeled dataset to annotate: add one under Datasets first')}
        </div>
      )}
      <label>
        {trans.__('Dataset type')}
        <select className="jp-mod-styled" value="image" disabled>
          <option value="image">{trans.__('Images')}</option>
        </select>
      </label>
      <fieldset className="ytung-annotation-types">
        <legend>{trans.__('Object types')}</legend>
        {['bbox', 'polygon'].map(type => (
          <label key={type}>
            <input
              type="checkbox"
              data-testid={`ytung-ann-dataset-type-${type}`}
              checked={types.includes(type)}
              onChange={() => toggleType(type)}
            />
            {type}
          </label>
        ))}
      </fieldset>
      <label>
        {trans.__('Classes (comma-separated)')}
        <input
          className="jp-mod-styled"
          data-testid="ytung-ann-dataset-classes"
          value={classes}
          required
          placeholder={trans.__('e.g. cat, dog')}
          onChange={e => setClasses(e.target.value)}
        />
      </label>
      {error && (
        <div className="ytung-error" role="alert" data-testid="ytung-ann-dataset-form-error">
          {error}
        </div>
      )}
      <div className="ytung-form-buttons">
        <button type="button" className="jp-mod-styled" onClick={onCancel}>
          {trans.__('Cancel')}
        </button>
        <button
          type="submit"
          className="jp-mod-styled jp-mod-accept"
          data-testid="ytung-ann-dataset-save"
          disabled={busy}
        >
          {busy ? trans.__('Creating…') : trans.__('Create')}
        </button>
      </div>
    </form>
  );
}

function ProjectDatasets({
  project,
  trans,
  onBack,
  onOpen,
  pollInterval
}: {
  project: IProject;
  trans: TranslationBundle;
  onBack: () => void;
  onOpen: (d: IAnnotationDataset) => void;
  pollInterval: number;
}) {
  const [datasets, setDatasets] = useState<IAnnotationDataset[] | null>(null);
  const [creating, setCreating] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const load = useCallback(async () => {
    try {
      setDatasets(
        await requestAPI<IAnnotationDataset[]>(`annotations/projects/${project.id}/datasets`)
      );
      setError(null);
    } catch (e) {
      setError(errorText(e, trans));
    }
  }, [project.id, trans]);

  useEffect(() => {
    void load();
  }, [load]);

  return (
    <>
      <div className="ytung-annotation-bar">
        <button className="jp-mod-styled" data-testid="ytung-annotation-back" onClick={onBack}>
          {trans.__('‹ Projects')}
        </button>
        <h3 className="ytung-heading" data-testid="ytung-annotation-project">
          {project.name}
        </h3>
        <button
          className="jp-mod-styled"
          data-testid="ytung-ann-datasets-refresh"
          title={trans.__('Load the datasets and their progress again')}
          onClick={() => void load()}
        >
          {trans.__('Refresh')}
        </button>
        <button
          className="jp-mod-styled jp-mod-accept"
          data-testid="ytung-ann-dataset-new"
          onClick={() => setCreating(true)}
        >
          {trans.__('New dataset')}
        </button>
      </div>
      {error && (
        <div className="ytung-error" role="alert">
          {error}
        </div>
      )}
      {creating && (
        <DatasetForm
          project={project}
          trans={trans}
          onCancel={() => setCreating(false)}
          onDone={async () => {
            setCreating(false);
            await load();
          }}
        />
      )}
      {datasets === null ? (
        <div className="ytung-empty">{trans.__('Loading…')}</div>
      ) : datasets.length === 0 ? (
        <div className="ytung-empty" data-testid="ytung-ann-datasets-empty">
          {trans.__('No annotation datasets in this project yet')}
        </div>
      ) : (
        <ul className="ytung-annotation-datasets">
          {datasets.map(d => (
            <DatasetCard
              key={d.id}
              dataset={d}
              trans={trans}
              onOpen={onOpen}
              reload={load}
              pollInterval={pollInterval}
            />
          ))}
        </ul>
      )}
    </>
  );
}

function DatasetCard({
  dataset,
  trans,
  onOpen,
  reload,
  pollInterval
}: {
  dataset: IAnnotationDataset;
  trans: TranslationBundle;
  onOpen: (d: IAnnotationDataset) => void;
  reload: () => Promise<void>;
  pollInterval: number;
}) {
  const [exp, setExport] = useState<IExport | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);

  useEffect(
    () => () => {
      if (timer.current) {
        clearTimeout(timer.current);
      }
    },
    []
  );

  const poll = useCallback(
    async (id: number) => {
      try {
        const current = await requestAPI<IExport>(
          `annotations/datasets/${dataset.id}/exports/${id}`
        );
        setExport(current);
        if (current.status === 'running') {
          timer.current = setTimeout(() => void poll(id), pollInterval);
        } else {
          await reload();
        }
      } catch (e) {
        setError(errorText(e, trans));
      }
    },
    [dataset.id, pollInterval, trans, reload]
  );

  const startExport = async () => {
    setError(null);
    try {
      const started = await requestAPI<IExport>(`annotations/datasets/${dataset.id}/exports`, {
        method: 'POST',
        body: JSON.stringify({})
      });
      setExport(started);
      timer.current = setTimeout(() => void poll(started.id), pollInterval);
    } catch (e) {
      setError(errorText(e, trans));
    }
  };

  return (
    <li className="ytung-annotation-dataset" data-testid="ytung-ann-dataset" data-dataset={dataset.id}>
      <div className="ytung-annotation-dataset-header">
        <span className="ytung-annotation-dataset-name">{dataset.name}</span>
        <span className="ytung-badge">{dataset.public ? trans.__('Public') : trans.__('Private')}</span>
      </div>
      <div className="ytung-annotation-description">{dataset.description}</div>
      <div className="ytung-annotation-counts" data-testid="ytung-ann-dataset-counts">
        {trans.__('%1 of %2 labeled', dataset.labeled, dataset.images)}
      </div>
      <div className="ytung-annotation-classes">{dataset.classes.join(', ')}</div>
      <div className="ytung-actions">
        <button
          className="jp-mod-styled jp-mod-accept"
          data-testid="ytung-ann-dataset-label"
          onClick={() => onOpen(dataset)}
        >
          {trans.__('Label')}
        </button>
        <button
          className="jp-mod-styled"
          data-testid="ytung-ann-dataset-export"
          disabled={exp?.status === 'running'}
          onClick={() => void startExport()}
          title={trans.__('Export the labeled images as a COCO dataset usable for training')}
        >
          {trans.__('Convert to COCO')}
        </button>
        <label
          className="jp-mod-styled ytung-annotation-import"
          title={trans.__('Label the images from a COCO annotations file (matched by file name)')}
        >
          {trans.__('Import COCO')}
          <input
            type="file"
            accept=".json,application/json"
            hidden
            data-testid="ytung-ann-dataset-import"
            onChange={async e => {
              const file = e.target.files?.[0];
              e.target.value = '';
              if (!file) {
                return;
              }
              setError(null);
              setNotice(null);
              try {
                const result = await requestAPI<{ images: number; annotations: number }>(
                  `annotations/datasets/${dataset.id}/coco`,
                  { method: 'POST', body: await file.text() }
                );
                setNotice(
                  trans.__('Imported %1 annotations on %2 images', result.annotations, result.images)
                );
                await reload();
              } catch (err) {
                setError(errorText(err, trans));
              }
            }}
          />
        </label>
        {dataset.can_manage && (
          <button
            className="jp-mod-styled jp-mod-warn"
            data-testid="ytung-ann-dataset-delete"
            onClick={async () => {
              if (!window.confirm(trans.__('Delete annotation dataset %1?', dataset.name))) {
                return;
              }
              try {
                await requestAPI(`annotations/datasets/${dataset.id}`, { method: 'DELETE' });
              } catch (e) {
                setError(errorText(e, trans));
              }
              await reload();
            }}
          >
            {trans.__('Delete')}
          </button>
        )}
      </div>
      {exp && (
        <div
          className={`ytung-annotation-export ytung-mod-${exp.status}`}
          data-testid="ytung-ann-dataset-export-status"
          data-status={exp.status}
        >
          <progress max={1} value={exp.progress} />
          {exp.status === 'running' &&
            trans.__('Converting: %1 of %2 images', exp.done, exp.total)}
          {exp.status === 'completed' &&
            exp.result &&
            trans.__(
              'Done: %1 annotations in dataset #%2 version %3',
              exp.annotations,
              exp.result.dataset_id,
              exp.result.version
            )}
          {exp.status === 'failed' && trans.__('Failed: %1', exp.message)}
        </div>
      )}
      {notice && (
        <div className="ytung-annotation-notice" role="status" data-testid="ytung-ann-dataset-notice">
          {notice}
        </div>
      )}
      {error && (
        <div className="ytung-error" role="alert" data-testid="ytung-ann-dataset-error">
          {error}
        </div>
      )}
    </li>
  );
}

/** The Annotation section as a Lumino widget. */
export class AnnotationPanel extends SectionPanel {
  constructor(trans: TranslationBundle, onOpen: (dataset: IAnnotationDataset) => void) {
    super('ytung-annotation-panel', trans.__('Annotation'), () => (
      <Annotation trans={trans} onOpen={onOpen} />
    ));
  }
}
