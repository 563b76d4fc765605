// Writes docs/architecture.md: a Mermaid diagram per environment of what dist/ deploys, generated from the
// synthesized objects themselves (never drawn by hand), so it shows what Kubernetes will run:
//   workloads (Deployments, StatefulSets, CronJobs, Jobs) with their replicas, and the task pods the
//   scheduler creates from the pod template; the Services in front of them; the ConfigMaps, Secrets and
//   PersistentVolumeClaims each mounts or reads; and the connections the NetworkPolicies allow.
// `__tests__/diagram.test.ts` fails when docs/architecture.md is not what this writes for the current dist/.
//
//   node -r ./scripts/register.js scripts/diagram.ts > docs/architecture.md
import { join } from 'path';
import { parse } from 'yaml';
import { loadManifests, Manifest, podReferences, podTemplateOf } from './manifests';

type Obj = Manifest['object'] & { metadata: { name: string; labels?: Record<string, string> }; spec?: any };

const matches = (selector: Record<string, string> | undefined, labels: Record<string, string>) =>
  selector !== undefined && Object.entries(selector).every(([k, v]) => labels[k] === v);

const matchesExpressions = (selector: any, labels: Record<string, string>) =>
  matches(selector?.matchLabels ?? {}, labels) &&
  (selector?.matchExpressions ?? []).every((e: any) => e.operator === 'In' ? e.values.includes(labels[e.key]) : e.operator === 'Exists' ? e.key in labels : true);

/** The Mermaid flowchart of one environment's objects. */
export function diagram(objects: Obj[]): string {
  const id = (kind: string, name: string) => `${kind}_${name}`.replace(/[^A-Za-z0-9_]/g, '_');
  const nodes = new Map<string, string>();
  const edges = new Set<string>();
  const pods: { node: string; labels: Record<string, string>; spec: any }[] = [];

  for (const o of objects) {
    const pod = podTemplateOf(o);
    if (!pod) continue;
    const node = id(o.kind!, o.metadata.name);
    const hpa = objects.find(h => h.kind === 'HorizontalPodAutoscaler' && h.spec.scaleTargetRef.kind === o.kind && h.spec.scaleTargetRef.name === o.metadata.name);
    const count = o.kind === 'CronJob' ? ` ${o.spec.schedule}` : o.kind === 'Job' ? ''
      : hpa ? ` ×${hpa.spec.minReplicas ?? 1}–${hpa.spec.maxReplicas}, autoscaled` : ` ×${o.spec.replicas ?? 1}`;
    nodes.set(node, `${node}["${o.kind} ${o.metadata.name}${count}"]`);
    pods.push({ node, labels: pod.labels, spec: pod.spec });
  }
  for (const o of objects.filter(x => x.kind === 'ConfigMap')) {
    for (const [key, text] of Object.entries<string>((o as any).data ?? {})) {
      if (!/\.ya?ml$/.test(key) || !/^kind:\s*Pod\s*$/m.test(text)) continue;
      const template = parse(text);
      const node = 'task_pods';
      nodes.set(node, `${node}[["task pods, from ConfigMap ${o.metadata.name}"]]`);
      pods.push({ node, labels: template.metadata?.labels ?? {}, spec: template.spec });
      const creators = objects.filter(r => r.kind === 'Role' && (r as any).rules.some((rule: any) => rule.resources?.includes('pods') && rule.verbs?.includes('create')));
      for (const role of creators) {
        for (const p of pods.filter(x => x.spec.serviceAccountName === role.metadata.name)) edges.add(`${p.node} -. creates .-> ${node}`);
      }
    }
  }
  const shape = { Secret: (n: string, label: string) => `${n}[/"${label}"/]`, ConfigMap: (n: string, label: string) => `${n}[("${label}")]`,
    PersistentVolumeClaim: (n: string, label: string) => `${n}[("${label}")]` };
  for (const { node, spec } of pods) {
    for (const r of podReferences(spec)) {
      const target = id(r.kind === 'PersistentVolumeClaim' ? 'PVC' : r.kind, r.name);
      nodes.set(target, shape[r.kind](target, `${r.kind} ${r.name}`));
      edges.add(`${node} --> ${target}`);
    }
  }
  for (const s of objects.filter(x => x.kind === 'Service')) {
    const node = id('Service', s.metadata.name);
    const ports = s.spec.ports.map((p: any) => p.port).join(', ');
    nodes.set(node, `${node}(("Service ${s.metadata.name} :${ports}"))`);
    for (const p of pods.filter(x => matches(s.spec.selector, x.labels))) edges.add(`${node} --> ${p.node}`);
  }
  for (const np of objects.filter(x => x.kind === 'NetworkPolicy')) {
    const targets = pods.filter(p => matchesExpressions(np.spec.podSelector, p.labels));
    for (const rule of np.spec.ingress ?? []) {
      const ports = (rule.ports ?? []).map((p: any) => `${p.protocol ?? 'TCP'} ${p.port}`).join(', ') || 'any port';
      const sources = rule.from === undefined ? ['anywhere'] : rule.from.flatMap((f: any) =>
        f.podSelector && !f.namespaceSelector ? pods.filter(p => matchesExpressions(f.podSelector, p.labels)).map(p => p.node) : [f.ipBlock ? `cidr ${f.ipBlock.cidr}` : 'other namespaces']);
      for (const source of sources) {
        let from = source;
        if (!nodes.has(source)) {
          from = id('clients', source);
          nodes.set(from, `${from}{{"${source}"}}`);
        }
        for (const t of targets) edges.add(`${from} == "${ports}" ==> ${t.node}`);
      }
    }
  }
  return ['flowchart LR', ...[...nodes.values()].sort().map(n => `  ${n}`), ...[...edges].sort().map(e => `  ${e}`)].join('\n');
}

/** docs/architecture.md for the files of dist/. */
export function architectureDoc(dist = join(__dirname, '..', 'dist')): string {
  const manifests = loadManifests([dist]).filter(m => !m.embeddedIn);
  const files = [...new Set(manifests.map(m => m.source.split(':')[0]))];
  const sections = files.map(file => {
    const name = file.split('/').pop()!.replace(/\.k8s\.yaml$/, '');
    const objects = manifests.filter(m => m.source.split(':')[0] === file).map(m => m.object as Obj);
    return `## ${name}\n\n\`\`\`mermaid\n${diagram(objects)}\n\`\`\``;
  });
  return `# What dist/ deploys

Generated by \`scripts/diagram.ts\` from the objects in \`dist/\` (regenerate after \`npm run synth\` with
\`node -r ./scripts/register.js scripts/diagram.ts > docs/architecture.md\`; a test fails when it is stale).
Boxes are workloads with their replicas or schedule; circles are Services; parallelograms are Secrets (referenced by
name, created outside \`dist/\`); cylinders are ConfigMaps and PersistentVolumeClaims; thin arrows mean "reads or
mounts" or "sends to"; thick arrows are the connections the NetworkPolicies allow, with their ports; the
dotted arrow is the scheduler creating task pods from the pod template.

${sections.join('\n\n')}
`;
}

if (require.main === module) process.stdout.write(architectureDoc());
