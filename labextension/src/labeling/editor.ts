/**
 * The labeling editor (SPEC S6): one canvas that shows an image and its shapes, with tools to
 * draw boxes and polygons, select, move, delete, hide/show, zoom and pan, and keyboard shortcuts.
 *
 * It depends on nothing but the DOM, so that the same code runs in the Lab's main-area widget
 * and, compiled to plain JavaScript (`ytung_widgets/labeling_editor.js`, kept in step by
 * `tests/lab/test_annotation_ext.py`), in the notebook widget. Coordinates of shapes are
 * image pixels; the view maps them to the canvas with a scale and an offset.
 *
 * Performance: everything is drawn on one canvas in one `requestAnimationFrame` callback per
 * change (at most one frame per display refresh), shapes of one class are stroked as one path,
 * and pointer hit-tests look only at the shapes in the grid cells under the pointer.
 */

export type ShapeType = 'bbox' | 'polygon';

/** A shape as the service stores it (`hidden` is the editor's own, never submitted). */
export interface IShape {
  type: ShapeType;
  class: string;
  /** `[x, y, w, h]` of a box */
  bbox?: number[];
  /** `[[x, y], ...]` of a polygon */
  points?: number[][];
  hidden?: boolean;
}

export type Tool = 'select' | 'bbox' | 'polygon';

/** The editor's words (translated by its host). */
export interface IEditorLabels {
  select: string;
  bbox: string;
  polygon: string;
  zoomIn: string;
  zoomOut: string;
  fit: string;
  hideAll: string;
  showAll: string;
  shapes: string;
  hide: string;
  show: string;
  remove: string;
  className: string;
  help: string;
}

export const DEFAULT_LABELS: IEditorLabels = {
  select: 'Select (V)',
  bbox: 'Box (B)',
  polygon: 'Polygon (P)',
  zoomIn: 'Zoom in (+)',
  zoomOut: 'Zoom out (-)',
  fit: 'Fit (0)',
  hideAll: 'Hide all',
  showAll: 'Show all',
  shapes: 'Objects',
  hide: 'Hide (H)',
  show: 'Show (H)',
  remove: 'Delete (Del)',
  className: 'Class',
  help:
    'B: box · P: polygon (click points; Enter or a click on the first point closes) · V: select, drag to move · Del: delete · H: hide/show · 1-9: class · +/-/0: zoom · Esc: cancel'
};

export interface IEditorOptions {
  classes: string[];
  objectTypes?: ShapeType[];
  labels?: Partial<IEditorLabels>;
  /** called after every change of the shapes (the host marks the image unsaved) */
  onChange?: () => void;
}

const PALETTE = [
  '#e6194b',
  '#3cb44b',
  '#4363d8',
  '#f58231',
  '#911eb4',
  '#42d4f4',
  '#f032e6',
  '#bfef45',
  '#fabed4',
  '#469990'
];

/** The colour of the class at `index`. */
export function classColor(index: number): string {
  return PALETTE[((index % PALETTE.length) + PALETTE.length) % PALETTE.length];
}

// ---------------------------------------------------------------------------------------
// geometry (pure)
// ---------------------------------------------------------------------------------------

/** `[minX, minY, maxX, maxY]` of a shape. */
export function bounds(shape: IShape): [number, number, number, number] {
  if (shape.type === 'bbox') {
    const [x, y, w, h] = shape.bbox!;
    return [x, y, x + w, y + h];
  }
  let minX = Infinity;
  let minY = Infinity;
  let maxX = -Infinity;
  let maxY = -Infinity;
  for (const [x, y] of shape.points!) {
    minX = Math.min(minX, x);
    minY = Math.min(minY, y);
    maxX = Math.max(maxX, x);
    maxY = Math.max(maxY, y);
  }
  return [minX, minY, maxX, maxY];
}

/** Whether `(x, y)` lies inside the polygon (even-odd rule). */
export function pointInPolygon(x: number, y: number, points: number[][]): boolean {
  let inside = false;
  for (let i = 0, j = points.length - 1; i < points.length; j = i++) {
    const [xi, yi] = points[i];
    const [xj, yj] = points[j];
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) {
      inside = !inside;
    }
  }
  return inside;
}

/** Whether `(x, y)` (image pixels) hits the shape, with `tolerance` pixels around its edge. */
export function hits(shape: IShape, x: number, y: number, tolerance = 0): boolean {
  const [x0, y0, x1, y1] = bounds(shape);
  if (x < x0 - tolerance || x > x1 + tolerance || y < y0 - tolerance || y > y1 + tolerance) {
    return false;
  }
  return shape.type === 'bbox' || pointInPolygon(x, y, shape.points!);
}

/** A box from two corners, clamped to the image: `[x, y, w, h]`. */
export function boxFrom(
  ax: number,
  ay: number,
  bx: number,
  by: number,
  width: number,
  height: number
): number[] {
  const clamp = (v: number, hi: number) => Math.min(Math.max(v, 0), hi);
  const x0 = clamp(Math.min(ax, bx), width);
  const y0 = clamp(Math.min(ay, by), height);
  const x1 = clamp(Math.max(ax, bx), width);
  const y1 = clamp(Math.max(ay, by), height);
  return [x0, y0, x1 - x0, y1 - y0];
}

/** The shape moved by `(dx, dy)`, kept inside the `width` × `height` image. */
export function moved(shape: IShape, dx: number, dy: number, width: number, height: number): IShape {
  const [x0, y0, x1, y1] = bounds(shape);
  dx = Math.min(Math.max(dx, -x0), width - x1);
  dy = Math.min(Math.max(dy, -y0), height - y1);
  if (shape.type === 'bbox') {
    const [x, y, w, h] = shape.bbox!;
    return { ...shape, bbox: [x + dx, y + dy, w, h] };
  }
  return { ...shape, points: shape.points!.map(([x, y]) => [x + dx, y + dy]) };
}

/** Round coordinates to 2 decimals (what is submitted). */
function round2(v: number): number {
  return Math.round(v * 100) / 100;
}

/**
 * A uniform grid over the image: each cell lists the shapes whose bounds touch it, so that a
 * pointer looks at a few shapes instead of all of them.
 */
export class ShapeGrid {
  private readonly _cells = new Map<number, number[]>();
  private readonly _cols: number;

  constructor(
    shapes: IShape[],
    width: number,
    height: number,
    readonly cell = Math.max(16, Math.ceil(Math.max(width, height) / 64))
  ) {
    this._cols = Math.max(1, Math.ceil(width / this.cell));
    shapes.forEach((shape, index) => {
      const [x0, y0, x1, y1] = bounds(shape);
      for (let cy = this._c(y0); cy <= this._c(y1); cy++) {
        for (let cx = this._c(x0); cx <= this._c(x1); cx++) {
          const key = cy * this._cols + Math.min(cx, this._cols - 1);
          const list = this._cells.get(key);
          if (list) {
            list.push(index);
          } else {
            this._cells.set(key, [index]);
          }
        }
      }
    });
  }

  private _c(v: number): number {
    return Math.max(0, Math.floor(v / this.cell));
  }

  /** Indices of the shapes that may contain `(x, y)`, in drawing order. */
  candidates(x: number, y: number): number[] {
    if (x < 0 || y < 0) {
      return [];
    }
    return this._cells.get(this._c(y) * this._cols + Math.min(this._c(x), this._cols - 1)) ?? [];
  }
}

/** The topmost visible shape at `(x, y)` (-1: none). */
export function hitTest(
  shapes: IShape[],
  grid: ShapeGrid | null,
  x: number,
  y: number,
  tolerance = 0
): number {
  const candidates = grid ? grid.candidates(x, y) : shapes.map((_, i) => i);
  for (let k = candidates.length - 1; k >= 0; k--) {
    const shape = shapes[candidates[k]];
    if (!shape.hidden && hits(shape, x, y, tolerance)) {
      return candidates[k];
    }
  }
  return -1;
}

// ---------------------------------------------------------------------------------------
// the editor
// ---------------------------------------------------------------------------------------

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className: string,
  text?: string
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

export class LabelingEditor {
  readonly node: HTMLDivElement;
  readonly canvas: HTMLCanvasElement;
  readonly classSelect: HTMLSelectElement;
  readonly list: HTMLOListElement;

  /** the image's size in pixels */
  width = 0;
  height = 0;
  /** view: canvas pixel = image pixel × scale + offset */
  scale = 1;
  offsetX = 0;
  offsetY = 0;

  tool: Tool = 'select';
  currentClass: string;
  selected = -1;
  /** points of the polygon being drawn */
  draft: number[][] = [];
  /** the box being drawn: its first corner and the pointer */
  private _boxStart: number[] | null = null;
  private _pointer: number[] | null = null;
  private _drag: { index: number; x: number; y: number; origin: IShape } | null = null;
  private _pan: { x: number; y: number; ox: number; oy: number } | null = null;

  private _shapes: IShape[] = [];
  private _grid: ShapeGrid | null = null;
  private _image: HTMLImageElement | null = null;
  private _dirty = false;
  private _frame = 0;
  private _listFrame = 0;
  private readonly _labels: IEditorLabels;
  private readonly _toolButtons = new Map<Tool, HTMLButtonElement>();
  private readonly _resize: ResizeObserver | null = null;
  /** drawn frames (tests and benchmarks read it) */
  frames = 0;

  constructor(
    host: HTMLElement,
    private readonly _options: IEditorOptions
  ) {
    this._labels = { ...DEFAULT_LABELS, ..._options.labels };
    this.currentClass = _options.classes[0] ?? '';
    this.node = el('div', 'ytung-labeling-editor');
    this.node.tabIndex = 0;

    const toolbar = el('div', 'ytung-labeling-toolbar');
    this.classSelect = el('select', 'ytung-labeling-class');
    this.classSelect.title = this._labels.className;
    this.classSelect.setAttribute('data-testid', 'ytung-labeling-class');
    _options.classes.forEach((name, i) => {
      const option = el('option', '', `${i < 9 ? `${i + 1}. ` : ''}${name}`);
      option.value = name;
      option.style.color = classColor(i);
      this.classSelect.appendChild(option);
    });
    this.classSelect.addEventListener('change', () => this.setClass(this.classSelect.value));
    toolbar.appendChild(this.classSelect);
    const types = _options.objectTypes ?? ['bbox', 'polygon'];
    const tools: Tool[] = ['select', ...(['bbox', 'polygon'] as Tool[]).filter(t => types.includes(t as ShapeType))];
    for (const tool of tools) {
      const button = this._button(toolbar, this._labels[tool], `tool-${tool}`, () => this.setTool(tool));
      this._toolButtons.set(tool, button);
    }
    this._button(toolbar, this._labels.zoomIn, 'zoom-in', () => this.zoomBy(1.25));
    this._button(toolbar, this._labels.zoomOut, 'zoom-out', () => this.zoomBy(0.8));
    this._button(toolbar, this._labels.fit, 'fit', () => this.fit());
    this._button(toolbar, this._labels.hideAll, 'hide-all', () => this.setAllHidden(true));
    this._button(toolbar, this._labels.showAll, 'show-all', () => this.setAllHidden(false));
    this.node.appendChild(toolbar);

    const body = el('div', 'ytung-labeling-body');
    const stage = el('div', 'ytung-labeling-stage');
    this.canvas = el('canvas', 'ytung-labeling-canvas');
    this.canvas.setAttribute('data-testid', 'ytung-labeling-canvas');
    stage.appendChild(this.canvas);
    body.appendChild(stage);
    const side = el('div', 'ytung-labeling-side');
    side.appendChild(el('div', 'ytung-labeling-side-title', this._labels.shapes));
    this.list = el('ol', 'ytung-labeling-list');
    this.list.setAttribute('data-testid', 'ytung-labeling-list');
    side.appendChild(this.list);
    body.appendChild(side);
    this.node.appendChild(body);
    this.node.appendChild(el('div', 'ytung-labeling-help', this._labels.help));
    host.appendChild(this.node);

    this.canvas.addEventListener('pointerdown', this._onDown);
    this.canvas.addEventListener('pointermove', this._onMove);
    this.canvas.addEventListener('pointerup', this._onUp);
    this.canvas.addEventListener('dblclick', this._onDoubleClick);
    this.canvas.addEventListener('wheel', this._onWheel, { passive: false });
    this.node.addEventListener('keydown', this._onKey);
    if (typeof ResizeObserver !== 'undefined') {
      this._resize = new ResizeObserver(() => this._sizeCanvas());
      this._resize.observe(stage);
    }
    this.setTool('select');
  }

  private _button(parent: HTMLElement, label: string, name: string, onClick: () => void) {
    const button = el('button', `jp-mod-styled ytung-labeling-${name}`, label);
    button.type = 'button';
    button.setAttribute('data-testid', `ytung-labeling-${name}`);
    button.addEventListener('click', () => {
      onClick();
      this.node.focus();
    });
    parent.appendChild(button);
    return button;
  }

  // -- state --------------------------------------------------------------------------------

  /** whether the current image has loaded (until then a grey area of its size is shown) */
  loaded = false;

  /** Show the image at `url` (its size known) with `shapes`; the editor is clean again. */
  setImage(url: string, width: number, height: number, shapes: IShape[]): void {
    this.width = width;
    this.height = height;
    this._shapes = shapes.map(s => ({ ...s, hidden: false }));
    this.selected = -1;
    this.draft = [];
    this._boxStart = null;
    this._dirty = false;
    this._changed(false);
    this.fit();
    // drawn at once with a grey stand-in; the image replaces it when it has loaded
    this._image = null;
    this.loaded = false;
    this.node.dataset.loaded = 'false';
    if (typeof Image !== 'undefined' && url) {
      const image = new Image();
      image.onload = () => {
        if (this._image === null) {
          this._image = image;
          this.loaded = true;
          this.node.dataset.loaded = 'true';
          this.node.dispatchEvent(new Event('ytung-image-loaded'));
          this.requestDraw();
        }
      };
      image.src = url;
    }
  }

  /** The shapes to submit: rounded, without the editor's `hidden` flag. */
  getShapes(): IShape[] {
    return this._shapes.map(s =>
      s.type === 'bbox'
        ? { type: 'bbox', class: s.class, bbox: s.bbox!.map(round2) }
        : { type: 'polygon', class: s.class, points: s.points!.map(p => p.map(round2)) }
    );
  }

  get shapes(): readonly IShape[] {
    return this._shapes;
  }

  /** Whether there are changes not submitted. */
  get dirty(): boolean {
    return this._dirty;
  }

  markClean(): void {
    this._dirty = false;
  }

  setTool(tool: Tool): void {
    this.tool = tool;
    this.draft = [];
    this._boxStart = null;
    this._toolButtons.forEach((button, t) => button.classList.toggle('ytung-mod-active', t === tool));
    this.canvas.style.cursor = tool === 'select' ? 'default' : 'crosshair';
    this.requestDraw();
  }

  setClass(name: string): void {
    if (!this._options.classes.includes(name)) {
      return;
    }
    this.currentClass = name;
    this.classSelect.value = name;
    // with the select tool, the selected shape takes the chosen class; while drawing, the
    // class is the next shape's
    if (
      this.tool === 'select' &&
      this.selected >= 0 &&
      this._shapes[this.selected].class !== name
    ) {
      this._shapes[this.selected] = { ...this._shapes[this.selected], class: name };
      this._changed();
    }
  }

  /** Add a shape (as drawn or from code); answers its index. */
  add(shape: IShape): number {
    this._shapes.push({ ...shape, hidden: false });
    this.selected = this._shapes.length - 1;
    this._changed();
    return this.selected;
  }

  remove(index: number): void {
    if (index < 0 || index >= this._shapes.length) {
      return;
    }
    this._shapes.splice(index, 1);
    this.selected = -1;
    this._changed();
  }

  toggleHidden(index: number): void {
    const shape = this._shapes[index];
    if (!shape) {
      return;
    }
    shape.hidden = !shape.hidden;
    if (shape.hidden && this.selected === index) {
      this.selected = -1;
    }
    this._changed(false);
  }

  setAllHidden(hidden: boolean): void {
    this._shapes.forEach(s => (s.hidden = hidden));
    if (hidden) {
      this.selected = -1;
    }
    this._changed(false);
  }

  select(index: number): void {
    this.selected = index >= 0 && index < this._shapes.length ? index : -1;
    if (this.selected >= 0) {
      this.currentClass = this._shapes[this.selected].class;
      this.classSelect.value = this.currentClass;
    }
    this._renderListSoon();
    this.requestDraw();
  }

  private _changed(edited = true): void {
    if (edited) {
      this._dirty = true;
      this._options.onChange?.();
    }
    this._grid = null;
    this._renderListSoon();
    this.requestDraw();
  }

  private get grid(): ShapeGrid {
    if (!this._grid) {
      this._grid = new ShapeGrid(this._shapes, this.width, this.height);
    }
    return this._grid;
  }

  // -- view -----------------------------------------------------------------------------------

  private _sizeCanvas(): void {
    const stage = this.canvas.parentElement!;
    const ratio = window.devicePixelRatio || 1;
    const w = Math.max(1, stage.clientWidth);
    const h = Math.max(1, stage.clientHeight);
    this.canvas.width = Math.round(w * ratio);
    this.canvas.height = Math.round(h * ratio);
    this.canvas.style.width = `${w}px`;
    this.canvas.style.height = `${h}px`;
    if (!this._viewTouched) {
      this.fit();
    }
    this.requestDraw();
  }

  private _viewTouched = false;

  /** Fit the whole image into the canvas. */
  fit(): void {
    const stage = this.canvas.parentElement;
    const w = stage?.clientWidth || 640;
    const h = stage?.clientHeight || 480;
    if (!this.width || !this.height) {
      return;
    }
    this.scale = Math.min(w / this.width, h / this.height) * 0.98;
    this.offsetX = (w - this.width * this.scale) / 2;
    this.offsetY = (h - this.height * this.scale) / 2;
    this._viewTouched = false;
    this.requestDraw();
  }

  /** Zoom by `factor` around the canvas point `(cx, cy)` (default: the centre). */
  zoomBy(factor: number, cx?: number, cy?: number): void {
    const stage = this.canvas.parentElement;
    cx = cx ?? (stage?.clientWidth || 640) / 2;
    cy = cy ?? (stage?.clientHeight || 480) / 2;
    const scale = Math.min(Math.max(this.scale * factor, 0.01), 64);
    this.offsetX = cx - ((cx - this.offsetX) * scale) / this.scale;
    this.offsetY = cy - ((cy - this.offsetY) * scale) / this.scale;
    this.scale = scale;
    this._viewTouched = true;
    this.requestDraw();
  }

  /** The image point under a pointer event. */
  toImage(event: { clientX: number; clientY: number }): number[] {
    const rect = this.canvas.getBoundingClientRect();
    return [
      (event.clientX - rect.left - this.offsetX) / this.scale,
      (event.clientY - rect.top - this.offsetY) / this.scale
    ];
  }

  // -- pointer and keyboard -----------------------------------------------------------------

  private _onDown = (event: PointerEvent): void => {
    this.node.focus();
    const [x, y] = this.toImage(event);
    if (event.button === 1 || (event.button === 0 && event.altKey)) {
      this._pan = { x: event.clientX, y: event.clientY, ox: this.offsetX, oy: this.offsetY };
      return;
    }
    if (event.button !== 0) {
      return;
    }
    this.canvas.setPointerCapture?.(event.pointerId);
    if (this.tool === 'bbox') {
      this._boxStart = [x, y];
      this._pointer = [x, y];
    } else if (this.tool === 'polygon') {
      const closeTo = 8 / this.scale;
      if (
        this.draft.length >= 3 &&
        Math.hypot(x - this.draft[0][0], y - this.draft[0][1]) <= closeTo
      ) {
        this.finishPolygon();
      } else {
        this.draft.push([
          Math.min(Math.max(x, 0), this.width),
          Math.min(Math.max(y, 0), this.height)
        ]);
      }
    } else {
      const index = hitTest(this._shapes, this.grid, x, y, 3 / this.scale);
      this.select(index);
      if (index >= 0) {
        this._drag = { index, x, y, origin: this._shapes[index] };
      } else {
        this._pan = { x: event.clientX, y: event.clientY, ox: this.offsetX, oy: this.offsetY };
      }
    }
    this.requestDraw();
  };

  private _onMove = (event: PointerEvent): void => {
    const [x, y] = this.toImage(event);
    this._pointer = [x, y];
    if (this._pan) {
      this.offsetX = this._pan.ox + event.clientX - this._pan.x;
      this.offsetY = this._pan.oy + event.clientY - this._pan.y;
      this._viewTouched = true;
    } else if (this._drag) {
      const d = this._drag;
      this._shapes[d.index] = moved(d.origin, x - d.x, y - d.y, this.width, this.height);
    }
    if (this._pan || this._drag || this._boxStart || this.draft.length) {
      this.requestDraw();
    }
  };

  private _onUp = (event: PointerEvent): void => {
    const [x, y] = this.toImage(event);
    if (this._boxStart) {
      const box = boxFrom(this._boxStart[0], this._boxStart[1], x, y, this.width, this.height);
      this._boxStart = null;
      // a click without a drag is no box
      if (box[2] * this.scale >= 3 && box[3] * this.scale >= 3) {
        this.add({ type: 'bbox', class: this.currentClass, bbox: box });
      }
    }
    if (this._drag) {
      const d = this._drag;
      this._drag = null;
      if (this._shapes[d.index] !== d.origin) {
        this._changed();
      }
    }
    this._pan = null;
    this.requestDraw();
  };

  private _onDoubleClick = (): void => {
    if (this.tool === 'polygon') {
      // the double click's two clicks added the same point twice
      if (this.draft.length >= 2) {
        const [a, b] = this.draft.slice(-2);
        if (a[0] === b[0] && a[1] === b[1]) {
          this.draft.pop();
        }
      }
      this.finishPolygon();
    }
  };

  private _onWheel = (event: WheelEvent): void => {
    event.preventDefault();
    const rect = this.canvas.getBoundingClientRect();
    this.zoomBy(event.deltaY < 0 ? 1.15 : 1 / 1.15, event.clientX - rect.left, event.clientY - rect.top);
  };

  /** Close the polygon being drawn (3 points at least; fewer are dropped). */
  finishPolygon(): void {
    if (this.draft.length >= 3) {
      this.add({ type: 'polygon', class: this.currentClass, points: this.draft });
    }
    this.draft = [];
    this.requestDraw();
  }

  private _onKey = (event: KeyboardEvent): void => {
    const target = event.target as HTMLElement;
    if (target && (target.tagName === 'INPUT' || target.tagName === 'SELECT')) {
      return;
    }
    const key = event.key;
    let handled = true;
    if (key === 'v' || key === 'V') {
      this.setTool('select');
    } else if ((key === 'b' || key === 'B') && this._toolButtons.has('bbox')) {
      this.setTool('bbox');
    } else if ((key === 'p' || key === 'P') && this._toolButtons.has('polygon')) {
      this.setTool('polygon');
    } else if (key === 'Delete' || key === 'Backspace') {
      if (this.draft.length) {
        this.draft.pop();
        this.requestDraw();
      } else {
        this.remove(this.selected);
      }
    } else if (key === 'Escape') {
      this.draft = [];
      this._boxStart = null;
      this.select(-1);
    } else if (key === 'Enter') {
      this.finishPolygon();
    } else if (key === 'h' || key === 'H') {
      if (event.shiftKey) {
        this.setAllHidden(false);
      } else {
        this.toggleHidden(this.selected);
      }
    } else if (key === '+' || key === '=') {
      this.zoomBy(1.25);
    } else if (key === '-') {
      this.zoomBy(0.8);
    } else if (key === '0') {
      this.fit();
    } else if (/^[1-9]$/.test(key) && this._options.classes[Number(key) - 1] !== undefined) {
      this.setClass(this._options.classes[Number(key) - 1]);
    } else {
      handled = false;
    }
    if (handled) {
      event.preventDefault();
      event.stopPropagation();
    }
  };

  // -- drawing ----------------------------------------------------------------------------------

  /** Draw at the next animation frame (many requests in one frame draw once). */
  requestDraw(): void {
    if (this._frame || typeof requestAnimationFrame === 'undefined') {
      return;
    }
    this._frame = requestAnimationFrame(() => {
      this._frame = 0;
      this.draw();
    });
  }

  draw(): void {
    this.frames++;
    const ctx = this.canvas.getContext ? this.canvas.getContext('2d') : null;
    if (!ctx) {
      return;
    }
    const ratio = window.devicePixelRatio || 1;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    ctx.setTransform(
      ratio * this.scale,
      0,
      0,
      ratio * this.scale,
      ratio * this.offsetX,
      ratio * this.offsetY
    );
    if (this._image) {
      ctx.drawImage(this._image, 0, 0, this.width, this.height);
    } else {
      ctx.fillStyle = '#808080';
      ctx.fillRect(0, 0, this.width, this.height);
    }
    const line = 2 / this.scale;
    ctx.lineWidth = line;
    // one path per class: a thousand shapes are a handful of strokes
    const classes = this._options.classes;
    const byClass = new Map<string, number[]>();
    this._shapes.forEach((s, i) => {
      if (!s.hidden) {
        const list = byClass.get(s.class);
        if (list) {
          list.push(i);
        } else {
          byClass.set(s.class, [i]);
        }
      }
    });
    byClass.forEach((indices, name) => {
      const color = classColor(classes.indexOf(name));
      ctx.beginPath();
      for (const i of indices) {
        this._trace(ctx, this._shapes[i]);
      }
      ctx.globalAlpha = 0.15;
      ctx.fillStyle = color;
      ctx.fill('evenodd');
      ctx.globalAlpha = 1;
      ctx.strokeStyle = color;
      ctx.stroke();
    });
    const selected = this._shapes[this.selected];
    if (selected && !selected.hidden) {
      ctx.beginPath();
      this._trace(ctx, selected);
      ctx.lineWidth = line * 2;
      ctx.strokeStyle = '#ffffff';
      ctx.stroke();
      ctx.lineWidth = line;
      ctx.strokeStyle = classColor(classes.indexOf(selected.class));
      ctx.stroke();
      const [x0, y0, x1, y1] = bounds(selected);
      const r = 3 / this.scale;
      ctx.fillStyle = '#ffffff';
      const corners =
        selected.type === 'bbox'
          ? [
              [x0, y0],
              [x1, y0],
              [x1, y1],
              [x0, y1]
            ]
          : selected.points!;
      for (const [x, y] of corners) {
        ctx.fillRect(x - r, y - r, 2 * r, 2 * r);
      }
    }
    const color = classColor(classes.indexOf(this.currentClass));
    ctx.strokeStyle = color;
    ctx.setLineDash([6 / this.scale, 4 / this.scale]);
    if (this._boxStart && this._pointer) {
      const [x, y, w, h] = boxFrom(
        this._boxStart[0],
        this._boxStart[1],
        this._pointer[0],
        this._pointer[1],
        this.width,
        this.height
      );
      ctx.strokeRect(x, y, w, h);
    }
    if (this.draft.length) {
      ctx.beginPath();
      ctx.moveTo(this.draft[0][0], this.draft[0][1]);
      for (const [x, y] of this.draft.slice(1)) {
        ctx.lineTo(x, y);
      }
      if (this._pointer) {
        ctx.lineTo(this._pointer[0], this._pointer[1]);
      }
      ctx.stroke();
    }
    ctx.setLineDash([]);
  }

  private _trace(ctx: CanvasRenderingContext2D, shape: IShape): void {
    if (shape.type === 'bbox') {
      const [x, y, w, h] = shape.bbox!;
      ctx.rect(x, y, w, h);
    } else {
      const points = shape.points!;
      ctx.moveTo(points[0][0], points[0][1]);
      for (let i = 1; i < points.length; i++) {
        ctx.lineTo(points[i][0], points[i][1]);
      }
      ctx.closePath();
    }
  }

  // -- the list of shapes -----------------------------------------------------------------------

  private _renderListSoon(): void {
    if (typeof requestAnimationFrame === 'undefined') {
      this.renderList();
      return;
    }
    if (!this._listFrame) {
      this._listFrame = requestAnimationFrame(() => {
        this._listFrame = 0;
        this.renderList();
      });
    }
  }

  /** The side list: one row per shape (class, type, hide/show, delete). */
  renderList(): void {
    const rows = document.createDocumentFragment();
    const classes = this._options.classes;
    this._shapes.forEach((shape, index) => {
      const row = el(
        'li',
        `ytung-labeling-item${index === this.selected ? ' ytung-mod-selected' : ''}${
          shape.hidden ? ' ytung-mod-hidden' : ''
        }`
      );
      row.setAttribute('data-testid', 'ytung-labeling-item');
      row.setAttribute('data-index', String(index));
      const swatch = el('span', 'ytung-labeling-swatch');
      swatch.style.background = classColor(classes.indexOf(shape.class));
      row.appendChild(swatch);
      const name = el('span', 'ytung-labeling-item-name', `${shape.class}`);
      name.title = shape.type === 'bbox' ? this._labels.bbox : this._labels.polygon;
      row.appendChild(name);
      row.appendChild(el('span', 'ytung-labeling-item-type', shape.type));
      const eye = el('button', 'ytung-labeling-eye', shape.hidden ? '○' : '◉');
      eye.type = 'button';
      eye.title = shape.hidden ? this._labels.show : this._labels.hide;
      eye.setAttribute('data-testid', 'ytung-labeling-eye');
      eye.addEventListener('click', e => {
        e.stopPropagation();
        this.toggleHidden(index);
      });
      row.appendChild(eye);
      const del = el('button', 'ytung-labeling-delete', '✕');
      del.type = 'button';
      del.title = this._labels.remove;
      del.setAttribute('data-testid', 'ytung-labeling-delete');
      del.addEventListener('click', e => {
        e.stopPropagation();
        this.remove(index);
      });
      row.appendChild(del);
      row.addEventListener('click', () => this.select(index));
      rows.appendChild(row);
    });
    this.list.replaceChildren(rows);
  }

  dispose(): void {
    if (this._frame && typeof cancelAnimationFrame !== 'undefined') {
      cancelAnimationFrame(this._frame);
    }
    if (this._listFrame && typeof cancelAnimationFrame !== 'undefined') {
      cancelAnimationFrame(this._listFrame);
    }
    this._resize?.disconnect();
    this.node.remove();
  }
}
