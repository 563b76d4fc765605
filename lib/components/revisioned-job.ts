import { createHash } from 'crypto';
import { Construct } from 'constructs';
import * as k8s from '../../imports/k8s';

/**
 * A one-off Job whose name ends in a revision, a hash of its spec (`<baseName>-<10 hex digits>`). A Job's pod
 * template is immutable, so a changed Job cannot be re-applied under the same name: with the revision,
 * re-applying unchanged output is a no-op (`kubectl apply`, Argo CD and Flux alike), and a change creates a new
 * Job that runs again. GitOps pruning removes the old one.
 */
export function revisionedJob(scope: Construct, o: { baseName: string; labels: Record<string, string>; backoffLimit: number; template: k8s.PodTemplateSpec }): { name: string; job: k8s.KubeJob } {
  const revision = createHash('sha256').update(JSON.stringify([o.template, o.backoffLimit])).digest('hex').slice(0, 10);
  const name = `${o.baseName}-${revision}`;
  const job = new k8s.KubeJob(scope, 'Resource', {
    metadata: { name, labels: o.labels },
    spec: { backoffLimit: o.backoffLimit, template: o.template },
  });
  return { name, job };
}
