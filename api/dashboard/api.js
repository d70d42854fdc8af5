// api — how the dashboard talks to adalorad: JSON requests carrying the
// bearer key, uploads, authenticated downloads, and the API's error object
// as an exception.
//
// The key lives in sessionStorage: it survives reloads of this tab and is
// gone when the tab closes. When a request comes back 401, the app's
// askKey() (the key dialog) is awaited once for all requests that failed
// together, and they are retried with the new key.

const KEY_NAME = 'adalorad.apiKey';

export class ApiError extends Error {
  constructor(status, error) {
    super(error?.message || `HTTP ${status}`);
    this.status = status;
    this.type = error?.type || null;
    this.code = error?.code || null;
    this.param = error?.param || null;
  }
}

async function errorOf(res) {
  let body = null;
  try {
    body = await res.json();
  } catch {
    body = null;
  }
  return new ApiError(res.status, body?.error);
}

let pendingKey = null;

export const api = {
  // Set by the app: async (message) => void, resolves once a key is stored.
  askKey: null,

  key() {
    return sessionStorage.getItem(KEY_NAME);
  },
  setKey(key) {
    sessionStorage.setItem(KEY_NAME, key);
  },
  forgetKey() {
    sessionStorage.removeItem(KEY_NAME);
  },

  headers(extra = {}) {
    const key = this.key();
    return key ? { ...extra, Authorization: `Bearer ${key}` } : { ...extra };
  },

  // Wait for a key after a 401; concurrent callers share one dialog.
  async authenticate(err) {
    if (!this.askKey) throw err;
    if (!pendingKey) {
      const message = this.key() ? 'That key was not accepted; enter another.'
                                 : 'This adalorad needs an API key.';
      pendingKey = this.askKey(message).finally(() => { pendingKey = null; });
    }
    await pendingKey;
  },

  // Returns the parsed JSON (or the Response with raw: true); throws ApiError.
  /**
   * @param {string} method
   * @param {string} path
   * @param {{json?: any, body?: BodyInit, headers?: Record<string, string>, raw?: boolean,
   *          signal?: AbortSignal}} [opts]
   */
  async request(method, path, { json, body, headers, raw = false, signal } = {}) {
    for (;;) {
      const h = this.headers(headers);
      if (json !== undefined) h['Content-Type'] = 'application/json';
      const res = await fetch(path, {
        method, headers: h, signal, cache: 'no-store',
        body: json !== undefined ? JSON.stringify(json) : body,
      });
      if (res.status === 401) {
        await this.authenticate(await errorOf(res));
        continue;
      }
      if (!res.ok) throw await errorOf(res);
      return raw ? res : res.json();
    }
  },

  get(path, opts) {
    return this.request('GET', path, opts);
  },
  post(path, json, opts) {
    return this.request('POST', path, { ...opts, json });
  },

  // POST /v1/files as the SDKs do (multipart, purpose=fine-tune).
  upload(file) {
    const form = new FormData();
    form.append('purpose', 'fine-tune');
    form.append('file', file, file.name);
    return this.request('POST', '/v1/files', { body: form });
  },

  // Fetch a file with the key and hand it to the browser as a download
  // (a plain link cannot carry the Authorization header).
  async download(path, filename) {
    const res = await this.request('GET', path, { raw: true });
    const url = URL.createObjectURL(await res.blob());
    const a = document.createElement('a');
    a.href = url;
    a.download = filename;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  },
};
