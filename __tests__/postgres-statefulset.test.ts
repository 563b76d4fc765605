import { AirflowValidationError, PostgresBackup, PostgresStatefulSet, PostgresStatefulSetProps, SecretKeyRef } from '../lib';
import { envOf, find, podSpec, synth, testChart } from './helpers';

function make(props: PostgresStatefulSetProps = {}) {
  const chart = testChart();
  const pg = new PostgresStatefulSet(chart, 'postgres', props);
  const objects = synth(chart);
  const sts = find(objects, 'StatefulSet', 'airflow-postgresql');
  const spec = podSpec(sts);
  return { pg, objects, sts, spec, container: spec.containers[0], service: find(objects, 'Service', 'airflow-postgresql') };
}

const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

describe('defaults', () => {
  const { pg, objects, sts, spec, container, service } = make({ storage: '20Gi' });

  test('the official postgres image, pinned to major.minor (no latest)', () => {
    expect(container.image).toMatch(/^postgres:\d+\.\d+(-[a-z]+)?$/);
    expect(container.image).not.toContain('latest');
  });

  test('a StatefulSet and a headless Service, both airflow-postgresql, tied by serviceName', () => {
    expect(objects.map(o => o.kind).sort()).toEqual(['CronJob', 'PersistentVolumeClaim', 'Service', 'StatefulSet']); // + the backups
    expect(service.spec.clusterIP).toBe('None');
    expect(sts.spec.serviceName).toBe(service.metadata.name);
    expect(pg.serviceName).toBe('airflow-postgresql');
    expect(sts.spec.replicas).toBe(1);
    // the Service selects the pods and reaches the container's port
    expect(sts.spec.template.metadata.labels).toMatchObject(service.spec.selector);
    expect(sts.spec.selector.matchLabels).toEqual(service.spec.selector);
    const port = service.spec.ports[0];
    expect(port.port).toBe(5432);
    expect(container.ports).toContainEqual({ name: port.targetPort, containerPort: 5432 });
  });

  test('data comes from volumeClaimTemplates with the requested size, and the PVC survives deletion', () => {
    const [claim] = sts.spec.volumeClaimTemplates;
    expect(claim.spec.resources.requests.storage).toBe('20Gi');
    expect(claim.spec.accessModes).toEqual(['ReadWriteOnce']);
    expect(sts.spec.persistentVolumeClaimRetentionPolicy.whenDeleted).toBe('Retain');
    expect(sts.spec.persistentVolumeClaimRetentionPolicy.whenScaled).toBe('Retain');
    expect(container.volumeMounts.map((m: any) => m.name)).toContain(claim.metadata.name);
    expect(spec.volumes.map((v: any) => v.name)).not.toContain(claim.metadata.name);
  });

  test('PGDATA is a subfolder of the data volume (its root holds lost+found)', () => {
    const claimName = sts.spec.volumeClaimTemplates[0].metadata.name;
    const mountPath = container.volumeMounts.find((m: any) => m.name === claimName).mountPath;
    const pgdata = envOf(container).PGDATA.value!;
    expect(pgdata.startsWith(mountPath + '/')).toBe(true);
    expect(pgdata.length).toBeGreaterThan(mountPath.length + 1);
  });

  test('POSTGRES_PASSWORD comes from the Secret airflow-postgresql, key password', () => {
    expect(envOf(container).POSTGRES_PASSWORD).toEqual({ secret: 'airflow-postgresql', key: 'password' });
    expect(container.env.find((e: any) => e.name === 'POSTGRES_PASSWORD').value).toBeUndefined();
    expect(envOf(container).POSTGRES_USER.value).toBe(pg.database);
    expect(envOf(container).POSTGRES_DB.value).toBe(pg.database);
  });

  test('startup, readiness and liveness are pg_isready exec probes', () => {
    for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
      expect(container[probe].exec.command[0]).toBe('pg_isready');
      expect(container[probe].timeoutSeconds).toBeGreaterThanOrEqual(1);
    }
  });

  test('runs as uid 999, non-root, restricted, fsGroup 999', () => {
    expect(spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 999, runAsGroup: 999, fsGroup: 999, seccompProfile: { type: 'RuntimeDefault' } });
    expect(container.securityContext).toMatchObject({
      runAsNonRoot: true, runAsUser: 999, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(spec.automountServiceAccountToken).toBe(false);
  });

  test('/var/run/postgresql (and /tmp) are writable emptyDirs', () => {
    for (const path of ['/var/run/postgresql', '/tmp']) {
      const mount = container.volumeMounts.find((m: any) => m.mountPath === path);
      expect(mount.readOnly).toBeFalsy();
      expect(spec.volumes.find((v: any) => v.name === mount.name).emptyDir).toBeDefined();
    }
  });

  test('resources: requests and a memory limit', () => {
    expect(container.resources.requests.cpu).toBeDefined();
    expect(container.resources.requests.memory).toBeDefined();
    expect(container.resources.limits.memory).toBeDefined();
  });

  test('every label value is a valid Kubernetes label value', () => {
    for (const o of objects) for (const v of Object.values(o.metadata.labels ?? {})) expect(v).toMatch(LABEL_VALUE);
  });
});

test('a custom password Secret, storage class and instance name', () => {
  const chart = testChart();
  new PostgresStatefulSet(chart, 'pg', { instanceName: 'etl', passwordSecret: SecretKeyRef.of('db', 'pw'), storageClassName: 'fast' });
  const sts = find(synth(chart), 'StatefulSet', 'etl-postgresql');
  expect(envOf(podSpec(sts).containers[0]).POSTGRES_PASSWORD).toEqual({ secret: 'db', key: 'pw' });
  expect(sts.spec.volumeClaimTemplates[0].spec.storageClassName).toBe('fast');
});

// Regression: the app.kubernetes.io/version label was once `image.split(':')[1]`, which for a registry
// with a port or a digest reference is no valid label value ('5000/library/postgres', '17.9@sha256').
test.each([
  'registry.example.com:5000/library/postgres:17.9',
  `postgres:17.9@sha256:${'a'.repeat(64)}`,
])('label values stay valid for image %s', image => {
  const { objects } = make({ image });
  for (const o of objects) for (const v of Object.values(o.metadata.labels ?? {})) expect(v).toMatch(LABEL_VALUE);
});

describe('invalid input', () => {
  test.each<[string, PostgresStatefulSetProps, string]>([
    ['storage in GB', { storage: '10GB' }, 'storage'],
    ['negative storage', { storage: '-1' }, 'storage'],
    ['image without tag', { image: 'postgres' }, 'image'],
    ['image latest', { image: 'postgres:latest' }, 'image'],
    ['invalid Secret name', { passwordSecret: SecretKeyRef.of('Bad_Name', 'password') }, 'passwordSecret.secretName'],
    ['database with a dash', { database: 'air-flow' }, 'database'],
  ])('%s is rejected', (_, props, property) => {
    expect(() => new PostgresStatefulSet(testChart(), 'pg', props)).toThrow(AirflowValidationError);
    expect(() => new PostgresStatefulSet(testChart(), 'pg', props)).toThrow(` ${property}: got `);
  });
});

test('an image upgrade changes nothing the API server keeps immutable (selector, serviceName, volumeClaimTemplates)', () => {
  const immutable = (image: string) => {
    const chart = testChart();
    new PostgresStatefulSet(chart, 'db', { image });
    const { spec } = find(synth(chart), 'StatefulSet', 'airflow-postgresql');
    return { selector: spec.selector, serviceName: spec.serviceName, volumeClaimTemplates: spec.volumeClaimTemplates };
  };
  expect(immutable('postgres:17.10-bookworm')).toEqual(immutable('postgres:17.9-bookworm'));
});

describe('backup', () => {
  const backupOf = (props: PostgresStatefulSetProps) => {
    const chart = testChart();
    const pg = new PostgresStatefulSet(chart, 'db', props);
    const objects = synth(chart);
    const sts = find(objects, 'StatefulSet', `${props.instanceName ?? 'airflow'}-postgresql`);
    return { pg, objects, server: podSpec(sts).containers[0], cronJob: objects.find(o => o.kind === 'CronJob'), claim: objects.find(o => o.kind === 'PersistentVolumeClaim') };
  };

  test('on by default: daily at 02:00, kept 30 days, of this database, as its user, with its password, image, volume size and class', () => {
    const { pg, server, cronJob, claim } = backupOf({ storage: '20Gi', storageClassName: 'fast', image: 'postgres:17.10-bookworm' });
    expect(pg.backup).toBeInstanceOf(PostgresBackup);
    expect(cronJob!.metadata.name).toBe('airflow-postgresql-backup');
    expect(cronJob!.spec.schedule).toBe('0 2 * * *');
    expect(pg.backup!.retentionDays).toBe(30);
    const job = podSpec(cronJob!).containers[0];
    expect(job.image).toBe(server.image);
    const env = envOf(job);
    expect(env.PGHOST.value).toBe(pg.serviceName);
    expect(env.PGPORT.value).toBe(String(pg.port));
    expect(env.PGUSER.value).toBe(envOf(server).POSTGRES_USER.value);
    expect(env.PGDATABASE.value).toBe(envOf(server).POSTGRES_DB.value);
    expect(env.PGPASSWORD).toEqual(envOf(server).POSTGRES_PASSWORD);
    expect(claim!.metadata.name).toBe('airflow-postgresql-backup');
    expect(claim!.spec).toMatchObject({ storageClassName: 'fast', resources: { requests: { storage: '20Gi' } } });
  });

  test('follows a custom instance name, Secret and database', () => {
    const { cronJob } = backupOf({ instanceName: 'etl', passwordSecret: SecretKeyRef.of('db', 'pw'), database: 'meta' });
    expect(cronJob!.metadata.name).toBe('etl-postgresql-backup');
    expect(envOf(podSpec(cronJob!).containers[0])).toMatchObject({ PGHOST: { value: 'etl-postgresql' }, PGDATABASE: { value: 'meta' }, PGPASSWORD: { secret: 'db', key: 'pw' } });
  });

  test('takes backup properties, which win over the inherited size', () => {
    const { cronJob, claim } = backupOf({ storage: '20Gi', backup: { schedule: '0 4 * * *', retentionDays: 7, size: '50Gi' } });
    expect(cronJob!.spec.schedule).toBe('0 4 * * *');
    expect(envOf(podSpec(cronJob!).containers[0]).RETENTION_DAYS.value).toBe('7');
    expect(claim!.spec.resources.requests.storage).toBe('50Gi');
  });

  test('backup: false leaves it out', () => {
    const { pg, objects } = backupOf({ backup: false });
    expect(pg.backup).toBeUndefined();
    expect(objects.map(o => o.kind).sort()).toEqual(['Service', 'StatefulSet']);
  });

  test('a bad backup property fails with its path', () => {
    expect(() => backupOf({ backup: { retentionDays: 0 } })).toThrow(/^PostgresBackup \[test\/db\/backup\] retentionDays: got 0/);
  });
});
