// Pod Security Standards "restricted", checked by a maintained policy library: the
// pod-security-standards plugin of @monokle/validation (rules PSS101-PSS111 of the baseline level
// and PSS201-PSS206 of restricted, all as errors). Runs offline: only the built-in plugin is loaded.
import { Config, DefaultPluginLoader, DisabledFixer, MonokleValidator, Resource, ResourceParser, SchemaLoader } from '@monokle/validation';
import { Manifest } from './manifests';

const RULES = ['101', '102', '103', '104', '105', '106', '107', '108', '109', '110', '111', '201', '202', '203', '204', '205', '206'];

export const RESTRICTED: Config = {
  plugins: { 'pod-security-standards': true },
  rules: Object.fromEntries(RULES.map(r => [`PSS${r}`, 'err'])),
};

/** The kinds the plugin inspects; other objects have no pod spec. */
export const POD_KINDS = ['Pod', 'Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'CronJob'];

export interface PolicyViolation { readonly ruleId: string; readonly object: string; readonly path: string; readonly message: string }

export async function checkPodSecurity(manifests: Manifest[]): Promise<PolicyViolation[]> {
  const validator = new MonokleValidator({
    loader: new DefaultPluginLoader(),
    parser: new ResourceParser(),
    schemaLoader: new SchemaLoader(),
    suppressors: [], // an object cannot switch a rule off for itself with a monokle.io/suppress annotation
    fixer: new DisabledFixer(),
  });
  await validator.preload(RESTRICTED);
  const resources: Resource[] = manifests.map((m, i) => ({
    id: `r${i}`, fileId: m.source, filePath: m.source, fileOffset: 0,
    name: m.object.metadata?.name ?? '', apiVersion: m.object.apiVersion ?? '', kind: m.object.kind ?? '',
    namespace: m.object.metadata?.namespace, content: m.object, text: m.text,
  }));
  const response = await validator.validate({ resources });
  return response.runs.flatMap(run => run.results).map(r => ({
    ruleId: r.ruleId,
    object: r.locations?.[1]?.logicalLocations?.[0]?.fullyQualifiedName ?? '?',
    path: r.locations?.[1]?.logicalLocations?.[1]?.fullyQualifiedName ?? '',
    message: r.message.text,
  }));
}
