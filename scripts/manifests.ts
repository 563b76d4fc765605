// Reads Kubernetes manifests from YAML files and folders, for the checks in scripts/check.ts and the tests.
import { readdirSync, readFileSync, statSync } from 'fs';
import { join } from 'path';
import { parseAllDocuments } from 'yaml';

/** One Kubernetes object and where it came from. */
export interface Manifest {
  /**
   * `file:line` (the line its document starts on), or `file:line <configmap key>:line` for a pod template
   * kept in a ConfigMap, so that editors and CI logs link to it.
   */
  readonly source: string;
  /** The ConfigMap manifest that holds this pod template, for an embedded one. */
  readonly embeddedIn?: Manifest;
  readonly text: string;
  readonly object: { apiVersion?: string; kind?: string; metadata?: { name?: string; namespace?: string }; [key: string]: unknown };
}

/** The .yaml/.yml files among `paths` (folders are read one level deep, as `kubectl apply -f` does). */
export function yamlFiles(paths: string[]): string[] {
  return paths.flatMap(p => statSync(p).isDirectory()
    ? readdirSync(p).filter(f => /\.ya?ml$/.test(f)).sort().map(f => join(p, f))
    : [p]);
}

/** Parses YAML text into manifests; throws on a YAML syntax error, naming its line. */
export function parseManifests(source: string, text: string, embeddedIn?: Manifest): Manifest[] {
  const out: Manifest[] = [];
  const lineOf = (offset: number) => text.slice(0, offset).split('\n').length;
  for (const doc of parseAllDocuments(text)) {
    if ('errors' in doc && doc.errors.length) throw new Error(`${source}:${lineOf(doc.errors[0].pos[0])}: ${doc.errors[0].message}`);
    const object = doc.toJS();
    if (object === null || object === undefined) continue;
    const [start, , end] = doc.range;
    // the first line of the object itself: after blank lines, comments and the `---` marker
    const first = start + (/^(?:[ \t]*(?:#[^\n]*|---[^\n]*)?\n)*/.exec(text.slice(start))?.[0].length ?? 0);
    out.push({ source: `${source}:${lineOf(first)}`, text: text.slice(start, end), object, ...(embeddedIn ? { embeddedIn } : {}) });
  }
  return out;
}

/**
 * Manifests in the files, plus any KubernetesExecutor pod template (a Pod manifest kept as a
 * ConfigMap value), so that task pods are checked like every other pod.
 */
export function loadManifests(paths: string[]): Manifest[] {
  const manifests = yamlFiles(paths).flatMap(f => parseManifests(f, readFileSync(f, 'utf8')));
  const embedded = manifests.flatMap(m => m.object.kind !== 'ConfigMap' ? [] :
    Object.entries((m.object.data ?? {}) as Record<string, string>)
      .filter(([key, value]) => /\.ya?ml$/.test(key) && /^kind:\s*Pod\s*$/m.test(value))
      .flatMap(([key, value]) => parseManifests(`${m.source} ${key}`, value, m)));
  return [...manifests, ...embedded];
}

/**
 * The pod a manifest runs, as its template gives it: a Pod's own spec and labels, a workload's
 * `spec.template`, a CronJob's job template; undefined for objects without pods.
 */
export function podTemplateOf(object: Manifest['object']): { spec: any; labels: Record<string, string> } | undefined {
  const o = object as any;
  const template = o.kind === 'Pod' ? o : o.kind === 'CronJob' ? o.spec?.jobTemplate?.spec?.template : o.spec?.template;
  return template?.spec ? { spec: template.spec, labels: template.metadata?.labels ?? {} } : undefined;
}

/** One Secret, ConfigMap or PersistentVolumeClaim a pod spec reads, and how. */
export interface PodReference {
  readonly kind: 'Secret' | 'ConfigMap' | 'PersistentVolumeClaim';
  readonly name: string;
  /** The key read; undefined when the whole object is (envFrom, a volume without items). */
  readonly key?: string;
  /** The environment variable it sets, for an env reference. */
  readonly env?: string;
  /** The file it becomes, for a volume item. */
  readonly path?: string;
  /** `env NAME`, `envFrom`, `file PATH` or `volume NAME`, for messages. */
  readonly via: string;
  readonly optional: boolean;
}

/** Every Secret, ConfigMap and PVC a pod spec reads: env valueFrom, envFrom, volumes (projected included). */
export function podReferences(spec: any): PodReference[] {
  const out: PodReference[] = [];
  for (const c of [...(spec.initContainers ?? []), ...(spec.containers ?? [])]) {
    for (const e of c.env ?? []) {
      for (const [kind, r] of [['Secret', e.valueFrom?.secretKeyRef], ['ConfigMap', e.valueFrom?.configMapKeyRef]] as const) {
        if (r) out.push({ kind, name: r.name, key: r.key, env: e.name, via: `env ${e.name}`, optional: r.optional === true });
      }
    }
    for (const e of c.envFrom ?? []) {
      for (const [kind, r] of [['Secret', e.secretRef], ['ConfigMap', e.configMapRef]] as const) {
        if (r) out.push({ kind, name: r.name, via: 'envFrom', optional: r.optional === true });
      }
    }
  }
  for (const v of spec.volumes ?? []) {
    if (v.persistentVolumeClaim) out.push({ kind: 'PersistentVolumeClaim', name: v.persistentVolumeClaim.claimName, via: `volume ${v.name}`, optional: false });
    const sources: [PodReference['kind'], any][] = [['Secret', v.secret && { ...v.secret, name: v.secret.secretName }], ['ConfigMap', v.configMap],
      ...(v.projected?.sources ?? []).flatMap((s: any) => [['Secret', s.secret], ['ConfigMap', s.configMap]] as [PodReference['kind'], any][])];
    for (const [kind, s] of sources) {
      if (!s) continue;
      if (!s.items) out.push({ kind, name: s.name, via: `volume ${v.name}`, optional: s.optional === true });
      for (const item of s.items ?? []) out.push({ kind, name: s.name, key: item.key, path: item.path, via: `file ${item.path}`, optional: s.optional === true });
    }
  }
  return out;
}

/** A manifest's namespace: its own, else that of the ConfigMap it is kept in, else `default`. */
export function namespaceOf(m: Manifest): string {
  return m.object.metadata?.namespace ?? (m.embeddedIn ? namespaceOf(m.embeddedIn) : 'default');
}
