import { Airflow, AirflowProps, AirflowValidationError, RemoteLogging, SecretKeyRef } from '../lib';
import { airflowCfg, airflowReference, allContainers, envOf, find, podSpec, synth, taskPod, testChart } from './helpers';

const CONNECTION = SecretKeyRef.of('airflow-logs-connection', 'uri');
const REF = airflowReference();

function render(remoteLogging: RemoteLogging, props: AirflowProps = {}) {
  const chart = testChart();
  new Airflow(chart, 'airflow', { remoteLogging, ...props });
  const objects = synth(chart);
  return { objects, cfg: airflowCfg(objects) };
}

function errorOf(remoteLogging: any, props: AirflowProps = {}): string {
  try {
    render(remoteLogging, props);
  } catch (e) {
    expect(e).toBeInstanceOf(AirflowValidationError);
    return (e as Error).message;
  }
  throw new Error('expected an AirflowValidationError');
}

describe('RemoteLogging', () => {
  test.each([
    [{ s3: { bucket: 'my-airflow-logs' } }, 's3://my-airflow-logs/airflow/logs'],
    [{ s3: { bucket: 'logs.example.com', prefix: 'prod/tasks' } }, 's3://logs.example.com/prod/tasks'],
    [{ gcs: { bucket: 'my-airflow-logs' } }, 'gs://my-airflow-logs/airflow/logs'],
  ])('%j writes remote_base_log_folder %s, the scheme by which Airflow picks the provider\'s handler', (remote, folder) => {
    const { cfg } = render(remote);
    expect(cfg.logging.remote_logging).toBe('True');
    expect(cfg.logging.remote_base_log_folder).toBe(folder);
    expect(cfg.logging.remote_log_conn_id).toBeUndefined(); // no connection: the pods' cloud identity
    // every [logging] option written is one Airflow's configuration reference lists
    for (const option of Object.keys(cfg.logging)) expect({ option, known: REF.sections.logging[option] !== undefined }).toEqual({ option, known: true });
  });

  test('Azure Blob: the container in [azure_remote_logging], a path starting with wasb', () => {
    const { cfg } = render({ azureBlob: { container: 'airflow-logs' } });
    expect(cfg.logging.remote_base_log_folder).toBe('wasb-airflow-logs');
    expect(cfg.azure_remote_logging.remote_wasb_log_container).toBe('airflow-logs');
  });

  test('the connection comes from its Secret into every process that writes or reads logs, task pods included', () => {
    const { objects, cfg } = render({ s3: { bucket: 'my-airflow-logs' }, connection: CONNECTION });
    expect(cfg.logging.remote_log_conn_id).toBe('airflow_remote_logging');
    const expected = { secret: 'airflow-logs-connection', key: 'uri' };
    for (const name of ['airflow-api-server', 'airflow-triggerer', 'airflow-scheduler', 'airflow-dag-processor']) {
      const c = podSpec(find(objects, 'Deployment', name)).containers[0];
      expect({ name, env: envOf(c).AIRFLOW_CONN_AIRFLOW_REMOTE_LOGGING }).toEqual({ name, env: expected });
    }
    const base = allContainers(podSpec(taskPod(objects))).find((c: any) => c.name === 'base');
    expect(envOf(base).AIRFLOW_CONN_AIRFLOW_REMOTE_LOGGING).toEqual(expected);
    // the value is never in the YAML
    expect(JSON.stringify(objects)).not.toMatch(/aws:\/\/|AKIA/);
  });

  test('works beside a shared log volume', () => {
    const { cfg, objects } = render({ gcs: { bucket: 'logs-1' } }, { taskLogs: { accessMode: 'ReadWriteOnce' } });
    expect(cfg.logging.remote_base_log_folder).toBe('gs://logs-1/airflow/logs');
    find(objects, 'PersistentVolumeClaim', 'airflow-logs');
  });

  test.each([
    [{}, 'remoteLogging', /exactly one of s3/],
    [{ s3: { bucket: 'a-b' }, gcs: { bucket: 'a-b-c' } }, 'remoteLogging', /got "s3 and gcs"; expected exactly one/],
    [{ s3: {} }, 'remoteLogging.s3.bucket', /an S3 bucket name/],
    [{ s3: { bucket: 's3://my-bucket' } }, 'remoteLogging.s3.bucket', /no scheme, no path/],
    [{ gcs: { bucket: 'My_Bucket' } }, 'remoteLogging.gcs.bucket', /lower-case/],
    [{ gcs: { bucket: 'ab' } }, 'remoteLogging.gcs.bucket', /3 to 63/],
    [{ s3: { bucket: 'logs', prefix: '/airflow/' } }, 'remoteLogging.s3.prefix', /single '\/'/],
    [{ azureBlob: { container: 'air--flow' } }, 'remoteLogging.azureBlob.container', /single '-'/],
    [{ azureBlob: { container: 'logs', prefix: 'airflow-logs' } }, 'remoteLogging.azureBlob.prefix', /starting with "wasb"/],
    [{ s3: { bucket: 'logs' }, connection: 'aws://AKIA:secret@' }, 'remoteLogging.connection', /<redacted literal>.*SecretKeyRef/],
  ])('rejects %j at %s', (remote, property, expected) => {
    const message = errorOf(remote);
    expect(message).toContain(` ${property}: got `);
    expect(message).toMatch(expected);
    expect(message).not.toContain('secret@');
  });

  test('the remote options cannot be given twice through options', () => {
    expect(errorOf({ s3: { bucket: 'logs' } }, { options: { logging: { remote_base_log_folder: 's3://other/x' } } }))
      .toMatch(/options\.logging\.remote_base_log_folder: got "s3:\/\/other\/x"; expected unset with remoteLogging, which sets it/);
  });
});
