/**
 * Annotation (SPEC S4–S7): the editor's geometry and hit-testing, the editor's tools and
 * shortcuts driven by real DOM events, 1,000 shapes drawn in one frame, the labeling widget's
 * Submit, and the sidebar section (projects, datasets, COCO export with progress).
 * `requestAPI` is the only mock.
 */
import React, { act } from 'react';
import { createRoot } from 'react-dom/client';

import { YtungAPIError } from '../handler';
import {
  boxFrom,
  hits,
  hitTest,
  type IShape,
  LabelingEditor,
  moved,
  pointInPolygon,
  ShapeGrid
} from '../labeling/editor';
import { LabelingWidget } from '../labeling/widget';
import { Annotation } from '../panels/annotation';
import { byTestId, container, mockedRequest, root, trans, useReactRoot } from './testutils';

jest.mock('../handler', () => ({ ...jest.requireActual('../handler'), requestAPI: jest.fn() }));

const box = (x: number, y: number, w: number, h: number, cls = 'cat'): IShape => ({
  type: 'bbox',
  class: cls,
  bbox: [x, y, w, h]
});

describe('geometry', () => {
  it('tells points inside a polygon, concave ones too', () => {
    const L = [
      [0, 0],
      [20, 0],
      [20, 10],
      [10, 10],
      [10, 20],
      [0, 20]
    ];
    expect(pointInPolygon(5, 5, L)).toBe(true);
    expect(pointInPolygon(15, 15, L)).toBe(false); // the notch
    expect(pointInPolygon(5, 15, L)).toBe(true);
    expect(hits({ type: 'polygon', class: 'a', points: L }, 15, 15)).toBe(false);
    expect(hits(box(0, 0, 10, 10), 11, 5, 2)).toBe(true);
    expect(hits(box(0, 0, 10, 10), 13, 5, 2)).toBe(false);
  });

  it('makes boxes from two corners and keeps moves inside the image', () => {
    expect(boxFrom(50, 40, 10, 20, 100, 100)).toEqual([10, 20, 40, 20]);
    expect(boxFrom(-5, -5, 120, 30, 100, 100)).toEqual([0, 0, 100, 30]);
    expect(moved(box(10, 10, 20, 20), 500, -500, 100, 100).bbox).toEqual([80, 0, 20, 20]);
    const tri: IShape = { type: 'polygon', class: 'a', points: [[1, 1], [5, 1], [3, 4]] };
    expect(moved(tri, 2, 3, 100, 100).points).toEqual([[3, 4], [7, 4], [5, 7]]);
  });

  it('finds the topmost visible shape through the grid, as a full scan does', () => {
    const shapes: IShape[] = [];
    let seed = 7;
    const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    for (let i = 0; i < 1000; i++) {
      shapes.push(box(rand() * 1900, rand() * 1000, 5 + rand() * 60, 5 + rand() * 60));
    }
    shapes[3].hidden = true;
    const grid = new ShapeGrid(shapes, 2000, 1100);
    for (let k = 0; k < 500; k++) {
      const x = rand() * 2000;
      const y = rand() * 1100;
      expect(hitTest(shapes, grid, x, y)).toBe(hitTest(shapes, null, x, y));
      // a pointer looks at a few shapes, not a thousand
      expect(grid.candidates(x, y).length).toBeLessThan(60);
    }
    const [x, y] = [shapes[3].bbox![0] + 1, shapes[3].bbox![1] + 1];
    expect(hitTest(shapes, grid, x, y)).not.toBe(3);
  });
});

describe('LabelingEditor', () => {
  let host: HTMLDivElement;
  let editor: LabelingEditor;
  let changes: number;

  function pointer(type: string, x: number, y: number, extra: object = {}) {
    const event = new MouseEvent(type, { clientX: x, clientY: y, button: 0, bubbles: true, ...extra });
    editor.canvas.dispatchEvent(event);
  }

  function key(k: string, extra: object = {}) {
    editor.node.dispatchEvent(new KeyboardEvent('keydown', { key: k, bubbles: true, ...extra }));
  }

  beforeEach(async () => {
    host = document.createElement('div');
    document.body.appendChild(host);
    changes = 0;
    editor = new LabelingEditor(host, {
      classes: ['cat', 'dog', 'bird'],
      onChange: () => changes++
    });
    editor.setImage('', 200, 100, [box(10, 10, 20, 20), box(100, 50, 30, 30, 'dog')]);
    // the view: image pixels are canvas pixels (jsdom has no layout)
    editor.scale = 1;
    editor.offsetX = 0;
    editor.offsetY = 0;
  });

  afterEach(() => {
    editor.dispose();
    host.remove();
  });

  it('draws a box of the chosen class with the B tool', () => {
    key('b');
    key('2'); // dog
    pointer('pointerdown', 40, 30);
    pointer('pointermove', 80, 60);
    pointer('pointerup', 90, 70);
    expect(editor.shapes).toHaveLength(3);
    expect(editor.getShapes()[2]).toEqual({ type: 'bbox', class: 'dog', bbox: [40, 30, 50, 40] });
    expect(editor.dirty).toBe(true);
    expect(changes).toBe(1);
    // a click without a drag makes no box
    pointer('pointerdown', 5, 5);
    pointer('pointerup', 5, 5);
    expect(editor.shapes).toHaveLength(3);
  });

  it('draws a polygon point by point and closes it with Enter', () => {
    key('p');
    pointer('pointerdown', 10, 10);
    pointer('pointerdown', 50, 10);
    key('Backspace'); // drops the last point
    pointer('pointerdown', 60, 10);
    pointer('pointerdown', 40, 40);
    key('Enter');
    expect(editor.getShapes()[2]).toEqual({
      type: 'polygon',
      class: 'cat',
      points: [
        [10, 10],
        [60, 10],
        [40, 40]
      ]
    });
    // two points are no polygon
    pointer('pointerdown', 1, 1);
    pointer('pointerdown', 2, 2);
    key('Enter');
    expect(editor.shapes).toHaveLength(3);
  });

  it('selects, moves, hides and deletes with the pointer and the keyboard', () => {
    pointer('pointerdown', 110, 60);
    expect(editor.selected).toBe(1);
    pointer('pointermove', 120, 65);
    pointer('pointerup', 120, 65);
    expect(editor.getShapes()[1].bbox).toEqual([110, 55, 30, 30]);
    key('h');
    expect(editor.shapes[1].hidden).toBe(true);
    expect(editor.getShapes()[1]).not.toHaveProperty('hidden'); // never submitted
    key('H', { shiftKey: true });
    expect(editor.shapes[1].hidden).toBe(false);
    editor.select(1);
    key('Delete');
    expect(editor.getShapes()).toEqual([box(10, 10, 20, 20)]);
    key('Escape');
    expect(editor.selected).toBe(-1);
  });

  it('changes the class of the selected shape, but not while drawing', () => {
    editor.select(0);
    key('3');
    expect(editor.shapes[0].class).toBe('bird');
    key('b');
    editor.select(1);
    key('1');
    expect(editor.shapes[1].class).toBe('dog');
    expect(editor.currentClass).toBe('cat');
  });

  it('lists the shapes with hide and delete buttons', () => {
    editor.renderList();
    const rows = editor.list.querySelectorAll('[data-testid="ytung-labeling-item"]');
    expect([...rows].map(r => r.textContent?.slice(0, 3))).toEqual(['cat', 'dog']);
    (rows[0].querySelector('[data-testid="ytung-labeling-eye"]') as HTMLElement).click();
    expect(editor.shapes[0].hidden).toBe(true);
    editor.renderList();
    (
      editor.list.querySelectorAll('[data-testid="ytung-labeling-delete"]')[1] as HTMLElement
    ).click();
    expect(editor.getShapes()).toEqual([box(10, 10, 20, 20)]);
  });

  it('zooms around the pointer and fits again', () => {
    editor.fit();
    const fitted = editor.scale;
    editor.scale = 1;
    editor.offsetX = editor.offsetY = 0;
    editor.zoomBy(2, 50, 50);
    expect(editor.scale).toBe(2);
    expect(editor.toImage({ clientX: 50, clientY: 50 })).toEqual([50, 50]);
    key('+');
    expect(editor.scale).toBe(2.5);
    key('0');
    expect(editor.scale).toBe(fitted);
  });

  it('draws 1,000 shapes once per frame however many changes ask for it', async () => {
    for (let i = 0; i < 1000; i++) {
      editor.add(box(i % 190, (i * 7) % 90, 5, 5, i % 2 ? 'cat' : 'dog'));
    }
    await new Promise(resolve => requestAnimationFrame(() => resolve(null)));
    await new Promise(resolve => requestAnimationFrame(() => resolve(null)));
    const before = editor.frames;
    for (let i = 0; i < 100; i++) {
      editor.requestDraw();
    }
    await new Promise(resolve => requestAnimationFrame(() => resolve(null)));
    await new Promise(resolve => requestAnimationFrame(() => resolve(null)));
    expect(editor.frames - before).toBe(1);
    expect(editor.getShapes()).toHaveLength(1002);
  });
});

describe('LabelingWidget', () => {
  const dataset = {
    id: 3,
    project_id: 1,
    name: 'cats',
    description: '',
    owner: 'alice',
    public: false,
    object_types: ['bbox', 'polygon'],
    classes: ['cat', 'dog'],
    images: 2,
    labeled: 0,
    unlabeled: 2,
    can_manage: true
  };
  const images = [
    { id: 11, file_name: 'a.png', width: 200, height: 100, state: 'unlabeled', shape_count: 0 },
    { id: 12, file_name: 'b.png', width: 200, height: 100, state: 'unlabeled', shape_count: 0 }
  ];

  function answer(path: string, init?: RequestInit): any {
    if (path === 'annotations/datasets/3') {
      return dataset;
    }
    if (path.startsWith('annotations/datasets/3/images?')) {
      return { total: 2, images };
    }
    if (path.startsWith('annotations/datasets/3/next')) {
      return images[0];
    }
    const m = /images\/(\d+)$/.exec(path);
    if (m && init?.method === 'PUT') {
      const shapes = JSON.parse(String(init.body)).shapes;
      if (shapes.some((s: IShape) => s.bbox && s.bbox[2] > 150)) {
        throw new YtungAPIError(400, 'Shape 1 lies outside the image (200 × 100)');
      }
      return {
        image: { ...images[0], state: 'labeled', shape_count: shapes.length },
        next: images[1]
      };
    }
    if (m) {
      return { ...images.find(i => i.id === Number(m[1])), shapes: [] };
    }
    throw new Error(`unexpected ${path}`);
  }

  it('submits the shapes, shows a refusal, and opens the next image', async () => {
    mockedRequest.mockImplementation(async (path, init) => answer(path as string, init));
    const widget = new LabelingWidget({ datasetId: 3, trans });
    document.body.appendChild(widget.node);
    await widget.start();
    expect(widget.current?.id).toBe(11);
    expect(widget.node.querySelectorAll('[data-testid="ytung-labeling-task"]')).toHaveLength(2);

    widget.editor!.add(box(0, 0, 190, 10));
    await widget.submit();
    expect(widget.node.querySelector('[data-testid="ytung-labeling-status"]')?.textContent).toBe(
      'Not saved: 400: Shape 1 lies outside the image (200 × 100)'
    );
    expect(widget.current?.id).toBe(11);
    expect(widget.editor!.dirty).toBe(true);

    widget.editor!.remove(0);
    widget.editor!.add(box(5, 5, 20, 20));
    await widget.submit();
    const put = mockedRequest.mock.calls.find(c => c[1]?.method === 'PUT' && !String(c[1].body).includes('190'));
    expect(put![0]).toBe('annotations/datasets/3/images/11');
    expect(JSON.parse(String(put![1]!.body))).toEqual({
      shapes: [{ type: 'bbox', class: 'cat', bbox: [5, 5, 20, 20] }]
    });
    expect(widget.current?.id).toBe(12);
    expect(widget.editor!.dirty).toBe(false);
    expect(
      widget.node.querySelector('[data-testid="ytung-labeling-task"][data-image="11"]')
        ?.getAttribute('data-state')
    ).toBe('labeled');
    expect(widget.node.querySelector('[data-testid="ytung-labeling-progress"]')?.textContent).toBe(
      '1 of 2 labeled'
    );
    widget.dispose();
  });
});

describe('Annotation panel', () => {
  useReactRoot();

  const project = {
    id: 4,
    name: 'pets',
    description: '猫狗',
    owner: 'alice',
    datasets: 1,
    can_manage: true
  };
  const dataset = {
    id: 3,
    project_id: 4,
    name: 'cats',
    description: 'd',
    owner: 'alice',
    public: true,
    object_types: ['bbox'],
    classes: ['cat', 'dog'],
    images: 5,
    labeled: 2,
    unlabeled: 3,
    can_manage: true
  };

  it('lists projects with ID, name and description and creates one', async () => {
    const projects = [project];
    mockedRequest.mockImplementation(async (path, init) => {
      if (path === 'annotations/projects' && init?.method === 'POST') {
        projects.push({ ...project, id: 5, ...JSON.parse(String(init.body)) });
        return projects[1];
      }
      return projects;
    });
    await act(async () => root.render(<Annotation trans={trans} onOpen={jest.fn()} />));
    const row = byTestId('ytung-project')!;
    expect([...row.querySelectorAll('td')].slice(0, 3).map(td => td.textContent)).toEqual([
      '4',
      'pets',
      '猫狗'
    ]);
    await act(async () => byTestId('ytung-project-new')!.click());
    const name = byTestId('ytung-project-name') as HTMLInputElement;
    await act(async () => {
      const setter = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value')!.set!;
      setter.call(name, 'streets');
      name.dispatchEvent(new Event('input', { bubbles: true }));
    });
    await act(async () => byTestId('ytung-project-save')!.click());
    expect(mockedRequest).toHaveBeenCalledWith('annotations/projects', {
      method: 'POST',
      body: JSON.stringify({ name: 'streets', description: '' })
    });
    expect(container.querySelectorAll('[data-testid="ytung-project"]')).toHaveLength(2);
  });

  it('opens a project, labels a dataset and converts it to COCO with progress', async () => {
    jest.useFakeTimers();
    let polls = 0;
    mockedRequest.mockImplementation(async (path, init) => {
      if (path === 'annotations/projects') {
        return [project];
      }
      if (path === 'annotations/projects/4/datasets') {
        return [dataset];
      }
      if (path === 'annotations/datasets/3/exports' && init?.method === 'POST') {
        return { id: 9, status: 'running', done: 0, total: 2, progress: 0, annotations: 0, message: '', result: null };
      }
      if (path === 'annotations/datasets/3/exports/9') {
        polls++;
        return polls < 2
          ? { id: 9, status: 'running', done: 1, total: 2, progress: 0.5, annotations: 0, message: '', result: null }
          : {
              id: 9,
              status: 'completed',
              done: 2,
              total: 2,
              progress: 1,
              annotations: 7,
              message: '',
              result: { dataset_id: 21, version: 1 }
            };
      }
      throw new Error(`unexpected ${path}`);
    });
    const onOpen = jest.fn();
    await act(async () => root.render(<Annotation trans={trans} onOpen={onOpen} pollInterval={10} />));
    await act(async () => byTestId('ytung-project-open')!.click());
    expect(byTestId('ytung-annotation-project')?.textContent).toBe('pets');
    expect(byTestId('ytung-ann-dataset-counts')?.textContent).toBe('2 of 5 labeled');
    await act(async () => byTestId('ytung-ann-dataset-label')!.click());
    expect(onOpen).toHaveBeenCalledWith(dataset);

    await act(async () => byTestId('ytung-ann-dataset-export')!.click());
    expect(byTestId('ytung-ann-dataset-export-status')?.dataset.status).toBe('running');
    await act(async () => {
      jest.advanceTimersByTime(10);
    });
    expect(byTestId('ytung-ann-dataset-export-status')?.textContent).toContain('1 of 2 images');
    await act(async () => {
      jest.advanceTimersByTime(10);
    });
    const status = byTestId('ytung-ann-dataset-export-status')!;
    expect(status.dataset.status).toBe('completed');
    expect(status.textContent).toContain('Done: 7 annotations in dataset #21 version 1');
    jest.useRealTimers();
  });

  it('shows the service refusal of an export', async () => {
    mockedRequest.mockImplementation(async path => {
      if (path === 'annotations/projects') {
        return [project];
      }
      if (path === 'annotations/projects/4/datasets') {
        return [dataset];
      }
      throw new YtungAPIError(400, 'Nothing is labeled yet in annotation dataset cats');
    });
    await act(async () => root.render(<Annotation trans={trans} onOpen={jest.fn()} />));
    await act(async () => byTestId('ytung-project-open')!.click());
    await act(async () => byTestId('ytung-ann-dataset-export')!.click());
    expect(byTestId('ytung-ann-dataset-error')?.textContent).toBe(
      'Error 400: Nothing is labeled yet in annotation dataset cats'
    );
  });
});

describe('COCO import from the panel', () => {
  it('posts the chosen file and reports what was labeled', async () => {
    (globalThis as any).IS_REACT_ACT_ENVIRONMENT = true;
    const container = document.createElement('div');
    document.body.appendChild(container);
    const root = createRoot(container);
    const doc = { images: [], annotations: [], categories: [] };
    mockedRequest.mockReset();
    mockedRequest.mockImplementation(async (path, init) => {
      if (path === 'annotations/projects') {
        return [{ id: 4, name: 'pets', description: '', owner: 'a', datasets: 1, can_manage: true }];
      }
      if (path === 'annotations/projects/4/datasets') {
        return [
          {
            id: 3,
            project_id: 4,
            name: 'cats',
            description: '',
            owner: 'a',
            public: false,
            object_types: ['bbox'],
            classes: ['cat'],
            images: 2,
            labeled: 0,
            unlabeled: 2,
            can_manage: true
          }
        ];
      }
      if (path === 'annotations/datasets/3/coco' && init?.method === 'POST') {
        return { images: 2, annotations: 5, classes: ['cat'] };
      }
      throw new Error(`unexpected ${path}`);
    });
    await act(async () => root.render(<Annotation trans={trans} onOpen={jest.fn()} />));
    await act(async () =>
      container.querySelector<HTMLElement>('[data-testid="ytung-project-open"]')!.click()
    );
    const input = container.querySelector<HTMLInputElement>(
      '[data-testid="ytung-ann-dataset-import"]'
    )!;
    const file = new File([JSON.stringify(doc)], 'instances.json', { type: 'application/json' });
    if (!(file as any).text) {
      (file as any).text = async () => JSON.stringify(doc);
    }
    Object.defineProperty(input, 'files', { value: [file] });
    await act(async () => {
      input.dispatchEvent(new Event('change', { bubbles: true }));
    });
    expect(mockedRequest).toHaveBeenCalledWith('annotations/datasets/3/coco', {
      method: 'POST',
      body: JSON.stringify(doc)
    });
    expect(
      container.querySelector('[data-testid="ytung-ann-dataset-notice"]')?.textContent
    ).toBe('Imported 5 annotations on 2 images');
    act(() => root.unmount());
    container.remove();
  });
});
