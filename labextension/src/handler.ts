/**
 * The one door from the browser to the Ytung server extension (`/ytung/api/*`).
 *
 * Every panel calls `requestAPI`; tests mock this module and nothing else. Every call carries
 * the Lab's UI language as `?lang=` (set once by the plugin with `setLanguage`), which the
 * server extension passes on to the platform service so that its messages (queue reasons,
 * errors) come back in the language of the Lab.
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

/** The languages of the platform's messages (SPEC X8); anything else is answered in English. */
export type UILanguage = 'zh_CN' | 'en';

let language: UILanguage = 'en';

/**
 * The platform language for a Lab language code (`ITranslator.languageCode`: `zh-CN`, `en`, …).
 */
export function normalizeLanguage(code: string | null | undefined): UILanguage {
  return /^zh([_-]|$)/i.test(code ?? '') ? 'zh_CN' : 'en';
}

/** Set the language sent with every call (the plugin calls it with the Lab translator's). */
export function setLanguage(code: string | null | undefined): UILanguage {
  language = normalizeLanguage(code);
  return language;
}

/** The language sent with every call. */
export function getLanguage(): UILanguage {
  return language;
}

/**
 * Call `{baseUrl}ytung/api/{endpoint}?lang=…` and return its JSON.
 *
 * @throws YtungAPIError with the server's status and message (status 0: no answer at all).
 */
export async function requestAPI<T>(
  endpoint = '',
  init: RequestInit = {}
): Promise<T> {
  const settings = ServerConnection.makeSettings();
  const path = URLExt.join(settings.baseUrl, 'ytung', 'api', endpoint);
  const url = `${path}${path.includes('?') ? '&' : '?'}lang=${encodeURIComponent(language)}`;

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
