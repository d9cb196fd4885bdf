/**
 * The Dev environments section renders what `requestAPI` answers (the list with every D2
 * column, the SSH line), posts the D1 form, runs the actions, uploads dropped files into the
 * code dir and refuses ports outside 40000–49999; `requestAPI` is the only mock.
 */
import React, { act } from 'react';

import { YtungAPIError } from '../handler';
import {
  checkPort,
  DevEnvs,
  homeRelative,
  type IDevEnv,
  type IDevEnvOptions
} from '../panels/devenvs';
import { container, mockedRequest, root, trans, useReactRoot } from './testutils';

jest.mock('../handler', () => ({ ...jest.requireActual('../handler'), requestAPI: jest.fn() }));

function env(overrides: Partial<IDevEnv> = {}): IDevEnv {
  return {
    id: 3,
    name: 'resnet-dev',
    owner: 'ann',
    description: 'ResNet experiments',
    code_dir: '/home/ann/resnet',
    engine_source: 'preset',
    engine: 'pytorch-2.13-cuda',
    image: 'ytung/pytorch:2.13.0-cuda12.8',
    engine_type: 'PyTorch',
    job_type: 'regular',
    device_type: 'nvidia_gpu_amd64',
    nodes: 1,
    devices_per_node: 1,
    total_devices: 1,
    privileged: true,
    created: '2026-11-28T21:00:00Z',
    status: 'running',
    status_text: 'Running',
    paused: false,
    reason: null,
    time_left: 5400,
    lab_url: '/user/ann/devenv-9/lab',
    proxy_url: '/user/ann/devenv-9/proxy/',
    ssh: { command: 'ssh -p 2222 ann@gpu.example.com', password: 'pw-123', port: 2222, host: 'gpu.example.com' },
    stoppable: true,
    startable: false,
    deletable: false,
    ...overrides
  };
}

const OPTIONS: IDevEnvOptions = {
  engines: [{ name: 'pytorch-2.13-cpu', image: 'ytung/pytorch:2.13.0-cpu', engine_type: 'PyTorch' }],
  saved_images: [],
  engine_types: ['PyTorch', 'MindSpore'],
  job_types: ['regular', 'distributed'],
  device_types: ['nvidia_gpu_amd64', 'huawei_npu_arm64'],
  vcs: ['default'],
  current_vc: 'default',
  privilege_enabled: false,
  code_dir: '/home/ann',
  port_range: [40000, 49999]
};

function answer(envs: IDevEnv[], options = OPTIONS) {
  mockedRequest.mockImplementation(async (endpoint?: string, init?: RequestInit) => {
    if (endpoint === 'devenvs' && !init) {
      return envs as any;
    }
    if (endpoint === 'devenvs/options') {
      return options as any;
    }
    if (endpoint === 'images') {
      return [] as any;
    }
    return {} as any;
  });
}

useReactRoot();

async function render(props: Partial<React.ComponentProps<typeof DevEnvs>> = {}) {
  await act(async () => {
    root.render(<DevEnvs trans={trans} refreshInterval={1e9} {...props} />);
  });
}

function byTestId(id: string): HTMLElement {
  const el = container.querySelector(`[data-testid="${id}"]`);
  if (!el) {
    throw new Error(`no ${id}`);
  }
  return el as HTMLElement;
}

function click(el: Element) {
  return act(async () => {
    (el as HTMLElement).click();
  });
}

function buttonNamed(text: string): HTMLButtonElement {
  const found = Array.from(container.querySelectorAll('button')).find(b => b.textContent === text);
  if (!found) {
    throw new Error(`no button ${text}`);
  }
  return found;
}

test('the list shows every D2 column and the SSH line', async () => {
  answer([env()]);
  await render();
  const card = byTestId('ytung-devenv');
  const text = card.textContent ?? '';
  for (const part of [
    'resnet-dev',
    'Running',
    'PyTorch',
    'ytung/pytorch:2.13.0-cuda12.8',
    '2026-11-28 21:00',
    '1:30',
    '/home/ann/resnet',
    'ResNet experiments',
    'Yes',
    'ssh -p 2222 ann@gpu.example.com',
    'pw-123'
  ]) {
    expect(text).toContain(part);
  }
});

test('unlimited time shows --, and a stopped env offers start and delete', async () => {
  answer([
    env({
      status: 'closed',
      status_text: 'Closed',
      time_left: null,
      stoppable: false,
      startable: true,
      deletable: true,
      paused: true,
      ssh: null,
      lab_url: null,
      proxy_url: null
    })
  ]);
  await render();
  expect(byTestId('ytung-devenv-time-left').textContent).toBe('--');
  expect(byTestId('ytung-devenv-status').textContent).toBe('Closed (paused)');
  await click(buttonNamed('Resume'));
  expect(mockedRequest).toHaveBeenCalledWith('devenvs/3/start', { method: 'POST' });
  await click(buttonNamed('Delete'));
  expect(mockedRequest).toHaveBeenCalledWith('devenvs/3', { method: 'DELETE' });
});

test('open and stop a running environment', async () => {
  answer([env()]);
  const openUrl = jest.fn();
  await render({ openUrl });
  await click(buttonNamed('Open'));
  expect(openUrl).toHaveBeenCalledWith('/user/ann/devenv-9/lab');
  await click(buttonNamed('Stop'));
  expect(mockedRequest).toHaveBeenCalledWith('devenvs/3/stop', { method: 'POST' });
});

test('the create form posts every D1 field', async () => {
  answer([]);
  await render();
  expect(byTestId('ytung-devenvs-empty').textContent).toContain('No dev environments yet');
  await click(byTestId('ytung-devenvs-new'));
  const form = byTestId('ytung-devenv-form') as HTMLFormElement;
  expect(form.querySelector('[name="privileged"]')).toBeNull(); // the setting is off
  const setValue = async (name: string, value: string) => {
    const el = form.querySelector(`[name="${name}"]`) as HTMLInputElement | HTMLSelectElement;
    await act(async () => {
      const proto = Object.getPrototypeOf(el);
      Object.getOwnPropertyDescriptor(proto, 'value')!.set!.call(el, value);
      el.dispatchEvent(new Event(el.tagName === 'SELECT' ? 'change' : 'input', { bubbles: true }));
    });
  };
  await setValue('name', 'dev1');
  await setValue('description', 'first');
  await setValue('code_dir', '/home/ann/dev1');
  await setValue('job_type', 'distributed');
  await setValue('nodes', '2');
  await setValue('device_type', 'huawei_npu_arm64');
  await setValue('devices_per_node', '8');
  expect((byTestId('ytung-devenv-total') as HTMLInputElement).value).toBe('16');
  await act(async () => {
    form.dispatchEvent(new Event('submit', { bubbles: true, cancelable: true }));
  });
  const post = mockedRequest.mock.calls.find(c => c[0] === 'devenvs' && c[1]?.method === 'POST');
  expect(JSON.parse(post![1]!.body as string)).toEqual({
    name: 'dev1',
    description: 'first',
    code_dir: '/home/ann/dev1',
    engine_source: 'preset',
    engine: 'pytorch-2.13-cpu',
    engine_type: '',
    job_type: 'distributed',
    nodes: 2,
    devices_per_node: 8,
    device_type: 'huawei_npu_arm64',
    privileged: false,
    vc: null
  });
});

test('a refused create shows the service message', async () => {
  answer([]);
  await render();
  mockedRequest.mockImplementation(async (endpoint?: string, init?: RequestInit) => {
    if (init?.method === 'POST') {
      throw new YtungAPIError(403, 'Privilege Job is off');
    }
    return (endpoint === 'devenvs/options' ? OPTIONS : []) as any;
  });
  await click(byTestId('ytung-devenvs-new'));
  const form = byTestId('ytung-devenv-form') as HTMLFormElement;
  await act(async () => {
    form.dispatchEvent(new Event('submit', { bubbles: true, cancelable: true }));
  });
  expect(byTestId('ytung-devenvs-error').textContent).toBe('403: Privilege Job is off');
});

test('dropped files go into the code dir', async () => {
  answer([env()]);
  const upload = jest.fn(async () => undefined);
  await render({ upload });
  const zone = byTestId('ytung-devenv-upload');
  const file = new File(['print(1)'], 'train.py');
  await act(async () => {
    const event = new Event('drop', { bubbles: true, cancelable: true }) as any;
    event.dataTransfer = { files: [file] };
    zone.dispatchEvent(event);
  });
  expect(upload).toHaveBeenCalledWith('resnet/train.py', file);
  expect(byTestId('ytung-devenvs-notice').textContent).toBe('Uploaded 1 files to /home/ann/resnet');
});

test('ports outside 40000-49999 are refused before anything opens', async () => {
  answer([env()]);
  const openUrl = jest.fn();
  await render({ openUrl });
  const input = container.querySelector('[name="port"]') as HTMLInputElement;
  const submitPort = async (value: string) => {
    await act(async () => {
      Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value')!.set!.call(input, value);
      input.dispatchEvent(new Event('input', { bubbles: true }));
    });
    await act(async () => {
      input.form!.dispatchEvent(new Event('submit', { bubbles: true, cancelable: true }));
    });
  };
  await submitPort('8888');
  expect(byTestId('ytung-port-error').textContent).toBe('Ports 40000-49999 only');
  expect(openUrl).not.toHaveBeenCalled();
  await submitPort('40000');
  expect(openUrl).toHaveBeenCalledWith('/user/ann/devenv-9/proxy/40000/');
});

test('pure helpers', () => {
  expect(homeRelative('/home/ann')).toBe('');
  expect(homeRelative('/home/ann/a/b')).toBe('a/b');
  expect(checkPort('49999', trans)).toBe(49999);
  expect(checkPort('50000', trans)).toBe('Ports 40000-49999 only');
  expect(checkPort('4e4', trans)).toBe('Ports 40000-49999 only');
});
