/**
 * The labeling tool in the Lab's main area (SPEC S6): the task list of an annotation dataset
 * on the left, the editor (editor.ts) in the middle, Submit at the bottom.
 *
 * Submit saves the image's shapes (the service checks every one; a refusal shows its message
 * and nothing is saved) and opens the next unlabeled image. Leaving an image with unsubmitted
 * changes (another image, closing the tab, leaving the page) asks first, and keeps nothing.
 */
import type { JupyterFrontEnd } from '@jupyterlab/application';
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import type { TranslationBundle } from '@jupyterlab/translation';
import type { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { requestAPI, YtungAPIError } from '../handler';
import { type IShape, LabelingEditor, type ShapeType } from './editor';

/** An annotation dataset as `GET /ytung/api/annotations/datasets/<id>` answers it. */
export interface IAnnotationDataset {
  id: number;
  project_id: number;
  name: string;
  description: string;
  owner: string;
  public: boolean;
  object_types: ShapeType[];
  classes: string[];
  images: number;
  labeled: number;
  unlabeled: number;
  can_manage: boolean;
}

/** One task (image) of the task list. */
export interface IAnnotationImage {
  id: number;
  file_name: string;
  width: number;
  height: number;
  state: 'labeled' | 'unlabeled';
  shape_count: number;
  shapes?: IShape[];
}

/** How many tasks one page of the list loads. */
export const PAGE_SIZE = 500;

/** The URL of an image file, served through the server extension. */
export function imageURL(datasetId: number, imageId: number): string {
  const settings = ServerConnection.makeSettings();
  return URLExt.join(
    settings.baseUrl,
    'ytung',
    'api',
    'annotations',
    'datasets',
    String(datasetId),
    'images',
    String(imageId),
    'file'
  );
}

function message(error: unknown): string {
  const text = String((error as Error)?.message ?? error);
  return error instanceof YtungAPIError && error.status ? `${error.status}: ${text}` : text;
}

export class LabelingWidget extends Widget {
  readonly datasetId: number;
  editor: LabelingEditor | null = null;
  info: IAnnotationDataset | null = null;
  tasks: IAnnotationImage[] = [];
  total = 0;
  current: IAnnotationImage | null = null;

  private readonly _trans: TranslationBundle;
  private readonly _title: HTMLElement;
  private readonly _progress: HTMLElement;
  private readonly _taskList: HTMLOListElement;
  private readonly _more: HTMLButtonElement;
  private readonly _filter: HTMLSelectElement;
  private readonly _stage: HTMLElement;
  private readonly _status: HTMLElement;
  private readonly _submit: HTMLButtonElement;
  private _busy = false;

  constructor(options: { datasetId: number; trans: TranslationBundle; name?: string }) {
    super();
    this.datasetId = options.datasetId;
    this._trans = options.trans;
    const trans = this._trans;
    this.id = `ytung-labeling-${options.datasetId}`;
    this.addClass('ytung-labeling');
    this.title.label = trans.__('Label: %1', options.name ?? String(options.datasetId));
    this.title.closable = true;

    const header = this._el('div', 'ytung-labeling-header');
    this._title = this._el('span', 'ytung-labeling-title', options.name ?? '');
    this._progress = this._el('span', 'ytung-labeling-progress');
    this._progress.setAttribute('data-testid', 'ytung-labeling-progress');
    header.append(this._title, this._progress);

    const main = this._el('div', 'ytung-labeling-main');
    const tasks = this._el('div', 'ytung-labeling-tasks');
    tasks.appendChild(this._el('div', 'ytung-labeling-side-title', trans.__('Task list')));
    this._filter = document.createElement('select');
    this._filter.className = 'ytung-labeling-filter';
    this._filter.setAttribute('data-testid', 'ytung-labeling-filter');
    for (const [value, label] of [
      ['', trans.__('All')],
      ['unlabeled', trans.__('Unlabeled')],
      ['labeled', trans.__('Labeled')]
    ]) {
      const option = document.createElement('option');
      option.value = value;
      option.textContent = label;
      this._filter.appendChild(option);
    }
    this._filter.addEventListener('change', () => void this.loadTasks());
    tasks.appendChild(this._filter);
    this._taskList = document.createElement('ol');
    this._taskList.className = 'ytung-labeling-task-list';
    this._taskList.setAttribute('data-testid', 'ytung-labeling-tasks');
    tasks.appendChild(this._taskList);
    this._more = document.createElement('button');
    this._more.className = 'jp-mod-styled ytung-labeling-more';
    this._more.textContent = trans.__('More');
    this._more.addEventListener('click', () => void this.loadTasks(true));
    tasks.appendChild(this._more);
    this._stage = this._el('div', 'ytung-labeling-center');
    main.append(tasks, this._stage);

    const footer = this._el('div', 'ytung-labeling-footer');
    this._status = this._el('span', 'ytung-labeling-status');
    this._status.setAttribute('data-testid', 'ytung-labeling-status');
    this._status.setAttribute('role', 'status');
    this._submit = document.createElement('button');
    this._submit.className = 'jp-mod-styled jp-mod-accept ytung-labeling-submit';
    this._submit.textContent = trans.__('Submit');
    this._submit.title = trans.__('Save the objects of this image and open the next one (Ctrl+Enter)');
    this._submit.setAttribute('data-testid', 'ytung-labeling-submit');
    this._submit.disabled = true;
    this._submit.addEventListener('click', () => void this.submit());
    footer.append(this._status, this._submit);

    this.node.append(header, main, footer);
    this.node.addEventListener('keydown', event => {
      if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        void this.submit();
      }
    });
  }

  private _el(tag: string, className: string, text?: string): HTMLElement {
    const node = document.createElement(tag);
    node.className = className;
    if (text !== undefined) {
      node.textContent = text;
    }
    return node;
  }

  private _beforeUnload = (event: BeforeUnloadEvent): void => {
    if (this.editor?.dirty) {
      event.preventDefault();
      event.returnValue = '';
    }
  };

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    window.addEventListener('beforeunload', this._beforeUnload);
    if (!this.info) {
      void this.start();
    }
  }

  protected onBeforeDetach(msg: Message): void {
    window.removeEventListener('beforeunload', this._beforeUnload);
    super.onBeforeDetach(msg);
  }

  /** Closing with unsubmitted changes asks first; nothing of them is kept. */
  protected onCloseRequest(msg: Message): void {
    void this.confirmLeave().then(ok => {
      if (ok) {
        this.editor?.markClean();
        super.onCloseRequest(msg);
      }
    });
  }

  dispose(): void {
    this.editor?.dispose();
    this.editor = null;
    window.removeEventListener('beforeunload', this._beforeUnload);
    super.dispose();
  }

  setStatus(text: string, error = false): void {
    this._status.textContent = text;
    this._status.classList.toggle('ytung-mod-error', error);
  }

  /** Load the dataset and the task list, and open the first unlabeled image. */
  async start(): Promise<void> {
    const trans = this._trans;
    try {
      this.info = await requestAPI<IAnnotationDataset>(
        `annotations/datasets/${this.datasetId}`
      );
    } catch (error) {
      this.setStatus(trans.__('Could not load the annotation dataset: %1', message(error)), true);
      return;
    }
    const dataset = this.info;
    this._title.textContent = dataset.name;
    this.title.label = trans.__('Label: %1', dataset.name);
    this.editor = new LabelingEditor(this._stage, {
      classes: dataset.classes,
      objectTypes: dataset.object_types,
      labels: {
        select: trans.__('Select (V)'),
        bbox: trans.__('Box (B)'),
        polygon: trans.__('Polygon (P)'),
        zoomIn: trans.__('Zoom in (+)'),
        zoomOut: trans.__('Zoom out (-)'),
        fit: trans.__('Fit (0)'),
        hideAll: trans.__('Hide all'),
        showAll: trans.__('Show all'),
        shapes: trans.__('Objects'),
        hide: trans.__('Hide (H)'),
        show: trans.__('Show (H)'),
        remove: trans.__('Delete (Del)'),
        className: trans.__('Class'),
        help: trans.__(
          'B: box · P: polygon (click points; Enter or a click on the first point closes) · V: select, drag to move · Del: delete · H: hide/show · 1-9: class · +/-/0: zoom · Esc: cancel'
        )
      },
      onChange: () => this._updateStatus()
    });
    this._updateProgress();
    await this.loadTasks();
    const next = await requestAPI<IAnnotationImage | null>(
      `annotations/datasets/${this.datasetId}/next?after=0`
    ).catch(() => null);
    const first = next ?? this.tasks[0];
    if (first) {
      await this.open(first.id, false);
    } else {
      this.setStatus(trans.__('This dataset has no images'));
    }
  }

  /** Load the first page of tasks again (or, with `more`, the next page). */
  async loadTasks(more = false): Promise<void> {
    const state = this._filter.value;
    const offset = more ? this.tasks.length : 0;
    try {
      const page = await requestAPI<{ total: number; images: IAnnotationImage[] }>(
        `annotations/datasets/${this.datasetId}/images?offset=${offset}&limit=${PAGE_SIZE}${
          state ? `&state=${state}` : ''
        }`
      );
      this.tasks = more ? [...this.tasks, ...page.images] : page.images;
      this.total = page.total;
    } catch (error) {
      this.setStatus(this._trans.__('Could not load the task list: %1', message(error)), true);
      return;
    }
    this._renderTasks();
  }

  private _renderTasks(): void {
    const trans = this._trans;
    const rows = document.createDocumentFragment();
    for (const task of this.tasks) {
      const row = document.createElement('li');
      row.className = `ytung-labeling-task ytung-mod-${task.state}${
        this.current?.id === task.id ? ' ytung-mod-current' : ''
      }`;
      row.setAttribute('data-testid', 'ytung-labeling-task');
      row.setAttribute('data-image', String(task.id));
      row.setAttribute('data-state', task.state);
      row.title = task.file_name;
      const name = this._el('span', 'ytung-labeling-task-name', task.file_name);
      const state = this._el(
        'span',
        'ytung-labeling-task-state',
        task.state === 'labeled' ? trans.__('Labeled') : trans.__('Unlabeled')
      );
      row.append(name, state);
      row.addEventListener('click', () => void this.open(task.id));
      rows.appendChild(row);
    }
    this._taskList.replaceChildren(rows);
    this._more.hidden = this.tasks.length >= this.total;
  }

  private _updateProgress(): void {
    if (this.info) {
      this._progress.textContent = this._trans.__(
        '%1 of %2 labeled',
        this.info.labeled,
        this.info.images
      );
    }
  }

  private _updateStatus(): void {
    if (this.current && this.editor) {
      const count = this.editor.shapes.length;
      this.setStatus(
        this.editor.dirty
          ? this._trans.__('%1: %2 objects, not submitted', this.current.file_name, count)
          : this._trans.__('%1: %2 objects', this.current.file_name, count)
      );
    }
  }

  /** Ask before unsubmitted changes are dropped; true: go on. */
  async confirmLeave(): Promise<boolean> {
    if (!this.editor?.dirty) {
      return true;
    }
    const trans = this._trans;
    const result = await showDialog({
      title: trans.__('Discard unsubmitted changes?'),
      body: trans.__('The objects of this image are saved only by Submit.'),
      buttons: [
        Dialog.cancelButton({ label: trans.__('Stay') }),
        Dialog.warnButton({ label: trans.__('Discard') })
      ]
    });
    return result.button.accept;
  }

  /** Show image `imageId` with its submitted shapes (asking first if changes would be lost). */
  async open(imageId: number, ask = true): Promise<void> {
    if (!this.editor || (ask && !(await this.confirmLeave()))) {
      return;
    }
    let image: IAnnotationImage;
    try {
      image = await requestAPI<IAnnotationImage>(
        `annotations/datasets/${this.datasetId}/images/${imageId}`
      );
    } catch (error) {
      this.setStatus(this._trans.__('Could not open the image: %1', message(error)), true);
      return;
    }
    this.current = image;
    this._submit.disabled = false;
    this._renderTasks();
    this.editor.setImage(
      imageURL(this.datasetId, image.id),
      image.width,
      image.height,
      image.shapes ?? []
    );
    this._updateStatus();
    this.editor.node.focus();
  }

  /** Save the current image's shapes and open the next unlabeled image. */
  async submit(): Promise<void> {
    if (!this.editor || !this.current || this._busy) {
      return;
    }
    const trans = this._trans;
    const current = this.current;
    this._busy = true;
    this._submit.disabled = true;
    try {
      const answer = await requestAPI<{ image: IAnnotationImage; next: IAnnotationImage | null }>(
        `annotations/datasets/${this.datasetId}/images/${current.id}`,
        { method: 'PUT', body: JSON.stringify({ shapes: this.editor.getShapes() }) }
      );
      this.editor.markClean();
      const wasUnlabeled = current.state !== 'labeled';
      const task = this.tasks.find(t => t.id === current.id);
      if (task) {
        task.state = 'labeled';
        task.shape_count = answer.image.shape_count;
      }
      if (this.info && wasUnlabeled) {
        this.info.labeled += 1;
        this.info.unlabeled -= 1;
      }
      this._updateProgress();
      if (answer.next) {
        await this.open(answer.next.id, false);
        this.setStatus(trans.__('Submitted %1; this is the next image', current.file_name));
      } else {
        this.current = { ...current, state: 'labeled' };
        this._renderTasks();
        this.setStatus(trans.__('Submitted %1; every image is labeled', current.file_name));
      }
    } catch (error) {
      this.setStatus(trans.__('Not saved: %1', message(error)), true);
    } finally {
      this._busy = false;
      this._submit.disabled = !this.current;
    }
  }
}

/** Open (or bring to front) the labeling tool of `dataset` in the main area. */
export function openLabeling(
  app: JupyterFrontEnd,
  trans: TranslationBundle,
  dataset: { id: number; name: string }
): LabelingWidget {
  const id = `ytung-labeling-${dataset.id}`;
  for (const widget of app.shell.widgets('main')) {
    if (widget.id === id && widget instanceof LabelingWidget) {
      app.shell.activateById(id);
      return widget;
    }
  }
  const widget = new LabelingWidget({ datasetId: dataset.id, trans, name: dataset.name });
  app.shell.add(widget, 'main');
  app.shell.activateById(id);
  return widget;
}
