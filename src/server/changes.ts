// Live updates for open dashboards (docs/api.md, "Live updates"): GET /v1/events is a stream of
// server-sent events that says *that* something changed, never what. An open page answers an
// event by reading again, through the ordinary authenticated routes, only what it shows; so
// the stream carries no data a token could not read, and a page that misses an event loses
// nothing (the next one, or its reconnect, makes it read again).
//
// Cost: one event is one small write per open stream. Changes are coalesced: at most one event
// per MIN_GAP_MS (a burst of 1,000 submissions is one or two events), sent at once when the
// last one is older than that, so a change reaches an open page within MIN_GAP_MS plus the
// page's own read, well inside a second. A page that does not read what is written (its
// buffer holds more than MAX_BUFFERED bytes) is cut off; its browser reconnects.
import type { ServerResponse } from 'node:http';

/** What changed: the jobs, queue, teams and fleet (`jobs`), or proposals and the policy (`governance`). */
export type Topic = 'jobs' | 'governance';

export const MIN_GAP_MS = 250;
const HEARTBEAT_MS = 20_000;
const MAX_BUFFERED = 256 * 1024;

export class Changes {
  private seq = 0;
  private lastSent = -Infinity;
  private readonly waiting = new Set<Topic>();
  private timer: NodeJS.Timeout | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private readonly streams = new Set<ServerResponse>();

  /** Open streams (for /metrics and the benchmark). */
  get open(): number {
    return this.streams.size;
  }

  /** The number of the last event sent. */
  get sequence(): number {
    return this.seq;
  }

  notify(topic: Topic): void {
    this.waiting.add(topic);
    if (this.timer || this.streams.size === 0) {
      // Nobody listens: nothing to send (a page that connects later reads everything anyway).
      if (this.streams.size === 0) this.waiting.clear();
      return;
    }
    const wait = this.lastSent + MIN_GAP_MS - performance.now();
    if (wait <= 0) this.flush();
    else this.timer = setTimeout(() => this.flush(), wait);
  }

  /** Starts an event stream on a response whose headers are not sent yet; returns its detach. */
  attach(res: ServerResponse, requestId: string): () => void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no',
      'x-request-id': requestId,
    });
    // `retry`: a dropped stream is reopened after a second; `hello` tells the page where it starts.
    res.write(`retry: 1000\nevent: hello\ndata: ${JSON.stringify({ seq: this.seq })}\n\n`);
    this.streams.add(res);
    this.heartbeat ??= setInterval(() => this.broadcast(': keep-alive\n\n'), HEARTBEAT_MS).unref();
    const detach = (): void => {
      this.streams.delete(res);
      if (this.streams.size === 0 && this.heartbeat) {
        clearInterval(this.heartbeat);
        this.heartbeat = null;
      }
    };
    res.on('close', detach);
    return detach;
  }

  /** Ends every stream (the server is stopping). */
  close(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.timer = this.heartbeat = null;
    for (const res of [...this.streams]) res.end();
    this.streams.clear();
  }

  private flush(): void {
    this.timer = null;
    if (this.waiting.size === 0) return;
    this.seq++;
    this.lastSent = performance.now();
    const topics = [...this.waiting].sort();
    this.waiting.clear();
    this.broadcast(`id: ${this.seq}\nevent: change\ndata: ${JSON.stringify({ seq: this.seq, topics })}\n\n`);
  }

  private broadcast(text: string): void {
    for (const res of this.streams) {
      if (res.writableLength > MAX_BUFFERED) res.destroy();
      else res.write(text);
    }
  }
}
