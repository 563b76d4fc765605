import { IConstruct } from 'constructs';
import { checkAppObjectsAtSynth, checkDns1035Label } from './validation';

/**
 * The newest release of each supported Airflow series (`major.minor` → `X.Y.Z`): the release whose configuration
 * reference (scripts/reference/airflow-<X.Y.Z>-config.json, derived from its wheels on PyPI) checks the options of
 * an installation of that series. Airflow 2 (another architecture: no api-server, no Task Execution API) and 3.0 are
 * not among them. See the README's "Supported versions".
 */
export const AIRFLOW_RELEASES: Readonly<Record<string, string>> = { '3.1': '3.1.8', '3.2': '3.2.2', '3.3': '3.3.2' };

/** The Airflow version the default image runs (the newest Airflow 3 release); also the `app.kubernetes.io/version` label. */
export const AIRFLOW_VERSION = '3.3.2';

/**
 * The commit of apache/airflow that AIRFLOW_VERSION was built from: the `.release:<commit>` line of `airflow/git_version`
 * in the apache-airflow-core AIRFLOW_VERSION wheel on PyPI (its sha256 is in scripts/integration/airflow-<version>.lock.txt;
 * the integration tests read the file from the installed wheel and compare). The prod preset syncs the example DAGs at
 * this commit: a tag can be moved, a commit id cannot.
 */
export const AIRFLOW_VERSION_COMMIT = 'aa19d2dbb9ed187ec01957a92848d9b005e9ba9d';

/** The default Airflow image: the official apache/airflow image, pinned. */
export const DEFAULT_AIRFLOW_IMAGE = `apache/airflow:${AIRFLOW_VERSION}`;

/** The Airflow release series this library deploys and checks options for: `3.1` is 3.1.0 to 3.1.x. */
export const SUPPORTED_AIRFLOW_SERIES: readonly string[] = Object.keys(AIRFLOW_RELEASES);

/** `major.minor` of an `X.Y.Z` version. */
export function airflowSeries(version: string): string {
  return version.split('.').slice(0, 2).join('.');
}

// The official image's repository, with or without Docker Hub's host, and its version tags:
// `3.3.2`, `3.3.2-python3.12`, `slim-3.3.2`, `slim-3.3.2-python3.12` (https://hub.docker.com/r/apache/airflow/tags).
const OFFICIAL_IMAGE = /^(?:(?:docker\.io|index\.docker\.io|registry-1\.docker\.io)\/)?apache\/airflow:(?:slim-)?(\d+\.\d+\.\d+)(?:-python\d+(?:\.\d+)?)?(?:@sha(?:256|384|512):[a-f0-9]+)?$/;

/** The Airflow version an official `apache/airflow` image's tag names, or undefined (a custom image, a digest only). */
export function officialImageVersion(image: string): string | undefined {
  return OFFICIAL_IMAGE.exec(image)?.[1];
}

/** AIRFLOW_HOME in the official image. */
export const AIRFLOW_HOME = '/opt/airflow';

/** `[logging] base_log_folder` (Airflow's default), where every Airflow container mounts its writable `logs` volume. */
export const LOG_DIR = `${AIRFLOW_HOME}/logs`;

/** The official image's user (uid 50000) and group (gid 0); see the apache/airflow Dockerfile. */
export const AIRFLOW_UID = 50000;
export const AIRFLOW_GID = 0;

/** The Airflow components, as they appear in object names and the `app.kubernetes.io/component` label. */
export const AIRFLOW_COMPONENTS = [
  'scheduler', 'api-server', 'dag-processor', 'triggerer', 'postgresql', 'db-migrate', 'config', 'pod-template', 'worker', 'secrets',
  'default-deny', 'logs', 'cleanup-pods', 'pgbouncer', 'db-cleanup', 'postgresql-backup', 'pools', 'task-pod-policy', 'quota',
  'no-route', 'egress', 'statsd', 'dashboard',
] as const;
/** One of {@link AIRFLOW_COMPONENTS}. */
export type AirflowComponentName = typeof AIRFLOW_COMPONENTS[number];

/**
 * The longest names an instance name begins, with the limit of the kind each names: CronJob names may have 52
 * characters (the controller appends 11 for its Jobs), StatefulSet names 52 (their pods carry a
 * `controller-revision-hash` label of name + 11), the migration Job `db-migrate-<10 hex>`, everything else 63.
 */
const DERIVED_NAMES: { readonly suffix: string; readonly limit: number; readonly what: string }[] = [
  { suffix: '-postgresql-backup', limit: 52, what: 'CronJob' },
  { suffix: '-cleanup-pods', limit: 52, what: 'CronJob' },
  { suffix: '-db-cleanup', limit: 52, what: 'CronJob' },
  { suffix: '-postgresql', limit: 52, what: 'StatefulSet' },
  { suffix: '-db-migrate-0123456789', limit: 63, what: 'Job' },
  { suffix: '-postgresql-backup', limit: 63, what: 'PersistentVolumeClaim' },
  { suffix: '-dag-processor', limit: 63, what: 'Deployment' },
];
const LONGEST_NAME = DERIVED_NAMES.map(d => ({
  room: d.limit - d.suffix.length,
  why: `the tightest name it begins, the ${d.what} <instanceName>${d.suffix}, may have ${d.limit}`,
})).reduce((a, b) => (b.room < a.room ? b : a));
/** The longest instance name every derived object name still fits: 34. */
export const MAX_INSTANCE_NAME = LONGEST_NAME.room;

/**
 * Object names and labels of one Airflow installation.
 *
 * Object names are `<instanceName>-<component>` (`airflow-scheduler`, `airflow-api-server`,
 * `airflow-postgresql`): stable, human names that runbook commands such as
 * `kubectl logs deployment/airflow-scheduler` rely on. Two installations share a namespace when
 * their instance names differ.
 */
export class AirflowNames {
  /**
   * @param instanceName DNS-1035 label (it begins Service names such as `<instanceName>-api-server`, which must
   * start with a letter) of at most {@link MAX_INSTANCE_NAME} characters, so that every name it begins fits its
   * kind's limit.
   * @throws AirflowValidationError when the instance name is not such a label.
   */
  public static of(scope: IConstruct, instanceName = 'airflow'): AirflowNames {
    checkAppObjectsAtSynth(scope);
    return new AirflowNames(checkDns1035Label(scope, 'instanceName', instanceName, MAX_INSTANCE_NAME, LONGEST_NAME.why));
  }

  private constructor(public readonly instanceName: string) {}

  /** `<instanceName>-<component>`. */
  public name(component: AirflowComponentName): string {
    return `${this.instanceName}-${component}`;
  }

  /** Labels that select a component's pods: name, instance and component. Never change them: selectors are immutable. */
  public selector(component: AirflowComponentName): Record<string, string> {
    return {
      'app.kubernetes.io/name': 'airflow',
      'app.kubernetes.io/instance': this.instanceName,
      'app.kubernetes.io/component': component,
    };
  }

  /**
   * The recommended `app.kubernetes.io/*` labels for every object of a component.
   * @param image the image the object runs: `app.kubernetes.io/version` is its tag (left out when the
   * tag is no valid label value). @default the default Airflow image
   */
  public labels(component: AirflowComponentName, image = DEFAULT_AIRFLOW_IMAGE): Record<string, string> {
    const version = imageTag(image);
    return {
      ...this.selector(component),
      'app.kubernetes.io/part-of': 'airflow',
      ...(version !== undefined && LABEL_VALUE.test(version) ? { 'app.kubernetes.io/version': version } : {}),
      'app.kubernetes.io/managed-by': 'cdk8s',
    };
  }
}

const LABEL_VALUE = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

/** The tag of an image reference (`registry:5000/repo/name:tag@sha256:...` gives `tag`), if it has one. */
export function imageTag(image: string): string | undefined {
  const name = image.split('@')[0];
  const last = name.slice(name.lastIndexOf('/') + 1);
  return last.includes(':') ? last.slice(last.indexOf(':') + 1) : undefined;
}

/** Where the task pod template is mounted in the scheduler: `[kubernetes_executor] pod_template_file`. */
export const POD_TEMPLATE_DIR = `${AIRFLOW_HOME}/pod_templates`;
export const POD_TEMPLATE_FILE_NAME = 'pod_template_file.yaml';
export const POD_TEMPLATE_FILE = `${POD_TEMPLATE_DIR}/${POD_TEMPLATE_FILE_NAME}`;

/** The api-server's port (`[api] port`, default 8080). */
export const API_SERVER_PORT = 8080;
