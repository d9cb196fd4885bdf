/**
 * The one door from the browser to the Ytung server extension (`/ytung/api/*`).
 *
 * Every panel calls `requestAPI`; tests mock this module and nothing else.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/** An error answer of `/ytung/api/*`: `{"status": int, "message": str}`. */
export class YtungAPIError extends Error {
  constructor(
    readonly status: number,
    message: string
  ) {
    super(message);
    this.name = 'YtungAPIError';
  }
}

/**
 * Call `{baseUrl}ytung/api/{endpoint}` and return its JSON.
 *
 * @throws YtungAPIError with the server's status and message (status 0: no answer at all).
 */
export async function requestAPI<T>(
  endpoint = '',
  init: RequestInit = {}
): Promise<T> {
  const settings = ServerConnection.makeSettings();
  const url = URLExt.join(settings.baseUrl, 'ytung', 'api', endpoint);

  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new YtungAPIError(0, String((error as Error)?.message ?? error));
  }

  const text = await response.text();
  let data: any = null;
  if (text.length > 0) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (!response.ok) {
    const message =
      (data && typeof data === 'object' && data.message) ||
      (typeof data === 'string' && data) ||
      response.statusText;
    throw new YtungAPIError(response.status, message);
  }
  return data as T;
}
