import { AirflowConfig, AirflowConfigProps, DEFAULT_AIRFLOW_IMAGE, MigrateDatabaseJob, MigrateDatabaseJobProps, SecretKeyRef } from '../lib';
import { allContainers, envOf, find, podSpec, synth, testChart } from './helpers';

/** A chart with airflow.cfg and the migration Job only. */
function render(props: Partial<MigrateDatabaseJobProps> = {}, configProps?: AirflowConfigProps) {
  const chart = testChart();
  const config = new AirflowConfig(chart, 'config', configProps);
  const migrate = new MigrateDatabaseJob(chart, 'db-migrate', { config, ...props });
  const objects = synth(chart);
  const job = find(objects, 'Job', migrate.name);
  const spec = podSpec(job);
  return { config, migrate, objects, job, spec, container: spec.containers[0] };
}

describe('MigrateDatabaseJob', () => {
  test('is a batch/v1 Job running `airflow db migrate` through the image entrypoint', () => {
    const { job, container, spec } = render();
    expect(job.apiVersion).toBe('batch/v1');
    expect(job.kind).toBe('Job');
    expect(spec.containers).toHaveLength(1);
    expect(container.args).toEqual(['airflow', 'db', 'migrate']);
    expect(container.command).toBeUndefined();
    expect(container.image).toBe(DEFAULT_AIRFLOW_IMAGE);
  });

  test('is named <instance>-db-migrate-<revision>', () => {
    const { job, migrate } = render();
    expect(job.metadata.name).toMatch(/^airflow-db-migrate-[0-9a-f]{10}$/);
    expect(migrate.name).toBe(job.metadata.name);
    expect(render({}, { instanceName: 'team-a' }).job.metadata.name).toMatch(/^team-a-db-migrate-[0-9a-f]{10}$/);
  });

  test('the same input gives the same name, so re-applying unchanged output is a no-op', () => {
    expect(render().job.metadata.name).toBe(render().job.metadata.name);
    expect(render({ image: 'apache/airflow:3.3.1' }).job.metadata.name).toBe(render({ image: 'apache/airflow:3.3.1' }).job.metadata.name);
  });

  test('a new image or Job setting gives a new name, so an upgrade never patches the immutable pod template', () => {
    const base = render().job.metadata.name;
    expect(render({ image: 'apache/airflow:3.3.1' }).job.metadata.name).not.toBe(base);
    expect(render({ backoffLimit: 2 }).job.metadata.name).not.toBe(base);
    expect(render({ resources: { requests: { cpu: '1', memory: '1Gi' }, limits: { memory: '2Gi' } } }).job.metadata.name).not.toBe(base);
  });

  test('keeps the finished Job (no ttlSecondsAfterFinished) so GitOps tools do not run it again', () => {
    expect(render().job.spec).not.toHaveProperty('ttlSecondsAfterFinished');
  });

  test('restarts only on failure, with a bounded number of retries', () => {
    const { spec, job } = render();
    expect(['OnFailure', 'Never']).toContain(spec.restartPolicy);
    expect(job.spec.backoffLimit).toBe(6);
    expect(render({ backoffLimit: 0 }).job.spec.backoffLimit).toBe(0);
  });

  test('is a plain object: no Helm hook annotation anywhere', () => {
    const { objects } = render();
    expect(JSON.stringify(objects)).not.toContain('helm.sh/hook');
  });

  test('reads the database URL from its Secret, does not wait for migrations itself and mounts no API token', () => {
    const { spec, container, config } = render();
    expect(envOf(container).AIRFLOW__DATABASE__SQL_ALCHEMY_CONN)
      .toEqual({ secret: config.secrets.sqlAlchemyConn.secretName, key: config.secrets.sqlAlchemyConn.key });
    expect(container.env.filter((e: any) => e.name.startsWith('AIRFLOW__') && e.value !== undefined)).toEqual([]);
    expect(spec.initContainers ?? []).toEqual([]);
    expect(spec.automountServiceAccountToken).toBe(false);
  });

  test('meets Pod Security "restricted" and has requests and a memory limit', () => {
    const { spec } = render();
    expect(spec.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    for (const c of allContainers(spec)) {
      expect(c.securityContext).toMatchObject({ allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, runAsNonRoot: true, readOnlyRootFilesystem: true });
      expect(typeof c.resources.requests.cpu).toBe('string');
      expect(typeof c.resources.requests.memory).toBe('string');
      expect(typeof c.resources.limits.memory).toBe('string');
    }
  });

  test('carries the component label db-migrate on the Job and its pods', () => {
    const { job } = render();
    expect(job.metadata.labels?.['app.kubernetes.io/component']).toBe('db-migrate');
    expect(job.spec.template.metadata.labels['app.kubernetes.io/component']).toBe('db-migrate');
  });

  describe('rejects', () => {
    const chart = testChart();
    const config = new AirflowConfig(chart, 'config');
    let n = 0;
    const make = (props: Partial<MigrateDatabaseJobProps>) => () => new MigrateDatabaseJob(chart, `m${n++}`, { config, ...props });
    test('an unpinned image', () => {
      expect(make({ image: 'apache/airflow' })).toThrow(/image/);
      expect(make({ image: 'apache/airflow:latest' })).toThrow(/image/);
    });
    test('a negative or fractional backoffLimit', () => {
      expect(make({ backoffLimit: -1 })).toThrow(/backoffLimit/);
      expect(make({ backoffLimit: 1.5 })).toThrow(/backoffLimit/);
    });
    test('a missing config', () => expect(make({ config: undefined as any })).toThrow(/\] config: got/));
  });

  test('a connection of its own (straight past PgBouncer) replaces the config\'s sql_alchemy_conn, once', () => {
    const { container } = render({ connection: SecretKeyRef.of('airflow-postgresql', 'connection') });
    expect(envOf(container).AIRFLOW__DATABASE__SQL_ALCHEMY_CONN).toEqual({ secret: 'airflow-postgresql', key: 'connection' });
    expect(container.env.filter((e: any) => e.name === 'AIRFLOW__DATABASE__SQL_ALCHEMY_CONN')).toHaveLength(1);
    expect(envOf(container).AIRFLOW__CORE__FERNET_KEY).toBeDefined();
    expect(() => render({ connection: 'postgresql://u:p@db/airflow' as any })).toThrow(/db-migrate.*connection.*<redacted literal>.*SecretKeyRef\.of/s);
  });
});
