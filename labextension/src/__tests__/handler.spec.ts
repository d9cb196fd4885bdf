/**
 * `requestAPI` names the Lab's language in every call (`?lang=`), and turns error answers into
 * `YtungAPIError`s; `ServerConnection.makeRequest` is the only mock.
 */
import { ServerConnection } from '@jupyterlab/services';

import {
  getLanguage,
  normalizeLanguage,
  requestAPI,
  setLanguage,
  YtungAPIError
} from '../handler';

function answer(status: number, body: unknown): Response {
  return {
    ok: status < 400,
    status,
    statusText: 'status text',
    text: async () => JSON.stringify(body)
  } as Response;
}

let makeRequest: jest.SpyInstance;

beforeEach(() => {
  makeRequest = jest.spyOn(ServerConnection, 'makeRequest');
});

afterEach(() => {
  makeRequest.mockRestore();
  setLanguage('en');
});

function calledUrl(): string {
  return makeRequest.mock.calls[makeRequest.mock.calls.length - 1][0];
}

describe('normalizeLanguage', () => {
  it.each([
    ['zh-CN', 'zh_CN'],
    ['zh_CN', 'zh_CN'],
    ['zh', 'zh_CN'],
    ['en', 'en'],
    ['en-US', 'en'],
    ['fr-FR', 'en'],
    ['zhx', 'en'],
    ['', 'en'],
    [undefined, 'en']
  ])('%s -> %s', (code, expected) => {
    expect(normalizeLanguage(code)).toBe(expected);
  });
});

describe('requestAPI', () => {
  it('sends the Lab language with every call', async () => {
    makeRequest.mockResolvedValue(answer(200, { name: 'alice' }));
    expect(getLanguage()).toBe('en');
    await requestAPI('me');
    expect(calledUrl()).toMatch(/\/ytung\/api\/me\?lang=en$/);

    expect(setLanguage('zh-CN')).toBe('zh_CN');
    await expect(requestAPI('vcs')).resolves.toEqual({ name: 'alice' });
    expect(calledUrl()).toMatch(/\/ytung\/api\/vcs\?lang=zh_CN$/);

    await requestAPI('settings', { method: 'PUT', body: '{}' });
    expect(calledUrl()).toMatch(/\/ytung\/api\/settings\?lang=zh_CN$/);
    expect(makeRequest.mock.calls[2][1]).toEqual({ method: 'PUT', body: '{}' });
  });

  it('appends lang to an endpoint with a query', async () => {
    makeRequest.mockResolvedValue(answer(200, []));
    await requestAPI('workloads?status=queued');
    expect(calledUrl()).toMatch(/\/ytung\/api\/workloads\?status=queued&lang=en$/);
  });

  it('throws the server error with its status and message', async () => {
    makeRequest.mockResolvedValue(answer(404, { status: 404, message: 'No such VC' }));
    await expect(requestAPI('settings')).rejects.toEqual(new YtungAPIError(404, 'No such VC'));
  });

  it('throws status 0 when there is no answer', async () => {
    makeRequest.mockRejectedValue(new TypeError('Failed to fetch'));
    const call = requestAPI('vcs');
    await expect(call).rejects.toBeInstanceOf(YtungAPIError);
    await expect(call).rejects.toMatchObject({ status: 0, message: 'Failed to fetch' });
  });
});
