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
