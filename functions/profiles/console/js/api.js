// The profile API, called with the signed-in user's token. Errors carry the API's reason.
import { token } from './auth.js';

export class APIError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export async function call(method, path, body) {
  const t = await token();
  if (!t) throw new APIError(401, 'Signed out: sign in again.');
  const headers = { Authorization: `Bearer ${t}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = text;
  }
  if (!res.ok) {
    const why = (data && (data.error || data.message)) || `${res.status} ${res.statusText}`;
    throw new APIError(res.status, res.status === 403 ? `Your role does not allow this: ${why}` : why);
  }
  return data;
}

export const get = (path) => call('GET', path);
export const put = (path, body) => call('PUT', path, body);
export const post = (path, body) => call('POST', path, body);
export const del = (path) => call('DELETE', path);
