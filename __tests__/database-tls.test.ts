// Verified TLS to an external database: libpq's environment and the CA go to exactly the containers that connect
// to it straight, PgBouncer's server side takes the same mode and CA, and nothing else changes.
import {
  Airflow, AirflowProps, caCertificateVolume, DATABASE_CA_FILE, ENVIRONMENTS, PROD_DATABASE_CA, SecretKeyRef,
} from '../lib';
import { allContainers, envOf, K8sObject, mountAt, podSpec, synth, synthEnvironment, taskPod, testChart } from './helpers';

const CONNECTION = SecretKeyRef.of('airflow-database', 'connection');
const CA = { configMapName: 'rds-ca', key: 'global-bundle.pem' };

function render(props: AirflowProps): K8sObject[] {
  const chart = testChart();
  new Airflow(chart, 'airflow', props);
  return synth(chart);
}

/** Every container of every workload and of the task pod template, with its pod spec. */
function containers(objects: K8sObject[]): Array<{ where: string; c: any; spec: any }> {
  const pods: Array<[string, any]> = [
    ...objects.filter(o => ['Deployment', 'StatefulSet', 'Job', 'CronJob'].includes(o.kind)).map(o => [`${o.kind}/${o.metadata.name}`, podSpec(o)] as [string, any]),
    ['task pod', podSpec(taskPod(objects))],
  ];
  return pods.flatMap(([where, spec]) => allContainers(spec).map(c => ({ where: `${where} ${c.name}`, c, spec })));
}

/** The containers that get libpq's TLS environment, each checked to read the CA from the pod's volume of `ca`. */
function verifiedClients(objects: K8sObject[], ca: { configMapName: string; key?: string }): string[] {
  return containers(objects).filter(({ c }) => envOf(c).PGSSLMODE).map(({ where, c, spec }) => {
    expect(envOf(c).PGSSLMODE.value).toBe('verify-full');
    expect(envOf(c).PGSSLROOTCERT.value).toBe(DATABASE_CA_FILE);
    const mount = mountAt(c, DATABASE_CA_FILE);
    expect(mount.readOnly).toBe(true);
    const volume = spec.volumes.find((v: any) => v.name === mount.name);
    expect(volume.configMap).toEqual({ name: ca.configMapName, items: [{ key: ca.key ?? 'ca.crt', path: DATABASE_CA_FILE.split('/').pop(), mode: 0o444 }] });
    return where;
  });
}

describe('externalDatabase.tls without PgBouncer', () => {
  const objects = render({ externalDatabase: { connection: CONNECTION, tls: { ca: CA } } });

  test('every container that gets the database URL verifies the server, and no other container', () => {
    const users = containers(objects).filter(({ c }) => envOf(c).AIRFLOW__DATABASE__SQL_ALCHEMY_CONN).map(({ where }) => where);
    expect(users.length).toBeGreaterThanOrEqual(10);
    expect(verifiedClients(objects, CA).sort()).toEqual(users.sort());
  });

  test('task pods get neither the URL nor the CA (they reach the database through the execution API)', () => {
    const spec = podSpec(taskPod(objects));
    expect(allContainers(spec).some(c => envOf(c).PGSSLMODE)).toBe(false);
    expect(spec.volumes.some((v: any) => v.configMap?.name === CA.configMapName)).toBe(false);
  });

  test('verify-ca when asked for, with the CA from a Secret', () => {
    const secretCa = SecretKeyRef.of('db-ca', 'ca.crt');
    const o = render({ externalDatabase: { connection: CONNECTION, tls: { sslmode: 'verify-ca', ca: secretCa } } });
    const migrate = containers(o).find(({ where }) => where.startsWith('Job/airflow-db-migrate'))!;
    expect(envOf(migrate.c).PGSSLMODE.value).toBe('verify-ca');
    expect(migrate.spec.volumes).toContainEqual(caCertificateVolume('database-ca', secretCa));
    expect(caCertificateVolume('x', secretCa).secret).toEqual({ secretName: 'db-ca', items: [{ key: 'ca.crt', path: 'ca.crt', mode: 0o444 }] });
  });
});

describe('externalDatabase.tls with PgBouncer (the prod preset)', () => {
  const objects = synthEnvironment('prod');
  const tls = ENVIRONMENTS.prod.airflow.externalDatabase!.tls!;

  test('prod verifies the database with verify-full against PROD_DATABASE_CA', () => {
    expect(tls).toEqual({ ca: PROD_DATABASE_CA });
  });

  test('only the migrations connect straight, so only they get libpq\'s TLS environment', () => {
    expect(verifiedClients(objects, PROD_DATABASE_CA)).toEqual([expect.stringMatching(/^Job\/airflow-db-migrate-[0-9a-f]{10} db-migrate$/)]);
  });

  test('PgBouncer verifies the server with the same mode and CA', () => {
    const ini: string = objects.find(o => o.kind === 'ConfigMap' && o.metadata.name === 'airflow-pgbouncer')!.data['pgbouncer.ini'];
    expect(ini).toMatch(/^server_tls_sslmode = verify-full$/m);
    const caFile = /^server_tls_ca_file = (.+)$/m.exec(ini)![1];
    const spec = podSpec(objects.find(o => o.kind === 'Deployment' && o.metadata.name === 'airflow-pgbouncer')!);
    const volume = spec.volumes.find((v: any) => v.name === mountAt(spec.containers[0], caFile).name);
    expect(volume.configMap.name).toBe(PROD_DATABASE_CA.configMapName);
    expect(volume.configMap.items).toEqual([{ key: PROD_DATABASE_CA.key, path: caFile.split('/').pop(), mode: 0o444 }]);
  });
});

test('without tls nothing sets PGSSLMODE, and a user may set it', () => {
  const objects = render({ externalDatabase: { connection: CONNECTION }, scheduler: { env: [{ name: 'PGSSLMODE', value: 'require' }] } });
  expect(containers(objects).filter(({ c }) => envOf(c).PGSSLMODE).map(({ where }) => where)).toEqual([expect.stringMatching(/^Deployment\/airflow-scheduler scheduler$/)]);
});
