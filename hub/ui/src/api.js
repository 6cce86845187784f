// The console's one way to the API: same-origin fetch with the session cookie, the CSRF token on state changes.
import { h } from 'preact';
import htm from 'htm';
import { useEffect, useState, useCallback } from 'preact/hooks';

export const html = htm.bind(h);

const RANK = { reader: 1, operator: 2, admin: 3 };
let session = null;
export const setSession = (s) => (session = s);
export const getSession = () => session;
/** Whether the signed-in token's role may do what needs `role` (the API checks it again). */
export const may = (role) => !!session && RANK[session.role] >= RANK[role];

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

let onSignedOut = () => {};
export const whenSignedOut = (f) => (onSignedOut = f);

export async function call(method, path, body) {
  const headers = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && session) headers['x-csrf-token'] = session.csrf;
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' });
  } catch {
    // fetch says only "Failed to fetch": the hub is down or unreachable (pages keep polling, so it comes back).
    throw new ApiError(0, 'The hub does not answer; the page retries on its own.');
  }
  const text = await res.text();
  let data = text;
  try {
    data = JSON.parse(text);
  } catch {}
  if (!res.ok) {
    if (res.status === 401 && path !== '/ui/session') onSignedOut();
    throw new ApiError(res.status, (data && data.message) || `${res.status} ${res.statusText}`);
  }
  return data;
}
export const get = (path) => call('GET', path);

/** Loads `path` (a string or a function of nothing) now and every `everyMs`; returns { data, error, reload }. */
export function usePoll(path, everyMs = 0) {
  const [state, setState] = useState({ data: undefined, error: undefined });
  const load = useCallback(() => {
    if (!path) return;
    get(path).then(
      (data) => setState({ data, error: undefined }),
      (error) => setState((s) => ({ data: s.data, error })),
    );
  }, [path]);
  useEffect(() => {
    load();
    if (!everyMs) return undefined;
    const timer = setInterval(load, everyMs);
    return () => clearInterval(timer);
  }, [load, everyMs]);
  return { ...state, reload: load };
}

export const fmtTime = (iso) => (iso ? new Date(iso).toLocaleString(undefined, { hour12: false }) : '—');
export const fmtNum = (n) => (n === null || n === undefined ? '—' : typeof n === 'number' ? n.toLocaleString('en') : String(n));
export function ago(iso) {
  if (!iso) return 'never';
  const s = Math.round((Date.now() - Date.parse(iso)) / 1000);
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}
