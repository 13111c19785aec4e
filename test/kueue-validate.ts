// Validates Kueue objects as a Kubernetes API server would on create, against the v1beta2
// CRD schemas in test/fixtures/kueue-crds (copied from Kueue, see its README):
// 1. metadata: the name (DNS subdomain; a LocalQueue's namespace a DNS label), annotations;
// 2. the structural schema (openAPIV3Schema) with ajv, after its defaults are applied (the
//    API server defaults before it validates), unknown fields refused (strict field validation),
//    int32/int64 formats checked;
// 3. x-kubernetes-list-type map/set: no two items with the same keys / value;
// 4. every x-kubernetes-validations CEL rule where its field is present, evaluated with
//    @marcbachmann/cel-js on the defaulted object (integers as CEL ints); transition rules
//    (those reading oldSelf) apply to updates only and are skipped, as on create.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { evaluate } from '@marcbachmann/cel-js';
import { Ajv, type ValidateFunction } from 'ajv';
import { parse } from 'yaml';
import { repoRoot } from './cli-harness.js';

type Schema = Record<string, unknown> & {
  properties?: Record<string, Schema>;
  items?: Schema;
  additionalProperties?: Schema | boolean;
  type?: string;
  'x-kubernetes-validations'?: { rule: string; message?: string }[];
  'x-kubernetes-list-type'?: string;
  'x-kubernetes-list-map-keys'?: string[];
};

const CRD_DIR = path.join(repoRoot, 'test/fixtures/kueue-crds');
const FILES: Record<string, string> = {
  ResourceFlavor: 'kueue.x-k8s.io_resourceflavors.yaml',
  WorkloadPriorityClass: 'kueue.x-k8s.io_workloadpriorityclasses.yaml',
  Cohort: 'kueue.x-k8s.io_cohorts.yaml',
  ClusterQueue: 'kueue.x-k8s.io_clusterqueues.yaml',
  LocalQueue: 'kueue.x-k8s.io_localqueues.yaml',
};

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const QUALIFIED_NAME = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

interface Kind {
  readonly scope: 'Cluster' | 'Namespaced';
  readonly schema: Schema;
  readonly validate: ValidateFunction;
}

/** A copy of a CRD schema where objects with listed properties refuse others (strict fields). */
function strict(schema: Schema): Schema {
  const out: Schema = { ...schema };
  if (schema.properties) {
    out.properties = Object.fromEntries(Object.entries(schema.properties).map(([k, v]) => [k, strict(v)]));
    if (schema.additionalProperties === undefined) out.additionalProperties = false;
  }
  if (schema.items) out.items = strict(schema.items);
  if (typeof schema.additionalProperties === 'object') out.additionalProperties = strict(schema.additionalProperties);
  return out;
}

let kinds: Map<string, Kind> | undefined;
function loadKinds(): Map<string, Kind> {
  if (kinds) return kinds;
  const ajv = new Ajv({ strict: false, allErrors: true, useDefaults: true });
  ajv.addFormat('int32', { type: 'number', validate: (n: number) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31 });
  ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isSafeInteger(n) });
  ajv.addFormat('date-time', { type: 'string', validate: (s: string) => !Number.isNaN(Date.parse(s)) });
  kinds = new Map();
  for (const [kind, file] of Object.entries(FILES)) {
    const crd = parse(readFileSync(path.join(CRD_DIR, file), 'utf8')) as {
      spec: { scope: 'Cluster' | 'Namespaced'; names: { kind: string }; versions: { name: string; schema: { openAPIV3Schema: Schema } }[] };
    };
    if (crd.spec.names.kind !== kind) throw new Error(`${file} defines ${crd.spec.names.kind}, not ${kind}`);
    const version = crd.spec.versions.find((v) => v.name === 'v1beta2');
    if (!version) throw new Error(`${file} has no v1beta2 version`);
    const schema = version.schema.openAPIV3Schema;
    kinds.set(kind, { scope: crd.spec.scope, schema, validate: ajv.compile(strict(schema)) });
  }
  return kinds;
}

/** The value as CEL sees it: integers of integer fields as CEL ints (bigint). */
function celValue(value: unknown, schema: Schema | undefined): unknown {
  if (typeof value === 'number' && schema?.type === 'integer') return BigInt(value);
  if (Array.isArray(value)) return value.map((v) => celValue(v, schema?.items));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [
        k,
        celValue(v, schema?.properties?.[k] ?? (typeof schema?.additionalProperties === 'object' ? schema.additionalProperties : undefined)),
      ]),
    );
  }
  return value;
}

/** Every problem of `object` (after defaulting) for the CEL rules and list types under `schema`. */
function walk(value: unknown, schema: Schema, where: string, problems: string[]): void {
  for (const { rule, message } of schema['x-kubernetes-validations'] ?? []) {
    if (/\boldSelf\b/.test(rule)) continue; // a transition rule: updates only
    let ok: unknown;
    try {
      ok = evaluate(rule, { self: celValue(value, schema) });
    } catch (error) {
      problems.push(`${where}: CEL rule ${rule} failed to evaluate: ${(error as Error).message}`);
      continue;
    }
    if (ok !== true) problems.push(`${where}: CEL rule ${rule} is false${message ? ` (${message})` : ''}`);
  }
  if (Array.isArray(value)) {
    const listType = schema['x-kubernetes-list-type'];
    const keys = schema['x-kubernetes-list-map-keys'];
    if (listType === 'map' || listType === 'set') {
      const seen = new Set<string>();
      for (const item of value) {
        const key = listType === 'map' && keys ? JSON.stringify(keys.map((k) => (item as Record<string, unknown>)[k])) : JSON.stringify(item);
        if (seen.has(key)) problems.push(`${where}: duplicate item ${key} in a list of type ${listType}`);
        seen.add(key);
      }
    }
    if (schema.items) value.forEach((item, i) => walk(item, schema.items!, `${where}[${i}]`, problems));
    return;
  }
  if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) {
      const child = schema.properties?.[k] ?? (typeof schema.additionalProperties === 'object' ? schema.additionalProperties : undefined);
      if (child) walk(v, child, where === '' ? k : `${where}.${k}`, problems);
    }
  }
}

/** Every reason the API server would refuse `object` on create; empty when it is valid. */
export function kueueProblems(object: unknown): string[] {
  const o = object as { apiVersion?: unknown; kind?: unknown; metadata?: { name?: unknown; namespace?: unknown; annotations?: unknown } };
  const kind = typeof o.kind === 'string' ? loadKinds().get(o.kind) : undefined;
  if (!kind) return [`kind ${JSON.stringify(o.kind)} is not one of ${Object.keys(FILES).join(', ')}`];
  const name = `${String(o.kind)} ${JSON.stringify(o.metadata?.name)}`;
  const problems: string[] = [];
  if (o.apiVersion !== 'kueue.x-k8s.io/v1beta2') problems.push(`${name}: apiVersion ${JSON.stringify(o.apiVersion)} is not kueue.x-k8s.io/v1beta2`);
  const objectName = o.metadata?.name;
  if (typeof objectName !== 'string' || !DNS_SUBDOMAIN.test(objectName) || objectName.length > 253) problems.push(`${name}: metadata.name is not a DNS subdomain`);
  const namespace = o.metadata?.namespace;
  if (kind.scope === 'Namespaced' && (typeof namespace !== 'string' || !DNS_LABEL.test(namespace) || namespace.length > 63)) problems.push(`${name}: metadata.namespace ${JSON.stringify(namespace)} is not a DNS label`);
  if (kind.scope === 'Cluster' && namespace !== undefined) problems.push(`${name}: a cluster-scoped object has a namespace`);
  const annotations = o.metadata?.annotations;
  if (annotations !== undefined) {
    if (typeof annotations !== 'object' || annotations === null) problems.push(`${name}: metadata.annotations is not a mapping`);
    else
      for (const [k, v] of Object.entries(annotations)) {
        if (!QUALIFIED_NAME.test(k)) problems.push(`${name}: annotation key ${k} is not a qualified name`);
        if (typeof v !== 'string') problems.push(`${name}: annotation ${k} is not a string`);
      }
  }
  const copy = structuredClone(object);
  if (!kind.validate(copy)) {
    for (const e of kind.validate.errors ?? []) problems.push(`${name}: ${e.instancePath || '(root)'} ${e.message ?? ''} ${JSON.stringify(e.params)}`);
  }
  walk(copy, kind.schema, '', problems);
  return problems.map((p) => (p.startsWith(name) ? p : `${name}: ${p}`));
}
