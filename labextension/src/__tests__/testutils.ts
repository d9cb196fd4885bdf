/**
 * What the specs share: the mocked `requestAPI`, the translator, and one React root in a fresh
 * container per test. Not a spec itself (jest's testRegex wants `.spec.ts[x]`).
 *
 * Each spec still mocks the handler itself, first thing:
 *
 *     jest.mock('../handler', () => ({ ...jest.requireActual('../handler'), requestAPI: jest.fn() }));
 *
 * jest hoists that call above the spec's imports, so the `requestAPI` imported here is the mock.
 */
import { nullTranslator } from '@jupyterlab/translation';
import { act } from 'react';
import { createRoot, type Root } from 'react-dom/client';

import { requestAPI } from '../handler';
import type { IDataset } from '../panels/datasets';

export const mockedRequest = requestAPI as jest.MockedFunction<typeof requestAPI>;
export const trans = nullTranslator.load('ytung');

/** The container and root of the running test (set by `useReactRoot`). */
export let container: HTMLDivElement;
export let root: Root;

/**
 * Registers the hooks (in the current `describe`, or the file): act environment on; before each
 * test, reset `mockedRequest` and make a fresh container and root; after, unmount, remove the
 * container and go back to real timers.
 */
export function useReactRoot(): void {
  beforeAll(() => {
    (globalThis as any).IS_REACT_ACT_ENVIRONMENT = true;
  });

  beforeEach(() => {
    mockedRequest.mockReset();
    container = document.createElement('div');
    document.body.appendChild(container);
    root = createRoot(container);
  });

  afterEach(() => {
    act(() => root.unmount());
    container.remove();
    jest.useRealTimers();
  });
}

/** A new root in the same container, after the test unmounted the last one. */
export function newRoot(): Root {
  root = createRoot(container);
  return root;
}

export async function render(element: JSX.Element): Promise<void> {
  await act(async () => {
    root.render(element);
  });
}

export function byTestId(id: string, within: ParentNode = container): HTMLElement | null {
  return within.querySelector(`[data-testid="${id}"]`);
}

export async function click(element: HTMLElement | null): Promise<void> {
  expect(element).not.toBeNull();
  await act(async () => {
    element!.click();
  });
}

/** A dataset as the service answers it, with `overrides`. */
export function datasetModel(overrides: Partial<IDataset> = {}): IDataset {
  return {
    id: 1,
    name: 'cats',
    description: 'Cat pictures',
    creator: 'alice',
    public: false,
    permission: 'private',
    labeled: true,
    created: '2026-11-28T10:00:00Z',
    updated: '2026-11-28T11:00:00Z',
    version: 2,
    path: '/data/datasets/1/2',
    size_bytes: 2048,
    file_count: 3,
    can_change: true,
    ...overrides
  };
}
