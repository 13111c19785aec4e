// Notifications by webhook (docs/webhooks.md): the events people act on, POSTed as JSON (or
// Slack's {text}) signed with HMAC-SHA256 over "<timestamp>.<body>", retried with backoff.
//
// Never in the way of the scheduling loop: `notify` only pushes onto a bounded queue per
// endpoint (the oldest delivery is dropped, and counted, when one is full) and returns; each
// endpoint drains its own queue one delivery at a time, so a slow or dead receiver delays only
// its own notifications.
import { createHmac, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { z } from 'zod';

export const WEBHOOK_EVENTS = ['job.preempted', 'job.waiting', 'proposal.affects_team', 'governance.due'] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENTS)[number];

/** One notification: its type, the teams it concerns (empty: the whole lab), a sentence, the data. */
export interface WebhookEvent {
  readonly type: WebhookEventType;
  readonly teams: readonly string[];
  readonly text: string;
  readonly data: Record<string, unknown>;
}

const Endpoint = z
  .object({
    name: z.string().min(1).regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, dots, dashes and underscores'),
    url: z.string().regex(/^https?:\/\/\S+$/, 'an http:// or https:// URL'),
    secret: z.string().min(16, 'at least 16 characters').optional(),
    secretFile: z.string().min(1).optional(),
    format: z.enum(['json', 'slack']).default('json'),
    teams: z.array(z.string().min(1)).min(1).optional(),
    events: z.array(z.enum(WEBHOOK_EVENTS)).min(1).optional(),
  })
  .strict()
  .refine((e) => (e.secret === undefined) !== (e.secretFile === undefined), { message: 'give exactly one of secret and secretFile' });

const Config = z
  .object({
    webhooks: z.array(Endpoint).min(1),
    /** Deliveries kept per endpoint while it is slow or down; the oldest goes first. */
    queueLimit: z.number().int().min(1).max(100_000).default(1000),
    /** Attempts per delivery (the first included), with backoff 1 s, 2 s, 4 s ... up to 5 min. */
    maxAttempts: z.number().int().min(1).max(20).default(8),
    /** Seconds a receiver may take to answer. */
    timeout: z.number().positive().max(60).default(10),
    /** Extra seconds beyond minRuntime before a job waiting inside its guarantee is reported. */
    waitingGrace: z.number().min(0).default(10),
  })
  .strict();

export interface WebhookEndpoint {
  readonly name: string;
  readonly url: string;
  readonly secret: string;
  readonly format: 'json' | 'slack';
  /** Teams whose events it gets (with their subtrees); null: every event. */
  readonly teams: readonly string[] | null;
  readonly events: readonly WebhookEventType[] | null;
}

export interface WebhookConfig {
  readonly endpoints: readonly WebhookEndpoint[];
  readonly queueLimit: number;
  readonly maxAttempts: number;
  readonly timeout: number;
  readonly waitingGrace: number;
}

/**
 * Reads the webhook configuration file; problems name the file and the field. With `knownTeams`
 * null the team names are not checked yet (the server reads the file before the policy, so that a
 * bad file stops it before anything is stored, and checks the teams once the policy is known).
 */
export function readWebhookConfig(text: string, file: string, knownTeams: ReadonlySet<string> | null): { config: WebhookConfig } | { problems: string[] } {
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (error) {
    return { problems: [`${file}: YAML syntax error: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`] };
  }
  const parsed = Config.safeParse(raw);
  if (!parsed.success) return { problems: parsed.error.issues.map((i) => `${file}: ${i.path.join('.') || '(top)'}: ${i.message}`) };
  const problems: string[] = [];
  const names = new Set<string>();
  const endpoints = parsed.data.webhooks.map((e, i): WebhookEndpoint => {
    if (names.has(e.name)) problems.push(`${file}: webhooks.${i}.name: "${e.name}" is used twice; names must be unique`);
    names.add(e.name);
    for (const team of e.teams ?? []) if (knownTeams && !knownTeams.has(team)) problems.push(`${file}: webhooks.${i}.teams: unknown team "${team}"; teams: ${[...knownTeams].join(', ')}`);
    let secret = e.secret ?? '';
    if (e.secretFile !== undefined) {
      try {
        secret = readFileSync(e.secretFile, 'utf8').trim();
      } catch (error) {
        problems.push(`${file}: webhooks.${i}.secretFile: cannot read ${e.secretFile} (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
      }
      if (secret !== '' && secret.length < 16) problems.push(`${file}: webhooks.${i}.secretFile: the secret in ${e.secretFile} has fewer than 16 characters`);
    }
    return { name: e.name, url: e.url, secret, format: e.format, teams: e.teams ?? null, events: e.events ?? null };
  });
  if (problems.length > 0) return { problems };
  const { queueLimit, maxAttempts, timeout, waitingGrace } = parsed.data;
  return { config: { endpoints, queueLimit, maxAttempts, timeout, waitingGrace } };
}

/** The signature header's value for a body sent at `timestamp` (seconds): `sha256=<hex>`. */
export function signature(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** Seconds before attempt `n + 1` (n >= 1): 1, 2, 4, ... at most 300. */
export function backoff(n: number): number {
  return Math.min(300, 2 ** (n - 1));
}

interface Delivery {
  readonly id: string;
  readonly event: WebhookEvent;
  readonly body: string;
  attempts: number;
}

export interface WebhookStats {
  readonly queued: ReadonlyMap<string, number>;
  readonly outcomes: ReadonlyMap<string, { delivered: number; failed: number; dropped: number; retried: number }>;
}

export interface NotifierOptions {
  readonly config: WebhookConfig;
  /** Whether `team` is `ancestor` or below it (a team's endpoints hear of its subtree). */
  readonly within: (team: string, ancestor: string) => boolean;
  readonly logger: { warn(obj: object, msg: string): void };
  readonly clock?: () => number;
}

/** One endpoint's queue and its drain. */
class Outbox {
  readonly queue: Delivery[] = [];
  readonly counts = { delivered: 0, failed: 0, dropped: 0, retried: 0 };
  private busy = false;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private inFlight: AbortController | null = null;

  constructor(
    readonly endpoint: WebhookEndpoint,
    private readonly options: NotifierOptions,
  ) {}

  push(delivery: Delivery): void {
    if (this.closed) return;
    this.queue.push(delivery);
    // The one in flight (first while busy) is never dropped: it may already have arrived.
    while (this.queue.length > this.options.config.queueLimit) {
      const [dropped] = this.queue.splice(this.busy ? 1 : 0, 1) as [Delivery];
      this.counts.dropped++;
      this.options.logger.warn({ webhook: this.endpoint.name, delivery: dropped.id, event: dropped.event.type }, 'webhook queue full: dropped the oldest delivery');
    }
    this.pump();
  }

  private pump(): void {
    if (this.busy || this.timer || this.closed || this.queue.length === 0) return;
    this.busy = true;
    void this.sendFirst().finally(() => {
      this.busy = false;
      this.pump();
    });
  }

  /** Sends the first delivery; on failure it stays first and the queue waits out the backoff. */
  private async sendFirst(): Promise<void> {
    const delivery = this.queue[0]!;
    delivery.attempts++;
    const clock = this.options.clock ?? ((): number => Date.now() / 1000);
    const timestamp = String(Math.floor(clock()));
    const controller = new AbortController();
    this.inFlight = controller;
    const timer = setTimeout(() => controller.abort(), this.options.config.timeout * 1000);
    let failure: string | null = null;
    try {
      const response = await fetch(this.endpoint.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'arbiter-webhooks',
          'x-arbiter-event': delivery.event.type,
          'x-arbiter-delivery': delivery.id,
          'x-arbiter-attempt': String(delivery.attempts),
          'x-arbiter-timestamp': timestamp,
          'x-arbiter-signature': signature(this.endpoint.secret, timestamp, delivery.body),
        },
        body: delivery.body,
        signal: controller.signal,
      });
      await response.arrayBuffer().catch(() => undefined);
      if (!response.ok) failure = `HTTP ${response.status}`;
    } catch (error) {
      failure = controller.signal.aborted ? `no answer within ${this.options.config.timeout} s` : error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : String(error);
    } finally {
      clearTimeout(timer);
      this.inFlight = null;
    }
    if (this.queue[0] !== delivery) return; // dropped meanwhile (queue full)
    if (failure === null) {
      this.queue.shift();
      this.counts.delivered++;
      return;
    }
    if (delivery.attempts >= this.options.config.maxAttempts) {
      this.queue.shift();
      this.counts.failed++;
      this.options.logger.warn({ webhook: this.endpoint.name, delivery: delivery.id, attempts: delivery.attempts, cause: failure }, 'webhook delivery failed: gave up');
      return;
    }
    this.counts.retried++;
    this.options.logger.warn({ webhook: this.endpoint.name, delivery: delivery.id, attempt: delivery.attempts, cause: failure }, 'webhook delivery failed: will retry');
    if (this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.pump();
    }, backoff(delivery.attempts) * 1000);
    this.timer.unref();
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.inFlight?.abort();
  }
}

/** Routes events to the endpoints that want them and delivers them in the background. */
export class WebhookNotifier {
  private readonly outboxes: Outbox[];

  constructor(private readonly options: NotifierOptions) {
    this.outboxes = options.config.endpoints.map((e) => new Outbox(e, options));
  }

  get config(): WebhookConfig {
    return this.options.config;
  }

  /** Queues `event` for every endpoint that wants it; returns at once (never waits for a receiver). */
  notify(event: WebhookEvent): void {
    for (const box of this.outboxes) {
      const { endpoint } = box;
      if (endpoint.events && !endpoint.events.includes(event.type)) continue;
      if (endpoint.teams && !event.teams.some((t) => endpoint.teams!.some((mine) => this.options.within(t, mine)))) continue;
      const id = randomUUID();
      const payload = { id, type: event.type, at: new Date((this.options.clock ?? (() => Date.now() / 1000))() * 1000).toISOString(), teams: event.teams, text: event.text, data: event.data };
      // Slack's incoming webhooks take {text} (mrkdwn); the JSON format carries everything.
      const body = JSON.stringify(endpoint.format === 'slack' ? { text: event.text } : payload);
      box.push({ id, event, body, attempts: 0 });
    }
  }

  stats(): WebhookStats {
    return {
      queued: new Map(this.outboxes.map((b) => [b.endpoint.name, b.queue.length])),
      outcomes: new Map(this.outboxes.map((b) => [b.endpoint.name, { ...b.counts }])),
    };
  }

  /** Stops retrying and aborts what is in flight; queued deliveries are dropped (they are notifications, not records). */
  close(): void {
    for (const box of this.outboxes) box.close();
  }
}
