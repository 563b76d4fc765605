import { Construct, IConstruct } from 'constructs';
import * as k8s from '../../imports/k8s';
import { AirflowConfig, AirflowSecretUse, envVarName, MANAGED_OPTIONS, OptionSecrets } from '../config/airflow-config';
import { databaseTlsClient, DatabaseTls } from '../database/database-tls';
import { GitSync } from '../dags/git-sync';
import { AIRFLOW_GID, AIRFLOW_HOME, AIRFLOW_UID, LOG_DIR } from '../core/names';
import { ContainerResources } from '../core/resources';
import { SecretKeyRef } from '../config/secrets';
import { restrictedContainerSecurity, restrictedPodSecurity } from '../core/security';
import { check, checkNoUrlPassword, checkUniqueNames } from '../core/validation';

/** Resources of the `wait-for-migrations` init container unless given. */
export const DEFAULT_MIGRATION_WAIT_RESOURCES: ContainerResources = {
  requests: { cpu: '50m', memory: '256Mi' },
  limits: { memory: '512Mi' },
};

/** What an Airflow pod runs; see {@link airflowPodSpec}. */
export interface AirflowPodOptions {
  readonly config: AirflowConfig;
  readonly image: string;
  /** Name of the main container (`base` in the task pod template). */
  readonly containerName: string;
  /** Arguments for the image entrypoint, e.g. ['airflow', 'scheduler']; undefined leaves them to the executor. */
  readonly args?: string[];
  readonly resources: k8s.ResourceRequirements;
  readonly secretUses: AirflowSecretUse[];
  /** Which options given as SecretKeyRef in AirflowConfig's `options` the pod gets: all, or all but `[database]` ones (task pods). */
  readonly optionSecrets: OptionSecrets;
  readonly extraEnv?: k8s.EnvVar[];
  /**
   * Verified TLS of a database URL the main container gets in `extraEnv` (the migrations' direct connection). Containers
   * that get the config's `sql_alchemy_conn` (`secretUses`) get the config's `databaseTls`. @default none
   */
  readonly connectionTls?: Required<DatabaseTls>;
  /** Validated resources of the wait-for-migrations init container; none when undefined. */
  readonly migrationWait?: k8s.ResourceRequirements;
  /** Mount the config's shared task log volume (if it has one) at the log folder instead of an emptyDir. */
  readonly sharedLogs?: boolean;
  /** With git-sync: a one-time init container (`init`), followed by a long-running sidecar (`sidecar`). */
  readonly gitSync?: { readonly sync: GitSync; readonly as: 'sidecar' | 'init' };
  readonly serviceAccountName?: string;
  readonly ports?: k8s.ContainerPort[];
  readonly livenessProbe?: k8s.Probe;
  readonly readinessProbe?: k8s.Probe;
  readonly startupProbe?: k8s.Probe;
  readonly extraVolumes?: k8s.Volume[];
  readonly extraVolumeMounts?: k8s.VolumeMount[];
  /** Init containers to run after wait-for-migrations and git-sync. */
  readonly extraInitContainers?: k8s.Container[];
  readonly restartPolicy?: string;
}

/**
 * Validates user-given environment variables: valid names, none twice, none that the library sets, value or
 * valueFrom (a Secret reference by Kubernetes' rules), no URL password in a value, and Airflow options
 * (`AIRFLOW__SECTION__KEY`) by the rules of `options` (AirflowConfig.checkEnvOption).
 * @throws AirflowValidationError
 */
export function checkExtraEnv(scope: Construct, property: string, env: k8s.EnvVar[], reserved: string[], config: AirflowConfig): k8s.EnvVar[] {
  for (const e of env) {
    check(typeof e.name === 'string' && /^[-._a-zA-Z][-._a-zA-Z0-9]*$/.test(e.name), scope, `${property}.name`, e.name,
      'an environment variable name: letters, digits, \'_\', \'-\' or \'.\', not starting with a digit');
    check(!reserved.includes(e.name), scope, property, e.name,
      'a variable the library does not set itself (use AirflowConfig options or secrets instead)');
    check(e.value === undefined || e.valueFrom === undefined, scope, `${property}.${e.name}`, e.value,
      'either value or valueFrom, not both (Kubernetes refuses a valueFrom beside a non-empty value)');
    if (e.valueFrom?.secretKeyRef) SecretKeyRef.of(e.valueFrom.secretKeyRef.name!, e.valueFrom.secretKeyRef.key).validate(scope, `${property}.${e.name}.valueFrom.secretKeyRef`);
    checkNoUrlPassword(scope, `${property}.${e.name}`, e.value);
    config.checkEnvOption(scope, `${property}.${e.name}`, e);
  }
  return checkUniqueNames(scope, property, env);
}

/**
 * Env names the library owns: AIRFLOW_HOME, the secret options, the options it sets itself
 * (an `AIRFLOW__CORE__EXECUTOR` in env would override airflow.cfg behind the options check), and with verified
 * database TLS libpq's `PGSSLMODE` and `PGSSLROOTCERT`.
 */
export function reservedEnv(config: AirflowConfig): string[] {
  return ['AIRFLOW_HOME', ...config.databaseTls ? ['PGSSLMODE', 'PGSSLROOTCERT'] : [], ...config.secretEnv(['fernetKey', 'jwtSecret', 'jwtPublicKeys', 'apiSecretKey', 'sqlAlchemyConn']).map(e => e.name),
    ...MANAGED_OPTIONS.map(key => envVarName(...(key.split('.') as [string, string])))];
}

/**
 * The pod spec of an Airflow process: the official image as uid 50000 / gid 0 under Pod Security
 * "restricted" with a read-only root filesystem; airflow.cfg from the ConfigMap at
 * `/opt/airflow/airflow.cfg`; emptyDirs for what Airflow writes, `/opt/airflow/logs` and `/tmp`
 * (the rest of `/opt/airflow`, DAGs and plugins baked into an image included, stays as the image has
 * it); secret options from Secrets; optionally the wait-for-migrations init
 * container and git-sync.
 * @throws AirflowValidationError (naming `scope`) when `[core] dags_folder` is not where git-sync puts the DAGs.
 */
export function airflowPodSpec(scope: IConstruct, o: AirflowPodOptions): k8s.PodSpec {
  if (o.gitSync) {
    check(o.config.dagsFolder === o.gitSync.sync.dagsFolder, scope, 'config.dagsFolder', o.config.dagsFolder,
      `GitSync.dagsFolder (${o.gitSync.sync.dagsFolder}), where git-sync puts the DAGs`);
  }
  const mounts: k8s.VolumeMount[] = [
    { name: 'config', mountPath: `${AIRFLOW_HOME}/airflow.cfg`, subPath: 'airflow.cfg', readOnly: true },
    { name: 'logs', mountPath: LOG_DIR },
    { name: 'tmp', mountPath: '/tmp' },
  ];
  const logVolume = o.sharedLogs ? o.config.taskLogVolume : undefined;
  if (logVolume && o.gitSync) {
    check(logVolume.fsGroup === o.gitSync.sync.fsGroup, scope, 'config.taskLogVolume.fsGroup', logVolume.fsGroup,
      `git-sync's group (${o.gitSync.sync.fsGroup}): a pod has one fsGroup, and git-sync needs its own to read its Secret`);
  }
  const volumes: k8s.Volume[] = [
    logVolume ? logVolume.volume() : { name: 'logs', emptyDir: {} },
    { name: 'config', configMap: { name: o.config.configMapName } },
    { name: 'tmp', emptyDir: {} },
  ];
  const env: k8s.EnvVar[] = [{ name: 'AIRFLOW_HOME', value: AIRFLOW_HOME }];
  // libpq's environment and the CA for the containers that connect straight to a database with verified TLS
  const configTls = o.config.databaseTls && databaseTlsClient(o.config.databaseTls);
  const tlsOf = (uses: AirflowSecretUse[]) => uses.includes('sqlAlchemyConn') ? configTls : undefined;
  const container = (name: string, args: string[] | undefined, resources: k8s.ResourceRequirements, uses: AirflowSecretUse[],
    tls = tlsOf(uses)): k8s.Container => ({
    name,
    image: o.image,
    imagePullPolicy: 'IfNotPresent',
    ...(args ? { args } : {}),
    env: [...env, ...o.config.secretEnv(uses, o.optionSecrets), ...tls?.env ?? []],
    resources,
    securityContext: restrictedContainerSecurity(AIRFLOW_UID, AIRFLOW_GID),
    volumeMounts: [...mounts, ...tls ? [tls.mount] : [], ...o.config.secretFiles(uses).mounts],
  });

  const mainTls = o.connectionTls ? databaseTlsClient(o.connectionTls) : tlsOf(o.secretUses);
  const main = container(o.containerName, o.args, o.resources, o.secretUses, mainTls);
  main.env!.push(...(o.extraEnv ?? []));
  main.volumeMounts!.push(...(o.extraVolumeMounts ?? []));
  const initContainers: k8s.Container[] = [];
  const containers: k8s.Container[] = [{
    ...main,
    ...(o.ports ? { ports: o.ports } : {}),
    ...(o.livenessProbe ? { livenessProbe: o.livenessProbe } : {}),
    ...(o.readinessProbe ? { readinessProbe: o.readinessProbe } : {}),
    ...(o.startupProbe ? { startupProbe: o.startupProbe } : {}),
  }];
  volumes.push(...(o.extraVolumes ?? []));
  if (o.migrationWait) {
    initContainers.push(container('wait-for-migrations',
      ['airflow', 'db', 'check-migrations', '--migration-wait-timeout=60'], o.migrationWait, ['sqlAlchemyConn']));
  }
  const tlsVolume = (mainTls ?? (o.migrationWait ? configTls : undefined))?.volume;
  if (tlsVolume) volumes.push(tlsVolume);
  volumes.push(...o.config.secretFiles(o.secretUses).volumes);
  if (o.gitSync) {
    const { sync, as } = o.gitSync;
    containers[0].volumeMounts!.push(sync.dagsVolumeMount());
    volumes.push(...sync.volumes());
    // Containers of a pod start together: without a sync before it, the dag-processor's first look at an
    // empty folder marks every DAG stale until its next refresh. So a one-time sync always runs first,
    // and the sidecar keeps the checkout current afterwards (as the official chart does).
    initContainers.push(sync.initContainer());
    if (as === 'sidecar') containers.push(sync.sidecar());
  }
  initContainers.push(...(o.extraInitContainers ?? []));
  return {
    ...(o.restartPolicy ? { restartPolicy: o.restartPolicy } : {}),
    ...(o.serviceAccountName
      ? { serviceAccountName: o.serviceAccountName, automountServiceAccountToken: true }
      : { automountServiceAccountToken: false }),
    enableServiceLinks: false,
    securityContext: restrictedPodSecurity(AIRFLOW_UID, AIRFLOW_GID, logVolume?.fsGroup ?? o.gitSync?.sync.fsGroup),
    ...(initContainers.length ? { initContainers } : {}),
    containers,
    volumes,
  };
}

/**
 * The startup and liveness probes of a component that runs an Airflow job (scheduler, dag-processor, triggerer):
 * exec `airflow jobs check --job-type <jobType> --local`, run the way the official chart runs it
 * (`chart/templates/_helpers.yaml`): through the image's `/entrypoint`, so the check sees the environment the
 * entrypoint sets up for the process it checks, with `CONNECTION_CHECK_MAX_COUNT=0` so the entrypoint does not
 * first wait for the database (a probe must not hang on that: the check itself asks the database), and logging
 * at ERROR so a passing probe prints nothing.
 *
 * - `startupProbe`: every 10 s, 20 s timeout, up to 30 failures (5 minutes). The job's row appears only after the
 *   entrypoint's own wait for the database (up to `CONNECTION_CHECK_MAX_COUNT` 20 × `CONNECTION_CHECK_SLEEP_TIME`
 *   3 s in the official image) and Airflow's start; a liveness probe on a fixed delay fails "No alive jobs found"
 *   on a slow start (found by the e2e on a loaded CI machine), and Kubernetes holds liveness off until startup
 *   passes.
 * - `livenessProbe`: every 60 s, 20 s timeout, 5 failures, so a busy process is not killed.
 * @see https://kubernetes.io/docs/concepts/configuration/liveness-readiness-startup-probes/
 * @see https://airflow.apache.org/docs/docker-stack/entrypoint.html
 */
export function jobsCheckProbes(jobType: 'SchedulerJob' | 'DagProcessorJob' | 'TriggererJob'): { startupProbe: k8s.Probe; livenessProbe: k8s.Probe } {
  const exec = {
    command: ['sh', '-c', `CONNECTION_CHECK_MAX_COUNT=0 AIRFLOW__LOGGING__LOGGING_LEVEL=ERROR exec /entrypoint airflow jobs check --job-type ${jobType} --local`],
  };
  return {
    startupProbe: { exec, periodSeconds: 10, timeoutSeconds: 20, failureThreshold: 30 },
    livenessProbe: { exec, periodSeconds: 60, timeoutSeconds: 20, failureThreshold: 5 },
  };
}
