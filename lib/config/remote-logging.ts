import { IConstruct } from 'constructs';
import { SecretKeyRef } from './secrets';
import { check } from '../core/validation';

/** A bucket (S3, GCS) or container (Azure Blob) and the path under it where task logs go. */
export interface LogBucket {
  /** The bucket's name, by the store's naming rules (S3: 3 to 63 lower-case letters, digits, '-' and '.'; Cloud Storage also '_'; see BUCKET_RULES in lib/config/remote-logging.ts). */
  readonly bucket: string;
  /** A path under the bucket, without leading or trailing '/'. @default 'airflow/logs' */
  readonly prefix?: string;
}

/** An Azure Blob Storage container and the path under it where task logs go. */
export interface LogContainer {
  /** The container's name: 3 to 63 lower-case letters, digits and single '-', starting and ending with a letter or digit. */
  readonly container: string;
  /** A path inside the container; Airflow requires it to start with `wasb` (`airflow_local_settings.py`). @default 'wasb-airflow-logs' */
  readonly prefix?: string;
}

/**
 * Task (and trigger) logs written to object storage when a task ends, and read from there by the api-server:
 * exactly one of `s3`, `gcs` or `azureBlob`. The official apache/airflow image ships the Amazon, Google and
 * Microsoft Azure providers that write them.
 *
 * Credentials: either the connection in `connection` (a Secret key holding an Airflow connection URI or JSON,
 * e.g. `aws://?region_name=eu-west-1` with keys, or `google-cloud-platform://?extra__google_cloud_platform__key_path=...`),
 * given to every Airflow process and task pod as `AIRFLOW_CONN_AIRFLOW_REMOTE_LOGGING`; or none, and the pods'
 * ServiceAccounts carry cloud identities (IRSA, GKE Workload Identity, Azure Workload Identity): set
 * `taskPods.serviceAccountName` and annotate the components' ServiceAccounts.
 * @see https://airflow.apache.org/docs/apache-airflow/stable/administration-and-deployment/logging-monitoring/logging-tasks.html
 */
export interface RemoteLogging {
  /** Amazon S3: `[logging] remote_base_log_folder = s3://<bucket>/<prefix>`. */
  readonly s3?: LogBucket;
  /** Google Cloud Storage: `[logging] remote_base_log_folder = gs://<bucket>/<prefix>`. */
  readonly gcs?: LogBucket;
  /** Azure Blob Storage: `[azure_remote_logging] remote_wasb_log_container = <container>`, `remote_base_log_folder = <prefix>`. */
  readonly azureBlob?: LogContainer;
  /** The Airflow connection to the storage, from a Secret, never a literal. @default none: cloud identity of the pods' ServiceAccounts */
  readonly connection?: SecretKeyRef;
}

/** The connection id remote logging uses (`[logging] remote_log_conn_id`). */
export const REMOTE_LOGGING_CONN_ID = 'airflow_remote_logging';

/** What remote logging adds to airflow.cfg, and the Secret the connection comes from. */
export interface RenderedRemoteLogging {
  readonly options: Record<string, Record<string, string>>;
  readonly connection?: { env: string; ref: SecretKeyRef };
}

const IPV4 = /^\d+\.\d+\.\d+\.\d+$/;
/**
 * Bucket naming rules of each store: S3 general purpose buckets
 * (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html) and Cloud Storage
 * (https://cloud.google.com/storage/docs/buckets#naming).
 */
const BUCKET_RULES: Record<'s3' | 'gcs', { ok: (b: string) => boolean; expected: string }> = {
  s3: {
    ok: b => /^(?=.{3,63}$)[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/.test(b) && !b.includes('..') && !IPV4.test(b)
      && !/^(xn--|sthree-|amzn-s3-demo-)/.test(b) && !/(-s3alias|--ol-s3|\.mrap|--x-s3|--table-s3)$/.test(b),
    expected: 'an S3 bucket name: 3 to 63 lower-case letters, digits, \'-\' and \'.\', starting and ending with a letter or digit, ' +
      'no "..", not an IP address, not beginning with "xn--", "sthree-" or "amzn-s3-demo-" nor ending with a reserved suffix ("-s3alias", "--ol-s3", ...) (no scheme, no path)',
  },
  gcs: {
    ok: b => /^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$/.test(b) && b.length >= 3 && b.length <= 222 && b.split('.').every(c => c.length >= 1 && c.length <= 63)
      && (b.includes('.') || b.length <= 63) && !IPV4.test(b) && !b.startsWith('goog') && !/g[o0]{2}g[l1]e/.test(b),
    expected: 'a Cloud Storage bucket name: 3 to 63 lower-case letters, digits, \'-\', \'_\' and \'.\' (up to 222 with dots, 63 between them), ' +
      'starting and ending with a letter or digit, not an IP address, not beginning with "goog" nor containing "google" (no scheme, no path)',
  },
};
const AZURE_CONTAINER = /^(?=.{3,63}$)[a-z0-9](-?[a-z0-9])*$/;
const PREFIX = /^[A-Za-z0-9!_.*'()=-]+(\/[A-Za-z0-9!_.*'()=-]+)*$/;

/**
 * Checks `remoteLogging` by the storage services' naming rules and renders it.
 * @throws AirflowValidationError for none or more than one backend, a bad bucket, container or prefix, or a literal connection.
 */
export function renderRemoteLogging(scope: IConstruct, property: string, r: RemoteLogging): RenderedRemoteLogging {
  const backends = (['s3', 'gcs', 'azureBlob'] as const).filter(k => r?.[k] !== undefined);
  check(backends.length === 1, scope, property, backends.length ? backends.join(' and ') : 'no backend',
    'exactly one of s3: { bucket }, gcs: { bucket } or azureBlob: { container }');
  const backend = backends[0];
  const prefix = (given: string | undefined, fallback: string) => {
    const p = given ?? fallback;
    check(PREFIX.test(p), scope, `${property}.${backend}.prefix`, p, 'a path such as "airflow/logs": segments of letters, digits and !_.*\'()=- joined by single \'/\'');
    return p;
  };
  const options: Record<string, Record<string, string>> = { logging: { remote_logging: 'True' } };
  if (backend === 'azureBlob') {
    const { container } = r.azureBlob!;
    check(typeof container === 'string' && AZURE_CONTAINER.test(container), scope, `${property}.azureBlob.container`, container,
      'an Azure container name: 3 to 63 lower-case letters, digits and single \'-\', starting and ending with a letter or digit');
    const base = prefix(r.azureBlob!.prefix, 'wasb-airflow-logs');
    check(base.startsWith('wasb'), scope, `${property}.azureBlob.prefix`, base, 'a path starting with "wasb" (Airflow picks the Azure handler by it)');
    options.logging.remote_base_log_folder = base;
    options.azure_remote_logging = { remote_wasb_log_container: container };
  } else {
    const { bucket } = r[backend]!;
    const rule = BUCKET_RULES[backend as 's3' | 'gcs'];
    check(typeof bucket === 'string' && rule.ok(bucket), scope, `${property}.${backend}.bucket`, bucket, rule.expected);
    options.logging.remote_base_log_folder = `${backend === 's3' ? 's3' : 'gs'}://${bucket}/${prefix(r[backend]!.prefix, 'airflow/logs')}`;
  }
  if (r.connection === undefined) return { options };
  const ref = SecretKeyRef.check(scope, `${property}.connection`, r.connection);
  options.logging.remote_log_conn_id = REMOTE_LOGGING_CONN_ID;
  return { options, connection: { env: `AIRFLOW_CONN_${REMOTE_LOGGING_CONN_ID.toUpperCase()}`, ref } };
}
