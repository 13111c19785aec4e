// Reading request bodies, in words a caller can act on: JSON checked as bytes (UTF-8, then JSON
// with no prototype poisoning, then no lone surrogate), and zod's issues explained from the
// schema's descriptions. Free of the HTTP server, so that a worker thread can read a proposal
// with a large attached trace off the event loop (impact-worker.ts) exactly as the app reads any
// other body.
import secureJson from 'secure-json-parse';
import { z } from 'zod';
import { AmendBody, ProposalBody } from './governance-schemas.js';
import { firstInvalidUtf8, jsonPathAt, loneSurrogates } from './text-checks.js';

export interface BodyProblem {
  readonly message: string;
  readonly issues: { path: string; message: string }[];
}

export type Read<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly problem: BodyProblem };

/** Default bound on an attached trace: 100,000 jobs (the 82,247 jobs of Philly fit). */
export const DEFAULT_MAX_TRACE_JOBS = 100_000;

/**
 * A JSON body from its bytes. Invalid UTF-8 is named with the field it sits in (decoding would
 * store U+FFFD), and so is a lone surrogate; broken JSON gets the messages of Fastify's own
 * parser, which this replaces (same library and options: `__proto__` and `constructor.prototype`
 * keys are refused).
 */
export function readJson(bytes: Uint8Array): Read<unknown> {
  const bad = firstInvalidUtf8(bytes);
  if (bad >= 0) {
    const where = jsonPathAt(Buffer.from(bytes.buffer, bytes.byteOffset, bad).toString('utf8'));
    const message = `byte ${bad} is not UTF-8 (invalid or overlong bytes, or an encoded surrogate): send the body as UTF-8`;
    return { ok: false, problem: { message: 'the body is not valid UTF-8', issues: [{ path: where, message }] } };
  }
  const whole = (message: string): Read<unknown> => ({ ok: false, problem: { message, issues: [{ path: '(body)', message }] } });
  if (bytes.length === 0) return whole("Body cannot be empty when content-type is set to 'application/json'");
  let value: unknown;
  try {
    value = secureJson.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8'), undefined, { protoAction: 'error', constructorAction: 'error' });
  } catch {
    return whole("Body is not valid JSON but content-type is set to 'application/json'");
  }
  const lone = loneSurrogates(value);
  if (lone.length > 0) return { ok: false, problem: { message: `the body holds text that is not Unicode: ${lone.length} problem(s)`, issues: lone } };
  return { ok: true, value };
}

/** The schema of the field at `path` inside an object schema (optional and nullable unwrapped), if any. */
function fieldAt(schema: z.ZodType, path: readonly PropertyKey[]): z.ZodType | undefined {
  let at: z.ZodType | undefined = schema;
  for (const key of path) {
    while (at instanceof z.ZodOptional || at instanceof z.ZodNullable || at instanceof z.ZodDefault) at = at.unwrap() as z.ZodType;
    if (!(at instanceof z.ZodObject) || typeof key !== 'string') return undefined;
    at = (at.shape as Record<string, z.ZodType>)[key];
  }
  return at;
}

/**
 * zod's issues in words a caller can act on: what the field is (the schema's description), what
 * was wrong, and for an unknown field the fields the body takes.
 */
export function zodIssues(error: z.ZodError, schema?: z.ZodType): { path: string; message: string }[] {
  return error.issues.map((i) => {
    const path = i.path.map(String).join('.') || '(body)';
    const field = schema ? fieldAt(schema, i.path) : undefined;
    const what = field?.description ?? (field instanceof z.ZodOptional ? (field.unwrap() as z.ZodType).description : undefined);
    const about = what ? (i.path.length ? ` (${path}: ${what})` : ` (${what.toLowerCase()})`) : '';
    const a = (word: string): string => `${/^[aeiou]/.test(word) ? 'an' : 'a'} ${word}`;
    let message = i.message;
    if (i.code === 'invalid_type' && /received undefined$/.test(i.message)) message = `required${about}`;
    else if (i.code === 'invalid_type' && i.expected === 'int') message = `must be a whole number${about}`;
    else if (i.code === 'invalid_type') {
      const received = /received (\w+)$/.exec(i.message)?.[1];
      message = `must be ${a(i.expected)}${received ? `, not ${received === 'null' ? 'null' : a(received)}` : ''}${about}`;
    }
    else if (i.code === 'too_small' && i.origin === 'number') message = `must be ${i.inclusive ? 'at least' : 'more than'} ${String(i.minimum)}${about}`;
    else if (i.code === 'too_big' && i.origin === 'number') message = `must be ${i.inclusive ? 'at most' : 'less than'} ${String(i.maximum)}${about}`;
    else if (i.code === 'unrecognized_keys') {
      const parent = schema ? fieldAt(schema, i.path) : undefined;
      const known = parent instanceof z.ZodObject ? Object.keys(parent.shape) : [];
      message = `unknown field${i.keys.length === 1 ? '' : 's'} ${i.keys.map((k) => JSON.stringify(k)).join(', ')}${known.length ? `; the fields are: ${known.join(', ')}` : ''}`;
    }
    return { path, message };
  });
}

/** A value checked against a schema, with every problem (`what`: "the proposal", "the job"...). */
export function validate<T extends z.ZodType>(schema: T, value: unknown, what: string): Read<z.infer<T>> {
  const result = schema.safeParse(value);
  if (result.success) return { ok: true, value: result.data };
  return { ok: false, problem: { message: `${what} is not valid: ${result.error.issues.length} problem(s)`, issues: zodIssues(result.error, schema) } };
}

/** Rows after the header of a CSV text (blank lines do not count). */
export function csvRows(text: string): number {
  let rows = -1;
  for (let start = 0; start < text.length; ) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    if (text.slice(start, end).trim() !== '') rows++;
    start = end + 1;
  }
  return Math.max(0, rows);
}

/**
 * Refuses an attached trace with more jobs than the server analyses, before its jobs are
 * validated one by one (the size of an impact analysis grows with it). CSV: the rows after the header.
 */
export function traceSizeProblem(trace: unknown, limit: number): BodyProblem | null {
  const count = Array.isArray(trace) ? trace.length : typeof trace === 'string' ? csvRows(trace) : 0;
  if (count <= limit) return null;
  const message = `the attached trace has ${count} jobs, more than the ${limit} this server analyses; attach at most ${limit} (the server's --max-trace-jobs)`;
  return { message, issues: [{ path: 'trace', message }] };
}

/** The bodies that may attach a trace. */
export const PROPOSAL_BODIES = {
  proposal: { schema: ProposalBody, what: 'the proposal' },
  emergency: { schema: ProposalBody, what: 'the emergency change' },
  amend: { schema: AmendBody, what: 'the amendment' },
} as const;
export type ProposalBodyKind = keyof typeof PROPOSAL_BODIES;

/** A proposal, emergency change or amendment as read, without its attached trace. */
export type ProposalFields = Omit<z.infer<typeof ProposalBody>, 'trace'> | Omit<z.infer<typeof AmendBody>, 'trace'>;

/**
 * Reads a body that may attach a trace: JSON, then the trace's size bound, then the schema
 * (every job of the trace included). The trace itself stays in the body's bytes, which the
 * impact analysis reads again where it runs; `trace` says whether there is one and in which form.
 */
export function readProposalBody(bytes: Uint8Array, kind: ProposalBodyKind, maxTraceJobs: number): Read<{ fields: ProposalFields; trace: 'csv' | 'json' | null }> {
  const read = readProposal(bytes, kind, maxTraceJobs);
  if (!read.ok) return read;
  const { trace, ...fields } = read.value;
  return { ok: true, value: { fields, trace: trace === undefined ? null : typeof trace === 'string' ? 'csv' : 'json' } };
}

/** readProposalBody with the trace as validated: canonical CSV text, or jobs. */
export function readProposal(bytes: Uint8Array, kind: ProposalBodyKind, maxTraceJobs: number): Read<z.infer<typeof ProposalBody> | z.infer<typeof AmendBody>> {
  const json = readJson(bytes);
  if (!json.ok) return json;
  const value = json.value;
  const trace = value !== null && typeof value === 'object' ? (value as { trace?: unknown }).trace : undefined;
  const size = traceSizeProblem(trace, maxTraceJobs);
  if (size) return { ok: false, problem: size };
  const { schema, what } = PROPOSAL_BODIES[kind];
  return validate(schema, value, what);
}
