// Output hygiene: what must never be in manifests a GitOps pipeline applies, whatever produced them.
import { hasUrlPassword, isPinnedImage } from '../lib/core/validation';
import { Manifest, podTemplateOf } from './manifests';

type Json = null | string | number | boolean | Json[] | { [key: string]: Json };

const CREDENTIAL_NAME = /(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|FERNET|CREDENTIAL|SQL_ALCHEMY_CONN)/i;

function walk(value: Json, path: string, visit: (value: Json, path: string) => void): void {
  visit(value, path);
  if (Array.isArray(value)) value.forEach((v, i) => walk(v, `${path}[${i}]`, visit));
  else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) walk(v, `${path}.${k}`, visit);
}

/** The containers of any pod-bearing object (Pod, workload template, CronJob). */
export function containersOf(object: Manifest['object']): Array<{ kind: string; container: Record<string, any> }> {
  const spec = podTemplateOf(object)?.spec;
  if (!spec) return [];
  return [
    ...(spec.initContainers ?? []).map((c: any) => ({ kind: 'initContainer', container: c })),
    ...(spec.containers ?? []).map((c: any) => ({ kind: 'container', container: c })),
  ];
}

/** Problems found in one object; empty when clean. */
export function hygieneProblems(m: Manifest): string[] {
  const at = `${m.source} (${m.object.kind} ${m.object.metadata?.name})`;
  const problems: string[] = [];
  if (m.object.kind === 'Secret' && (m.object.data || m.object.stringData)) {
    problems.push(`${at}: a Secret with data: secret values do not belong in manifests; reference Secrets by name`);
  }
  walk(m.object as Json, '', (value, path) => {
    if (value === null) problems.push(`${at}: ${path} is null`);
    if (typeof value === 'string' && hasUrlPassword(value)) problems.push(`${at}: ${path} holds a URL with credentials`);
  });
  for (const { kind, container } of containersOf(m.object)) {
    const where = `${at}: ${kind} ${container.name}`;
    for (const e of container.env ?? []) {
      // a variable naming where a credential file is (_FILE, _PATH, an absolute path: the key itself comes from a Secret
      // volume) holds no credential
      const filePath = /_(FILE|PATH)$/.test(e.name) && /^\/\S*$/.test(e.value ?? '');
      if (e.value !== undefined && CREDENTIAL_NAME.test(e.name) && !filePath) {
        problems.push(`${where}: env ${e.name} has a literal value; take it from a Secret (valueFrom.secretKeyRef)`);
      }
    }
    if (!isPinnedImage(container.image)) problems.push(`${where}: image "${container.image}" is not pinned to a tag or digest`);
    const r = container.resources ?? {};
    if (!r.requests?.cpu || !r.requests?.memory || !r.limits?.memory) {
      problems.push(`${where}: needs CPU and memory requests and a memory limit`);
    }
  }
  return problems;
}
