// The dashboard talks to the HTTP API of docs/api.md only, with the token the user pasted.
// The token is kept in sessionStorage: it lives as long as the browser tab, never on disk.
import type { Me } from './types';

const TOKEN_KEY = 'arbiter.token';

export const session = {
  token: (): string | null => sessionStorage.getItem(TOKEN_KEY),
  signIn: (token: string): void => sessionStorage.setItem(TOKEN_KEY, token),
  signOut: (): void => sessionStorage.removeItem(TOKEN_KEY),
};

/** An answer of the API other than 2xx, with the message of its error body (docs/api.md "Errors"). */
export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly issues: { path: string; message: string }[] = [],
  ) {
    super(message);
  }
}

/**
 * Reads started before the view that needs them is rendered (prefetch): the page's first
 * reads go out together, as soon as the script runs, rather than one round trip after sign-in.
 * Each is taken once, by the first GET of the same path within EARLY_MS; later reads (after a
 * change event) go to the server again, so a prefetched answer is never shown for a later state.
 */
const early = new Map<string, { at: number; answer: Promise<unknown> }>();
const EARLY_MS = 5000;

export function prefetch(path: string): void {
  if (session.token() === null || early.has(path)) return;
  const answer = request(path, {});
  answer.catch(() => undefined); // its reader sees the failure
  early.set(path, { at: performance.now(), answer });
}

export function api<T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const taken = init.method === undefined || init.method === 'GET' ? early.get(path) : undefined;
  if (taken) {
    early.delete(path);
    if (performance.now() - taken.at < EARLY_MS) return taken.answer as Promise<T>;
  }
  return request<T>(path, init);
}

async function request<T>(path: string, init: { method?: string; body?: unknown }): Promise<T> {
  const headers: Record<string, string> = { authorization: `Bearer ${session.token() ?? ''}` };
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(path, {
    method: init.method ?? 'GET',
    headers,
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
  const text = await response.text();
  let body: unknown;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (!response.ok) {
    const e = (body ?? {}) as {
      code?: string;
      message?: string;
      issues?: { path: string; message: string }[];
    };
    throw new ApiFailure(
      response.status,
      e.code ?? 'error',
      e.message ?? `${response.status} ${response.statusText}`,
      e.issues ?? [],
    );
  }
  return body as T;
}

export const whoAmI = (): Promise<Me> => api<Me>('/v1/me');

export type LiveState = 'connecting' | 'live' | 'reconnecting';

/**
 * Reads GET /v1/events (server-sent events) with the token in a header, which EventSource cannot
 * send; calls onChange for every `change` event and reconnects a second after the stream ends.
 * Returns the function that stops it.
 */
export function subscribe(
  onChange: (topics: string[]) => void,
  onState: (state: LiveState) => void,
): () => void {
  let stopped = false;
  let controller: AbortController | null = null;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let connects = 0;
  const connect = async (): Promise<void> => {
    controller = new AbortController();
    connects++;
    try {
      const response = await fetch('/v1/events', {
        headers: { authorization: `Bearer ${session.token() ?? ''}`, accept: 'text/event-stream' },
        signal: controller.signal,
      });
      if (!response.ok || !response.body) throw new Error(`events: ${response.status}`);
      onState('live');
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          // `hello` follows a connect; after a reconnect, what changed meanwhile is unknown, so read again.
          if (event === 'change' || (event === 'hello' && connects > 1))
            onChange(data ? ((JSON.parse(data) as { topics?: string[] }).topics ?? []) : []);
        }
      }
    } catch {
      // Aborted, or the server went away: try again below.
    }
    if (stopped) return;
    onState('reconnecting');
    timer = setTimeout(() => void connect(), 1000);
  };
  onState('connecting');
  void connect();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    controller?.abort();
  };
}
