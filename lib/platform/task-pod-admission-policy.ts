import { ApiObject, Chart, JsonPatch } from 'cdk8s';
import { Construct } from 'constructs';
import * as k8s from '../../imports/k8s';
import { AirflowConfig, checkConfig } from '../config/airflow-config';
import { checkKnownProps } from '../core/known-props';
import { TaskPodTemplate } from '../components/task-pod-template';
import { check, checkDnsSubdomain, checkImage } from '../core/validation';

/** Properties of {@link TaskPodAdmissionPolicy}. */
export interface TaskPodAdmissionPolicyProps {
  readonly config: AirflowConfig;
  /** The task pod template whose pods the scheduler may create: its images, volumes, Secrets and ServiceAccount are what is allowed. */
  readonly podTemplate: TaskPodTemplate;
  /** The scheduler's ServiceAccount, whose requests the policy judges (SchedulerRbac.schedulerServiceAccountName). */
  readonly schedulerServiceAccountName: string;
  /**
   * Images tasks may run besides the template's, e.g. those a DAG's `executor_config` `pod_override` names; each
   * pinned. @default [] (only the template's images)
   */
  readonly allowedImages?: string[];
}

/** A CEL list literal of strings. */
const celList = (values: Iterable<string>) => `[${[...new Set(values)].sort().map(v => `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`).join(', ')}]`;

/**
 * What the scheduler may create: a ValidatingAdmissionPolicy with its binding (`admissionregistration.k8s.io/v1`,
 * Kubernetes 1.30 and later) that judges every pod create and update the scheduler's ServiceAccount makes in the
 * installation's namespace. Pod Security "restricted" keeps pods unprivileged, but the scheduler may create any
 * pod in its namespace: code running in the scheduler, or a DAG's `pod_override`, could start a pod that mounts the
 * installation's Secrets, runs as another ServiceAccount or runs another image. With the policy, the scheduler may
 * create only pods that look like this installation's task pods:
 * - the labels `app.kubernetes.io/instance=<instanceName>` and `app.kubernetes.io/component=worker`;
 * - images from the template and `allowedImages` only (no ephemeral containers);
 * - the template's ServiceAccount and no ServiceAccount token (`automountServiceAccountToken: false`);
 * - volumes of the template's kinds and names: emptyDir, and the template's ConfigMaps, Secrets and claims;
 * - Secret references as the template makes them: `secretKeyRef` to its Secret keys only, `envFrom` and secret
 *   volumes to the Secrets it uses whole only;
 * and on update, nothing but labels and annotations may change. A webhook that adds containers or volumes to pods
 * (a service mesh's proxy, cloud workload identity) makes them differ from the template: allow its images with
 * `allowedImages`, or keep such injection out of the namespace's task pods.
 * Cluster-scoped objects named `<namespace>-<instanceName>-task-pods`: applying them needs rights over
 * cluster-scoped admission objects.
 * @see https://kubernetes.io/docs/reference/access-authn-authz/validating-admission-policy/
 */
export class TaskPodAdmissionPolicy extends Construct {
  /** The policy's and the binding's name. */
  public readonly name: string;
  /** The images task pods may run. */
  public readonly allowedImages: readonly string[];
  /** The Secrets task pods may reference. */
  public readonly allowedSecrets: readonly string[];

  /** @throws AirflowValidationError for a config of another namespace, an unpinned allowed image or a bad ServiceAccount name. */
  constructor(scope: Construct, id: string, props: TaskPodAdmissionPolicyProps) {
    super(scope, id);
    checkKnownProps(this, props);
    const { config } = props;
    checkConfig(this, config);
    check(props.podTemplate instanceof TaskPodTemplate, this, 'podTemplate', typeof props.podTemplate, 'a TaskPodTemplate');
    const account = `system:serviceaccount:${config.namespace}:${checkDnsSubdomain(this, 'schedulerServiceAccountName', props.schedulerServiceAccountName)}`;
    this.name = `${config.namespace}-${config.names.instanceName}-task-pods`;
    const spec = k8s.toJson_PodSpec(props.podTemplate.pod.spec) as any;
    const containers: any[] = [...spec.initContainers ?? [], ...spec.containers];
    const volumes: any[] = spec.volumes ?? [];
    const extra = (props.allowedImages ?? []).map((image, i) => checkImage(this, `allowedImages[${i}]`, image));
    this.allowedImages = [...new Set([...containers.map(c => c.image), ...extra])].sort();
    // Secrets as the template uses them: single keys (`secretKeyRef` name/key pairs), or whole (envFrom, volumes);
    // a pod may not read more of a Secret than the template does
    const keyRefs = new Set<string>(containers.flatMap(c => (c.env ?? []).filter((e: any) => e.valueFrom?.secretKeyRef)
      .map((e: any) => `${e.valueFrom.secretKeyRef.name}/${e.valueFrom.secretKeyRef.key}`)));
    const envFromSecrets = new Set<string>(containers.flatMap(c => (c.envFrom ?? []).filter((f: any) => f.secretRef).map((f: any) => f.secretRef.name)));
    const volumeSecrets = new Set<string>(volumes.filter(v => v.secret).map(v => v.secret.secretName));
    this.allowedSecrets = [...new Set([...keyRefs].map(k => k.slice(0, k.lastIndexOf('/'))).concat([...envFromSecrets, ...volumeSecrets]))].sort();
    const configMaps = volumes.filter(v => v.configMap).map(v => v.configMap.name);
    const claims = volumes.filter(v => v.persistentVolumeClaim).map(v => v.persistentVolumeClaim.claimName);
    const others = volumes.filter(v => !v.emptyDir && !v.configMap && !v.secret && !v.persistentVolumeClaim).map(v => v.name);
    const serviceAccount = spec.serviceAccountName ?? 'default';
    // a template with a ServiceAccount of its own mounts its token: Kubernetes adds the projected kube-api-access-* volume
    const token = spec.automountServiceAccountToken === true;
    const labels = { 'app.kubernetes.io/instance': config.names.instanceName, 'app.kubernetes.io/component': 'worker' };
    const create = (expression: string) => `request.operation != 'CREATE' || (${expression})`;
    const secretRefs = (c: string) => `(!has(${c}.env) || ${c}.env.all(e, !has(e.valueFrom) || !has(e.valueFrom.secretKeyRef) || ` +
      `(e.valueFrom.secretKeyRef.name + '/' + e.valueFrom.secretKeyRef.key) in ${celList(keyRefs)})) && ` +
      `(!has(${c}.envFrom) || ${c}.envFrom.all(f, !has(f.secretRef) || f.secretRef.name in ${celList(envFromSecrets)}))`;

    const policy = new ApiObject(this, 'Policy', {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicy',
      metadata: { name: this.name, labels: config.names.labels('task-pod-policy') },
      spec: {
        failurePolicy: 'Fail',
        matchConstraints: {
          resourceRules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['pods'] }],
        },
        matchConditions: [{ name: 'scheduler', expression: `request.userInfo.username == '${account}'` }],
        variables: [{ name: 'containers', expression: 'object.spec.containers + (has(object.spec.initContainers) ? object.spec.initContainers : [])' }],
        validations: [
          {
            expression: create(`has(object.metadata.labels) && ${Object.entries(labels).map(([k, v]) => `'${k}' in object.metadata.labels && object.metadata.labels['${k}'] == '${v}'`).join(' && ')}`),
            message: `the scheduler creates only task pods of this installation: labels ${Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(', ')}`,
          },
          {
            expression: create(`variables.containers.all(c, c.image in ${celList(this.allowedImages)}) && !has(object.spec.ephemeralContainers)`),
            message: `task pods run only the allowed images: ${this.allowedImages.join(', ')}`,
          },
          {
            expression: create(token ? `object.spec.serviceAccountName == '${serviceAccount}'`
              : `object.spec.serviceAccountName == '${serviceAccount}' && has(object.spec.automountServiceAccountToken) && object.spec.automountServiceAccountToken == false`),
            message: token ? `task pods run as the ServiceAccount ${serviceAccount}`
              : `task pods run as the ServiceAccount ${serviceAccount} without a token (automountServiceAccountToken: false)`,
          },
          {
            expression: create('!has(object.spec.volumes) || object.spec.volumes.all(v, has(v.emptyDir) || ' +
              `(has(v.configMap) && v.configMap.name in ${celList(configMaps)}) || (has(v.secret) && v.secret.secretName in ${celList(volumeSecrets)}) || ` +
              `(has(v.persistentVolumeClaim) && v.persistentVolumeClaim.claimName in ${celList(claims)}) || ` +
              `(v.name in ${celList(others)} && !has(v.secret) && !has(v.projected) && !has(v.hostPath))` +
              (token ? " || (has(v.projected) && v.name.startsWith('kube-api-access-'))" : '') + ')'),
            message: 'task pods mount only emptyDirs and the task pod template\'s ConfigMaps, Secrets and claims',
          },
          {
            expression: create(`variables.containers.all(c, ${secretRefs('c')})`),
            message: `task pods reference only the Secret keys of the task pod template: ${[...keyRefs, ...envFromSecrets].sort().join(', ') || 'none'}`,
          },
          {
            expression: "request.operation != 'UPDATE' || object.spec == oldObject.spec",
            message: 'the scheduler changes only the labels and annotations of pods',
          },
        ],
      },
    });
    const binding = new ApiObject(this, 'Binding', {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicyBinding',
      metadata: { name: this.name, labels: config.names.labels('task-pod-policy') },
      spec: {
        policyName: this.name,
        validationActions: ['Deny'],
        matchResources: { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': config.namespace } } },
      },
    });
    // cluster-scoped: the Chart's namespace does not apply
    if (Chart.of(this).namespace !== undefined) for (const o of [policy, binding]) o.addJsonPatch(JsonPatch.remove('/metadata/namespace'));
  }
}
