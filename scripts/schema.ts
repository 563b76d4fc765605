// Validates Kubernetes objects against a Kubernetes JSON schema strictly, as `kubeconform -strict` does:
// unknown fields are errors. The project ships two (scripts/reference/, see its README): 1.28, the API
// the constructs are typed against, and 1.36, the newest schema published; output must pass both. The
// CustomResourceDefinitions of CRD_SCHEMAS (the Gateway API's HTTPRoute) are added to each.
import { readFileSync } from 'fs';
import { basename, join } from 'path';
import Ajv, { ValidateFunction } from 'ajv';
import { parse } from 'yaml';
import { Manifest } from './manifests';

/** The Prometheus Operator release whose ServiceMonitor and PrometheusRule CRDs the output is validated against. */
export const PROMETHEUS_OPERATOR_VERSION = 'v0.85.0';

/** The schemas `npm run check` and the tests validate against, oldest first. */
export const K8S_SCHEMAS = ['1.28', '1.36'].map(v => join(__dirname, 'reference', `k8s-${v}-definitions.json`));

/**
 * CustomResourceDefinitions of resources the library emits, added to every Kubernetes schema: the Gateway API's
 * HTTPRoute (standard channel) and the Prometheus Operator's ServiceMonitor and PrometheusRule (scripts/reference/README.md). Their CEL rules (`x-kubernetes-validations`) are the
 * API server's to enforce; the integration tests install the CRD on a real one.
 */
export const CRD_SCHEMAS = [
  join(__dirname, 'reference', 'gateway-api-v1.7.0-httproutes.yaml'),
  ...['servicemonitors', 'prometheusrules'].map(kind => join(__dirname, 'reference', `prometheus-operator-${PROMETHEUS_OPERATOR_VERSION}-${kind}.yaml`)),
];

/** The JSON schema definitions of a CRD's served versions, each marked with its group, version and kind. */
export function crdDefinitions(file: string): Record<string, Schema> {
  const crd = parse(readFileSync(file, 'utf8'));
  const { group, names: { kind } } = crd.spec;
  const out: Record<string, Schema> = {};
  for (const version of crd.spec.versions.filter((v: any) => v.served)) {
    const schema = ecmaPatterns(version.schema.openAPIV3Schema);
    out[`crd.${group}.${version.name}.${kind}`] = {
      ...schema,
      // a CRD's schema says only `type: object` of metadata; the API server checks it as ObjectMeta
      properties: { ...schema.properties, metadata: { $ref: '#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta' } },
      'x-kubernetes-group-version-kind': [{ group, version: version.name, kind }],
    };
  }
  return out;
}

type Schema = { [key: string]: any };

/**
 * The schema with each `pattern` in Go's RE2 syntax that JavaScript lacks rewritten to its equivalent: the API server
 * compiles CRD patterns with Go, which takes the flag group `(?i)` (the Prometheus Operator's ServiceMonitor has
 * `^(?i)(abort|warn)?$`); each letter becomes a class of both cases. A pattern with `(?i)` and a character class is
 * refused rather than guessed.
 */
function ecmaPatterns(schema: Schema): Schema {
  if (Array.isArray(schema)) return schema.map(ecmaPatterns);
  if (schema === null || typeof schema !== 'object') return schema;
  const out: Schema = {};
  for (const [k, v] of Object.entries(schema)) {
    if (k === 'pattern' && typeof v === 'string' && v.includes('(?i)')) {
      if (/\\|\[/.test(v.replace('(?i)', '')) || v.indexOf('(?i)') !== v.lastIndexOf('(?i)')) throw new Error(`schema: no rewrite for the RE2 pattern ${v}`);
      out[k] = v.replace('(?i)', '').replace(/[a-zA-Z]/g, c => `[${c.toLowerCase()}${c.toUpperCase()}]`);
    } else {
      out[k] = ecmaPatterns(v as Schema);
    }
  }
  return out;
}

/** Closes every object schema that lists properties and says nothing of others. */
function strict(schema: Schema): Schema {
  if (Array.isArray(schema)) return schema.map(strict);
  if (schema === null || typeof schema !== 'object') return schema;
  const out: Schema = {};
  for (const [k, v] of Object.entries(schema)) out[k] = k === 'properties' ? Object.fromEntries(Object.entries(v).map(([p, s]) => [p, strict(s as Schema)])) : strict(v as Schema);
  if (out.properties && out.additionalProperties === undefined) out.additionalProperties = false;
  return out;
}

export class SchemaValidator {
  /** What the schema is, for messages: "Kubernetes 1.36" for `k8s-1.36-definitions.json`, else the file name. */
  public readonly label: string;
  private readonly ajv: Ajv;
  /** `apiVersion/kind` -> definition name. */
  private readonly kinds = new Map<string, string>();
  private readonly compiled = new Map<string, ValidateFunction>();

  /** @param allowUnknownKinds pass objects of kinds the schema lacks (custom resources) instead of failing them */
  constructor(schemaPath = K8S_SCHEMAS[0], private readonly allowUnknownKinds = false) {
    const version = /^k8s-(\d+\.\d+)-definitions\.json$/.exec(basename(schemaPath));
    this.label = version ? `Kubernetes ${version[1]}` : basename(schemaPath);
    const { definitions: k8sDefinitions } = JSON.parse(readFileSync(schemaPath, 'utf8')) as { definitions: Record<string, Schema> };
    const definitions: Record<string, Schema> = Object.assign({}, k8sDefinitions, ...CRD_SCHEMAS.map(crdDefinitions));
    for (const [name, def] of Object.entries(definitions)) {
      for (const gvk of def['x-kubernetes-group-version-kind'] ?? []) {
        const apiVersion = gvk.group ? `${gvk.group}/${gvk.version}` : gvk.version;
        const key = `${apiVersion}/${gvk.kind}`;
        if (!this.kinds.has(key) && !name.startsWith('io.k8s.apimachinery')) this.kinds.set(key, name);
      }
    }
    this.ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
    this.ajv.addSchema({ $id: 'k8s', definitions: strict(definitions) });
  }

  /** Whether the schema has the object's kind. */
  public knows(m: Manifest): boolean {
    return this.kinds.has(`${m.object.apiVersion}/${m.object.kind}`);
  }

  /** Error messages for one object; empty when it is valid. */
  public validate(m: Manifest): string[] {
    const { apiVersion, kind } = m.object;
    const name = this.kinds.get(`${apiVersion}/${kind}`);
    if (!name) return this.allowUnknownKinds ? [] : [`${m.source}: ${apiVersion}/${kind} is not a ${this.label} kind (removed, not yet added, or a custom resource? see --allow-unknown-kinds)`];
    let fn = this.compiled.get(name);
    if (!fn) {
      fn = this.ajv.getSchema(`k8s#/definitions/${name}`)!;
      this.compiled.set(name, fn);
    }
    if (fn(m.object)) return [];
    return (fn.errors ?? []).map(e => `${m.source} (${kind} ${m.object.metadata?.name}, ${this.label}): ${e.instancePath || '/'} ${e.message}` +
      (e.keyword === 'additionalProperties' ? ` '${(e.params as { additionalProperty: string }).additionalProperty}'` : ''));
  }
}
