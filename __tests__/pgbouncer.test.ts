import { createHash } from 'crypto';
import { Chart, Testing } from 'cdk8s';
import {
  AirflowNames, AirflowValidationError, PGBOUNCER_CLIENTS, PgBouncer, PgBouncerProps, SecretKeyRef, SERVER_TLS_SSLMODES,
} from '../lib';
import { hygieneProblems } from '../scripts/hygiene';
import { find, mountAt, podSpec, runCheck, synth, testChart, writeYaml } from './helpers';

const DB = { host: 'airflow-postgresql.airflow-test' };

function render(props: Partial<PgBouncerProps> = {}) {
  const chart = testChart();
  const pgbouncer = new PgBouncer(chart, 'pgbouncer', { database: DB, ...props });
  const objects = synth(chart);
  const name = pgbouncer.name;
  const deployment = find(objects, 'Deployment', name);
  const spec = podSpec(deployment);
  const configMap = find(objects, 'ConfigMap', name);
  return {
    pgbouncer, objects, deployment, spec, container: spec.containers[0], configMap,
    ini: parseIni(configMap.data['pgbouncer.ini']),
    service: find(objects, 'Service', name),
  };
}

/**
 * pgbouncer.ini read the way PgBouncer reads it: `[section]` headers, `key = value` lines (value trimmed,
 * possibly empty), `;`/`#` comment lines; a repeated key is an error here (PgBouncer would keep the last).
 */
function parseIni(text: string): Record<string, Record<string, string>> {
  const ini: Record<string, Record<string, string>> = {};
  let section: string | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith(';') || line.startsWith('#')) continue;
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header) {
      section = header[1];
      if (ini[section]) throw new Error(`section [${section}] twice`);
      ini[section] = {};
      continue;
    }
    const eq = line.indexOf('=');
    if (section === undefined || eq < 1) throw new Error(`not an ini line: ${JSON.stringify(raw)}`);
    const key = line.slice(0, eq).trim();
    if (key in ini[section]) throw new Error(`${key} twice in [${section}]`);
    ini[section][key] = line.slice(eq + 1).trim();
  }
  return ini;
}

/** A `[databases]` connection string, `host=h port=p ...`, as key -> value. */
function connectionString(value: string): Record<string, string> {
  return Object.fromEntries(value.split(/\s+/).map(pair => {
    const [k, ...v] = pair.split('=');
    return [k, v.join('=')];
  }));
}

/** Whether a label selector (matchLabels + In/NotIn expressions) selects a pod with these labels. */
function selects(selector: any, labels: Record<string, string>): boolean {
  const byLabels = Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
  const byExpressions = (selector.matchExpressions ?? []).every((e: any) =>
    e.operator === 'In' ? e.values.includes(labels[e.key]) : e.operator === 'NotIn' ? !e.values.includes(labels[e.key]) : false);
  return byLabels && byExpressions;
}

// Every setting of PgBouncer 1.23's [pgbouncer] section this construct may write (https://www.pgbouncer.org/config.html):
// PgBouncer refuses to start on an unknown one.
const KNOWN_SETTINGS = [
  'listen_addr', 'listen_port', 'unix_socket_dir', 'auth_type', 'auth_file', 'pool_mode', 'max_client_conn',
  'default_pool_size', 'ignore_startup_parameters', 'server_tls_sslmode', 'server_tls_ca_file', 'log_connections',
  'log_disconnections', 'logfile', 'pidfile', 'admin_users', 'stats_users', 'max_prepared_statements',
];

describe('defaults', () => {
  const { pgbouncer, objects, deployment, spec, container, configMap, ini, service } = render();

  test('a ConfigMap, Deployment, Service and NetworkPolicy, all airflow-pgbouncer; no PodDisruptionBudget for one pod', () => {
    expect(objects.map(o => `${o.kind}/${o.metadata.name}`).sort()).toEqual([
      'ConfigMap/airflow-pgbouncer', 'Deployment/airflow-pgbouncer', 'NetworkPolicy/airflow-pgbouncer', 'Service/airflow-pgbouncer',
    ]);
    expect(deployment.spec.replicas).toBe(1);
    expect(pgbouncer.podDisruptionBudget).toBeUndefined();
  });

  test('the image is the official chart\'s PgBouncer image, pinned', () => {
    expect(container.image).toBe('apache/airflow:airflow-pgbouncer-2025.03.05-1.23.1');
    expect(container.imagePullPolicy).toBe('IfNotPresent');
  });

  test('pgbouncer.ini: transaction pooling of the one database, as the official chart, with the seeds 100 / 10', () => {
    expect(Object.keys(ini)).toEqual(['databases', 'pgbouncer']);
    expect(Object.keys(ini.databases)).toEqual(['airflow']);
    expect(connectionString(ini.databases.airflow)).toEqual({
      host: 'airflow-postgresql.airflow-test', port: '5432', dbname: 'airflow', user: 'airflow', pool_size: '10',
    });
    expect(ini.pgbouncer).toMatchObject({
      listen_addr: '*',
      listen_port: '6432',
      pool_mode: 'transaction',
      // asyncpg's named prepared statements survive transaction pooling only when PgBouncer tracks them
      max_prepared_statements: '100',
      max_client_conn: '100',
      auth_type: 'scram-sha-256',
      server_tls_sslmode: 'prefer',
    });
    expect(ini.pgbouncer.ignore_startup_parameters.split(/\s*,\s*/)).toContain('extra_float_digits');
    for (const key of Object.keys(ini.pgbouncer)) expect(KNOWN_SETTINGS).toContain(key);
  });

  test('nothing written to the read-only root: no Unix socket, no log file, no pid file', () => {
    expect(ini.pgbouncer.unix_socket_dir).toBe('');
    expect(ini.pgbouncer.logfile ?? '').toBe('');
    expect(ini.pgbouncer.pidfile ?? '').toBe('');
    expect(container.securityContext.readOnlyRootFilesystem).toBe(true);
    expect(spec.volumes.filter((v: any) => v.emptyDir)).toEqual([]);
  });

  test('the container runs pgbouncer on the ConfigMap\'s file, without a shell', () => {
    expect(container.command).toEqual(['pgbouncer', '/etc/pgbouncer/pgbouncer.ini']);
    expect(container.args).toBeUndefined();
    const mount = mountAt(container, container.command[1]);
    expect(mount.readOnly).toBe(true);
    const volume = spec.volumes.find((v: any) => v.name === mount.name);
    expect(volume.configMap.name).toBe(configMap.metadata.name);
    const item = volume.configMap.items.find((i: any) => `${mount.mountPath}/${i.path}` === container.command[1]);
    expect(item.key).toBe('pgbouncer.ini');
  });

  test('auth_file is the userlist from the Secret airflow-pgbouncer (key userlist.txt), 0440 and group 65534', () => {
    const mount = mountAt(container, ini.pgbouncer.auth_file);
    expect(mount.readOnly).toBe(true);
    const volume = spec.volumes.find((v: any) => v.name === mount.name);
    expect(volume.secret.secretName).toBe('airflow-pgbouncer');
    const item = volume.secret.items.find((i: any) => `${mount.mountPath}/${i.path}` === ini.pgbouncer.auth_file);
    expect(item.key).toBe('userlist.txt');
    expect(item.mode).toBe(0o440);
    // readable by the process through its group, by nobody else
    expect(spec.securityContext.fsGroup).toBe(container.securityContext.runAsGroup);
  });

  test('readiness and liveness are TCP probes on 6432, the containerPort the Service targets', () => {
    for (const probe of [container.readinessProbe, container.livenessProbe]) {
      expect(probe.tcpSocket.port).toBe(6432);
      expect(probe.exec).toBeUndefined();
      expect(probe.timeoutSeconds).toBeGreaterThanOrEqual(1);
    }
    expect(container.ports).toEqual([{ name: 'pgbouncer', containerPort: 6432, protocol: 'TCP' }]);
    expect(service.spec.type).toBe('ClusterIP');
    expect(service.spec.ports).toEqual([{ name: 'pgbouncer', port: 6432, targetPort: 'pgbouncer', protocol: 'TCP' }]);
    expect(service.spec.selector).toEqual(deployment.spec.selector.matchLabels);
    expect(selects(deployment.spec.selector, deployment.spec.template.metadata.labels)).toBe(true);
  });

  test('Pod Security "restricted" as uid/gid 65534 (the image\'s nobody), no ServiceAccount token', () => {
    expect(spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65534, runAsGroup: 65534, fsGroup: 65534, seccompProfile: { type: 'RuntimeDefault' } });
    expect(container.securityContext).toEqual({
      runAsNonRoot: true, runAsUser: 65534, runAsGroup: 65534, allowPrivilegeEscalation: false, privileged: false,
      readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(spec.automountServiceAccountToken).toBe(false);
  });

  test('resources: requests and a memory limit', () => {
    expect(container.resources).toEqual({ requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '128Mi' } });
  });

  test('the selector is the stable component selector; a rollout starts the new pod first', () => {
    expect(deployment.spec.selector.matchLabels).toEqual(AirflowNames.of(testChart(), 'airflow').selector('pgbouncer'));
    expect(deployment.spec.strategy.rollingUpdate).toEqual({ maxSurge: 1, maxUnavailable: 0 });
  });

  test('checksum/pgbouncer-config is the sha256 of pgbouncer.ini', () => {
    const sha = createHash('sha256').update(configMap.data['pgbouncer.ini']).digest('hex');
    expect(deployment.spec.template.metadata.annotations['checksum/pgbouncer-config']).toBe(sha);
    expect(pgbouncer.checksum).toBe(sha);
  });

  test('the NetworkPolicy lets only scheduler, api-server, dag-processor and triggerer of this installation in, on 6432', () => {
    const policy = find(objects, 'NetworkPolicy', 'airflow-pgbouncer');
    expect(policy.spec.podSelector).toEqual(deployment.spec.selector);
    expect(policy.spec.policyTypes).toEqual(['Ingress']);
    expect(policy.spec.ingress).toHaveLength(1);
    const [rule] = policy.spec.ingress;
    expect(rule.ports).toEqual([{ port: 6432, protocol: 'TCP' }]);
    expect(rule.from).toHaveLength(1);
    const from = rule.from[0].podSelector;
    expect(rule.from[0].namespaceSelector).toBeUndefined();
    const names = AirflowNames.of(testChart(), 'airflow');
    for (const c of ['scheduler', 'api-server', 'dag-processor', 'triggerer'] as const) expect(selects(from, names.labels(c))).toBe(true);
    for (const c of ['db-migrate', 'worker', 'postgresql', 'pgbouncer', 'cleanup-pods'] as const) expect(selects(from, names.labels(c))).toBe(false);
    expect(selects(from, { 'kubernetes_executor': 'True', 'app.kubernetes.io/name': 'airflow', 'app.kubernetes.io/instance': 'airflow' })).toBe(false);
    expect(selects(from, AirflowNames.of(testChart(), 'other').labels('scheduler'))).toBe(false);
    expect([...PGBOUNCER_CLIENTS].sort()).toEqual(['api-server', 'dag-processor', 'scheduler', 'triggerer']);
  });

  test('host() is the Service in the chart\'s namespace, the URL host the lead engineer builds on', () => {
    expect(pgbouncer.host()).toBe('airflow-pgbouncer.airflow-test');
    expect(pgbouncer.host('airflow-prod')).toBe('airflow-pgbouncer.airflow-prod');
    expect(pgbouncer.port).toBe(6432);
    expect(pgbouncer.serviceName).toBe(service.metadata.name);
    expect(pgbouncer.databaseName).toBe('airflow');
    expect(pgbouncer.user).toBe('airflow');
  });
});

test('no secret value in any object, and nothing the hygiene check objects to', () => {
  const { objects, ini } = render({ userlist: SecretKeyRef.of('pgb-auth', 'users') });
  expect(objects.filter(o => o.kind === 'Secret')).toEqual([]);
  expect(connectionString(ini.databases.airflow).password).toBeUndefined();
  const text = JSON.stringify(objects);
  expect(text).not.toMatch(/password\s*=|"password"|SCRAM-SHA-256\$|md5[0-9a-f]{32}/i);
  for (const o of objects) expect(hygieneProblems({ source: 'test', text: '', object: o })).toEqual([]);
});

test('passes npm run check: Kubernetes 1.28 schema (strict), Pod Security "restricted", hygiene', () => {
  const { objects } = render({ replicas: 2, database: { ...DB, serverTlsSslmode: 'verify-full', serverCa: SecretKeyRef.of('db-ca', 'ca.crt') } });
  const { status, report } = runCheck(writeYaml(objects, 'pgbouncer.yaml'));
  expect(report.schemaErrors).toEqual([]);
  expect(report.policyViolations).toEqual([]);
  expect(report.hygieneProblems).toEqual([]);
  expect(report.objects).toBe(5);
  expect(report.podSpecsChecked).toBe(1);
  expect(status).toBe(0);
});

test('a change of a prop rolls the pods (the checksum changes); the same props give the same checksum', () => {
  const base = render().deployment.spec.template.metadata.annotations['checksum/pgbouncer-config'];
  expect(render().deployment.spec.template.metadata.annotations['checksum/pgbouncer-config']).toBe(base);
  for (const props of [{ maxClientConn: 200 }, { metadataPoolSize: 20 }, { database: { ...DB, port: 5433 } }, { database: { ...DB, serverTlsSslmode: 'require' as const } }]) {
    expect(render(props).deployment.spec.template.metadata.annotations['checksum/pgbouncer-config']).not.toBe(base);
  }
});

test('the database, pool sizes and TLS come from the props', () => {
  const { ini, spec, container } = render({
    database: { host: '10.0.0.5', port: 5433, name: 'metadata', user: 'af', serverTlsSslmode: 'verify-full', serverCa: SecretKeyRef.of('db-ca', 'ca.crt') },
    maxClientConn: 300,
    metadataPoolSize: 25,
  });
  expect(connectionString(ini.databases.metadata)).toEqual({ host: '10.0.0.5', port: '5433', dbname: 'metadata', user: 'af', pool_size: '25' });
  expect(ini.pgbouncer.max_client_conn).toBe('300');
  expect(ini.pgbouncer.server_tls_sslmode).toBe('verify-full');
  const mount = mountAt(container, ini.pgbouncer.server_tls_ca_file);
  const volume = spec.volumes.find((v: any) => v.name === mount.name);
  expect(volume.secret).toMatchObject({ secretName: 'db-ca', items: [{ key: 'ca.crt', path: ini.pgbouncer.server_tls_ca_file.slice(mount.mountPath.length + 1) }] });
  expect(render().ini.pgbouncer.server_tls_ca_file).toBeUndefined();
});

test('every sslmode PgBouncer knows is accepted and rendered', () => {
  for (const mode of SERVER_TLS_SSLMODES) expect(render({ database: { ...DB, serverTlsSslmode: mode } }).ini.pgbouncer.server_tls_sslmode).toBe(mode);
});

test('an instance name prefixes the objects, the default userlist Secret and the selectors', () => {
  const { objects, spec, pgbouncer } = render({ instanceName: 'etl' });
  expect(new Set(objects.map(o => o.metadata.name))).toEqual(new Set(['etl-pgbouncer']));
  expect(spec.volumes.find((v: any) => v.secret).secret.secretName).toBe('etl-pgbouncer');
  const policy = find(objects, 'NetworkPolicy', 'etl-pgbouncer');
  expect(policy.spec.ingress[0].from[0].podSelector.matchLabels['app.kubernetes.io/instance']).toBe('etl');
  expect(pgbouncer.host()).toBe('etl-pgbouncer.airflow-test');
});

describe('replicas and PodDisruptionBudget', () => {
  test('two replicas: a budget of maxUnavailable 1 on the pods, spread over nodes', () => {
    const { objects, deployment, spec } = render({ replicas: 2, spreadAcrossNodes: 'DoNotSchedule' });
    expect(deployment.spec.replicas).toBe(2);
    const pdb = find(objects, 'PodDisruptionBudget', 'airflow-pgbouncer');
    expect(pdb.spec).toEqual({ maxUnavailable: 1, selector: deployment.spec.selector });
    expect(spec.topologySpreadConstraints).toEqual([{
      maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'DoNotSchedule', labelSelector: deployment.spec.selector,
      matchLabelKeys: ['pod-template-hash'], nodeTaintsPolicy: 'Honor',
    }]);
    expect(deployment.spec.template.metadata.annotations['cluster-autoscaler.kubernetes.io/safe-to-evict']).toBe('true');
  });

  test('a budget given is used as given', () => {
    const pdb = find(render({ replicas: 3, disruptionBudget: { minAvailable: 2 } }).objects, 'PodDisruptionBudget', 'airflow-pgbouncer');
    expect(pdb.spec.minAvailable).toBe(2);
    expect(pdb.spec.maxUnavailable).toBeUndefined();
  });

  test('networkPolicy: false leaves the NetworkPolicy out', () => {
    const { objects, pgbouncer } = render({ networkPolicy: false });
    expect(objects.filter(o => o.kind === 'NetworkPolicy')).toEqual([]);
    expect(pgbouncer.networkPolicy).toBeUndefined();
  });

  test('clients narrow the NetworkPolicy', () => {
    const policy = find(render({ clients: ['scheduler'] }).objects, 'NetworkPolicy', 'airflow-pgbouncer');
    expect(policy.spec.ingress[0].from[0].podSelector.matchExpressions).toEqual([{ key: 'app.kubernetes.io/component', operator: 'In', values: ['scheduler'] }]);
  });
});

test('host() needs a namespace', () => {
  const chart = new Chart(Testing.app(), 'bare', { disableResourceNameHashes: true });
  const pgbouncer = new PgBouncer(chart, 'pgbouncer', { database: DB });
  expect(() => pgbouncer.host()).toThrow(/PgBouncer \[bare\/pgbouncer\] namespace: got undefined; expected a namespace/);
  expect(() => pgbouncer.host('Bad_NS')).toThrow(AirflowValidationError);
});

describe('invalid input', () => {
  test.each<[string, Partial<PgBouncerProps>, string, RegExp]>([
    ['no database', { database: undefined }, 'database', /an object \{ host/],
    ['host with a space', { database: { host: 'db host' } }, 'database.host', /DNS name .* or an IP address/],
    ['host list', { database: { host: 'db1,db2' } }, 'database.host', /DNS name/],
    ['host with a quote', { database: { host: 'db\'x' } }, 'database.host', /DNS name/],
    ['empty host', { database: { host: '' } }, 'database.host', /DNS name/],
    ['port 0', { database: { ...DB, port: 0 } }, 'database.port', /port number from 1 to 65535/],
    ['port 70000', { database: { ...DB, port: 70000 } }, 'database.port', /port number from 1 to 65535/],
    ['port 5432.5', { database: { ...DB, port: 5432.5 } }, 'database.port', /port number/],
    ['upper-case database', { database: { ...DB, name: 'Airflow' } }, 'database.name', /PostgreSQL identifier/],
    ['database pgbouncer', { database: { ...DB, name: 'pgbouncer' } }, 'database.name', /not "pgbouncer"/],
    ['database with a space', { database: { ...DB, name: 'air flow' } }, 'database.name', /PostgreSQL identifier/],
    ['user with a dash', { database: { ...DB, user: 'air-flow' } }, 'database.user', /PostgreSQL identifier/],
    ['unknown sslmode', { database: { ...DB, serverTlsSslmode: 'required' as any } }, 'database.serverTlsSslmode',
      /one of "disable", "allow", "prefer", "require", "verify-ca", "verify-full"/],
    ['a CA without TLS', { database: { ...DB, serverTlsSslmode: 'disable', serverCa: SecretKeyRef.of('ca', 'ca.crt') } }, 'database.serverCa', /no CA when TLS/],
    ['a CA as a literal', { database: { ...DB, serverCa: '-----BEGIN CERTIFICATE-----' as any } }, 'database.serverCa', /configMapName, key or a SecretKeyRef/],
    ['userlist as a literal', { userlist: '"airflow" "hunter2"' as any }, 'userlist', /a Secret reference/],
    ['userlist Secret name', { userlist: SecretKeyRef.of('Bad_Name', 'userlist.txt') }, 'userlist.secretName', /DNS-1123 subdomain/],
    ['maxClientConn 0', { maxClientConn: 0 }, 'maxClientConn', /whole number >= 1/],
    ['metadataPoolSize 0', { metadataPoolSize: 0 }, 'metadataPoolSize', /from 1 to maxClientConn \(100\)/],
    ['metadataPoolSize above maxClientConn', { maxClientConn: 4, metadataPoolSize: 5 }, 'metadataPoolSize', /from 1 to maxClientConn \(4\)/],
    ['replicas 0', { replicas: 0 }, 'replicas', /whole number >= 1/],
    ['image latest', { image: 'apache/airflow:latest' }, 'image', /pinned/],
    ['image without tag', { image: 'pgbouncer/pgbouncer' }, 'image', /pinned/],
    ['memory in MB', { resources: { requests: { cpu: '50m', memory: '64MB' }, limits: { memory: '128Mi' } } }, 'resources.requests.memory', /binary suffix/],
    ['budget blocking evictions', { disruptionBudget: { maxUnavailable: 0 } }, 'disruptionBudget.maxUnavailable', /node drains hang/],
    ['budget minAvailable = replicas', { replicas: 2, disruptionBudget: { minAvailable: 2 } }, 'disruptionBudget.minAvailable', /below replicas \(2, percentages rounded up\)/],
    ['budget with both', { replicas: 2, disruptionBudget: { minAvailable: 1, maxUnavailable: 1 } }, 'disruptionBudget', /exactly one of/],
    ['unknown spreading', { spreadAcrossNodes: 'Always' as any }, 'spreadAcrossNodes', /"DoNotSchedule" or "ScheduleAnyway"/],
    ['no clients', { clients: [] }, 'clients', /non-empty list/],
    ['client not a label', { clients: ['Scheduler' as any] }, 'clients\\[0\\]', /DNS-1123 label/],
    ['instance name', { instanceName: 'Airflow_1' }, 'instanceName', /DNS-1035 label/],
  ])('rejects %s', (_what, props, property, expected) => {
    let error: unknown;
    try { render(props); } catch (e) { error = e; }
    expect(error).toBeInstanceOf(AirflowValidationError);
    expect((error as Error).message).toMatch(new RegExp(`^PgBouncer \\[test/pgbouncer\\] ${property}: got `));
    expect((error as Error).message).toMatch(expected);
  });

  test('a userlist pasted in as a literal is not repeated in the error', () => {
    let error: any;
    try { render({ userlist: '"airflow" "hunter2"' as any }); } catch (e) { error = e; }
    expect(error.message).not.toContain('hunter2');
    expect(JSON.stringify(error.value)).not.toContain('hunter2');
  });
});
