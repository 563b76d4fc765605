// Reads Kubernetes manifests from YAML files and folders, for the checks in scripts/check.ts and the tests.
import { readdirSync, readFileSync, statSync } from 'fs';
import { join } from 'path';
import { parseAllDocuments } from 'yaml';

/** One Kubernetes object and where it came from. */
export interface Manifest {
  /** `file#index`, or `file#index:<configmap key>` for a pod template kept in a ConfigMap. */
  readonly source: string;
  readonly text: string;
  readonly object: { apiVersion?: string; kind?: string; metadata?: { name?: string; namespace?: string }; [key: string]: unknown };
}

/** The .yaml/.yml files among `paths` (folders are read one level deep, as `kubectl apply -f` does). */
export function yamlFiles(paths: string[]): string[] {
  return paths.flatMap(p => statSync(p).isDirectory()
    ? readdirSync(p).filter(f => /\.ya?ml$/.test(f)).sort().map(f => join(p, f))
    : [p]);
}

/** Parses YAML text into manifests; throws on a YAML syntax error. */
export function parseManifests(source: string, text: string): Manifest[] {
  const out: Manifest[] = [];
  parseAllDocuments(text).forEach((doc, i) => {
    if ('errors' in doc && doc.errors.length) throw new Error(`${source}#${i}: ${doc.errors[0].message}`);
    const object = doc.toJS();
    if (object === null || object === undefined) return;
    const [start, , end] = doc.range;
    out.push({ source: `${source}#${i}`, text: text.slice(start, end), object });
  });
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
      .flatMap(([key, value]) => parseManifests(`${m.source}:${key}`, value)));
  return [...manifests, ...embedded];
}
