// The Airflow composite wires its components to agree: one JWT secret, one fernet key, one api
// secret key, the DB connection only where it belongs, one airflow.cfg, one execution API URL and
// DAGs at one path, on a fresh chart and on every environment preset.
import { Testing } from 'cdk8s';
import { Airflow, AirflowChart, AirflowProps, ENVIRONMENTS, SecretKeyRef } from '../lib';
import { airflowCfg, allContainers, envOf, find, K8sObject, mountAt, podSpec, synth, synthEnvironment, taskPod, testChart, TIERS } from './helpers';

const DAGS_REPO = 'https://github.com/example/dags.git';

/** A fresh chart (namespace airflow-test) holding one Airflow with these props. */
function fresh(props: AirflowProps = {}): K8sObject[] {
  const chart = testChart();
  new Airflow(chart, 'airflow', props);
  return synth(chart);
}

const CASES: Array<[string, () => K8sObject[]]> = [
  ['fresh chart, defaults', () => fresh()],
  ['fresh chart, DAGs from git', () => fresh({ dags: { repository: DAGS_REPO, subPath: 'dags' } })],
  ...TIERS.map(tier => [`preset ${tier}`, () => synthEnvironment(tier)] as [string, () => K8sObject[]]),
];

const COMPONENTS = ['scheduler', 'api-server', 'dag-processor', 'triggerer'] as const;

/** The main container of the Deployment airflow-<component>. */
function main(objects: K8sObject[], component: string): any {
  const spec = podSpec(find(objects, 'Deployment', `airflow-${component}`));
  const container = spec.containers.find((c: any) => c.name === component);
  expect(container).toBeDefined();
  return container;
}

/** The migration Job (its name ends in a revision hash). */
function migrationJob(objects: K8sObject[]): K8sObject {
  // the migration Job (a pools Job, where pools or task pod profiles with slots are declared, is another)
  const jobs = objects.filter(o => o.kind === 'Job' && o.metadata.labels?.['app.kubernetes.io/component'] === 'db-migrate');
  expect(jobs).toHaveLength(1);
  expect(jobs[0].metadata.name).toMatch(/^airflow-db-migrate-[0-9a-f]{10}$/);
  return jobs[0];
}

function jobContainer(objects: K8sObject[]): any {
  return podSpec(migrationJob(objects)).containers[0];
}

/** Every workload's pod spec, with a label: Deployments, StatefulSets, Jobs and the task pod template. */
function pods(objects: K8sObject[]): Array<[string, any]> {
  return [
    ...objects.filter(o => ['Deployment', 'StatefulSet', 'Job'].includes(o.kind)).map(o => [`${o.kind}/${o.metadata.name}`, podSpec(o)] as [string, any]),
    ['task pod', podSpec(taskPod(objects))],
  ];
}

const ref = (v: { secret?: string; key?: string } | undefined) => v && { secret: v.secret, key: v.key };

describe.each(CASES)('%s', (_label, build) => {
  const objects = build();

  test('the scheduler and the api-server sign with the same key: the JWT secret, or the private key under the same id', () => {
    const [scheduler, apiServer] = (['scheduler', 'api-server'] as const).map(c => envOf(main(objects, c)));
    const secret = scheduler.AIRFLOW__API_AUTH__JWT_SECRET ?? scheduler.AIRFLOW__API_AUTH__JWT_KID;
    expect(secret?.secret).toBeTruthy();
    expect(secret?.key).toBeTruthy();
    expect(secret?.value).toBeUndefined();
    for (const name of ['AIRFLOW__API_AUTH__JWT_SECRET', 'AIRFLOW__API_AUTH__JWT_KID', 'AIRFLOW__API_AUTH__JWT_PRIVATE_KEY_PATH']) {
      expect(ref(apiServer[name])).toEqual(ref(scheduler[name]));
      expect(apiServer[name]?.value).toEqual(scheduler[name]?.value);
    }
    // the private key file is the same Secret key in both pods
    const keyFile = scheduler.AIRFLOW__API_AUTH__JWT_PRIVATE_KEY_PATH?.value;
    if (keyFile) {
      const volumeOf = (c: string) => {
        const spec = podSpec(objects.find(o => o.kind === 'Deployment' && o.metadata.name === `airflow-${c}`)!);
        return spec.volumes.find((v: any) => v.name === mountAt(spec.containers[0], keyFile).name).secret;
      };
      expect(volumeOf('api-server')).toEqual(volumeOf('scheduler'));
    }
  });

  test('the fernet key comes from one Secret reference in every component that has it', () => {
    const holders = [
      ...COMPONENTS.map(c => envOf(main(objects, c)).AIRFLOW__CORE__FERNET_KEY),
      envOf(jobContainer(objects)).AIRFLOW__CORE__FERNET_KEY,
    ];
    for (const h of holders) expect(h?.secret).toBeTruthy();
    expect(new Set(holders.map(h => JSON.stringify(ref(h)))).size).toBe(1);
    // and nowhere else with another reference
    const all = pods(objects).flatMap(([, spec]) => allContainers(spec)).map(c => envOf(c).AIRFLOW__CORE__FERNET_KEY).filter(Boolean);
    expect(new Set(all.map(h => JSON.stringify(ref(h)))).size).toBe(1);
  });

  test('[api] secret_key is only in the api-server and the triggerer (whose log server checks tokens signed with it), from one reference', () => {
    const apiServer = envOf(main(objects, 'api-server')).AIRFLOW__API__SECRET_KEY;
    expect(apiServer?.secret).toBeTruthy();
    for (const [name, spec] of pods(objects)) {
      for (const c of allContainers(spec)) {
        const v = envOf(c).AIRFLOW__API__SECRET_KEY;
        const holder = (name === 'Deployment/airflow-api-server' && c.name === 'api-server') || (name === 'Deployment/airflow-triggerer' && c.name === 'triggerer');
        if (holder) expect(ref(v)).toEqual(ref(apiServer));
        else expect({ where: `${name} ${c.name}`, v }).toEqual({ where: `${name} ${c.name}`, v: undefined });
      }
    }
    // no other key in airflow.cfg either
    expect(airflowCfg(objects).api?.secret_key).toBeUndefined();
  });

  test('sql_alchemy_conn reaches the api-server, scheduler, dag-processor, triggerer and migration Job, never the task pod', () => {
    const holders = COMPONENTS.map(c => envOf(main(objects, c)).AIRFLOW__DATABASE__SQL_ALCHEMY_CONN);
    for (const h of holders) expect(h?.secret).toBeTruthy();
    expect(new Set(holders.map(h => JSON.stringify(ref(h)))).size).toBe(1);
    // the migrations use the same URL, unless the components go through PgBouncer: then straight to the database
    const migrations = envOf(jobContainer(objects)).AIRFLOW__DATABASE__SQL_ALCHEMY_CONN;
    expect(migrations?.secret).toBeTruthy();
    const pooled = objects.some(o => o.kind === 'Deployment' && o.metadata.name === 'airflow-pgbouncer');
    expect(JSON.stringify(ref(migrations)) === JSON.stringify(ref(holders[0]))).toBe(!pooled);

    const task = podSpec(taskPod(objects));
    for (const c of allContainers(task)) {
      const names = (c.env ?? []).map((e: any) => e.name);
      expect(names).not.toContain('AIRFLOW__DATABASE__SQL_ALCHEMY_CONN');
      expect(names).not.toContain('AIRFLOW__CORE__SQL_ALCHEMY_CONN');
      expect(names).not.toContain('AIRFLOW__API_AUTH__JWT_SECRET');
      expect(names).not.toContain('AIRFLOW__API__SECRET_KEY');
    }
    expect(airflowCfg(objects).database?.sql_alchemy_conn).toBeUndefined();
  });

  test('the task pod reads the scheduler\'s airflow.cfg, whose execution API URL is the api-server Service', () => {
    const configMapOf = (spec: any) => spec.volumes.find((v: any) => v.name === 'config')?.configMap?.name;
    const scheduler = podSpec(find(objects, 'Deployment', 'airflow-scheduler'));
    const task = podSpec(taskPod(objects));
    expect(configMapOf(scheduler)).toBe('airflow-config');
    expect(configMapOf(task)).toBe(configMapOf(scheduler));
    const cfgMount = (c: any) => c.volumeMounts.find((m: any) => m.name === 'config');
    expect(cfgMount(task.containers[0])).toEqual(cfgMount(scheduler.containers[0]));
    expect(task.containers[0].name).toBe('base');

    const svc = find(objects, 'Service', 'airflow-api-server');
    const ns = svc.metadata.namespace;
    expect(ns).toBeTruthy();
    const url = `http://${svc.metadata.name}.${ns}:${svc.spec.ports[0].port}/execution/`;
    const cfg = airflowCfg(objects);
    expect(cfg.core.execution_api_server_url).toBe(url);
    expect(cfg.core.executor).toBe('KubernetesExecutor');
    expect(cfg.kubernetes_executor.namespace).toBe(ns);
    // the Service port reaches the api-server's container port
    const apiServer = main(objects, 'api-server');
    expect(apiServer.ports.find((p: any) => p.name === svc.spec.ports[0].targetPort)).toBeDefined();
    // the scheduler mounts the task pod template where airflow.cfg says it is
    const templatePath = cfg.kubernetes_executor.pod_template_file;
    // the most specific mount that holds the path
    const mount = [...scheduler.containers[0].volumeMounts]
      .sort((x: any, y: any) => y.mountPath.length - x.mountPath.length)
      .find((m: any) => templatePath.startsWith(`${m.mountPath}/`));
    expect(mount).toBeDefined();
    expect(scheduler.volumes.find((v: any) => v.name === mount.name).configMap.name).toBe('airflow-pod-template');
  });

  test('every Airflow container runs as uid 50000, gid 0', () => {
    let count = 0;
    for (const [, spec] of pods(objects)) {
      for (const c of allContainers(spec).filter(x => /^apache\/airflow:\d/.test(String(x.image)))) {
        count++;
        expect(c.securityContext?.runAsUser ?? spec.securityContext?.runAsUser).toBe(50000);
        expect(c.securityContext?.runAsGroup ?? spec.securityContext?.runAsGroup).toBe(0);
        expect(c.securityContext?.runAsNonRoot ?? spec.securityContext?.runAsNonRoot).toBe(true);
      }
    }
    // 4 Deployments x (main + wait-for-migrations) + the Job + the task pod
    expect(count).toBeGreaterThanOrEqual(10);
  });

  test('every Deployment waits for migrations with `airflow db check-migrations`', () => {
    // PgBouncer and the metrics exporter use no Airflow schema
    const deployments = objects.filter(o => o.kind === 'Deployment' && !['airflow-pgbouncer', 'airflow-statsd'].includes(o.metadata.name));
    expect(deployments.map(d => d.metadata.name).sort()).toEqual(COMPONENTS.map(c => `airflow-${c}`).sort());
    for (const d of deployments) {
      const wait = (podSpec(d).initContainers ?? []).find((c: any) => c.name === 'wait-for-migrations');
      expect(wait).toBeDefined();
      expect(wait.args.slice(0, 3).join(' ')).toBe('airflow db check-migrations');
      expect(ref(envOf(wait).AIRFLOW__DATABASE__SQL_ALCHEMY_CONN)).toEqual(ref(envOf(main(objects, 'scheduler')).AIRFLOW__DATABASE__SQL_ALCHEMY_CONN));
    }
  });

  test('dags_folder is where the dag-processor sees the DAGs, and the task pod mounts them at the same path', () => {
    const cfg = airflowCfg(objects);
    const dagProcessor = podSpec(find(objects, 'Deployment', 'airflow-dag-processor'));
    const sidecar = dagProcessor.containers.find((c: any) => c.name === 'git-sync');
    const task = podSpec(taskPod(objects));
    if (sidecar === undefined) {
      // DAGs baked into the image
      expect(cfg.core.dags_folder).toBe('/opt/airflow/dags');
      expect((task.initContainers ?? []).map((c: any) => c.name)).not.toContain('git-sync-init');
      return;
    }
    const env = envOf(sidecar);
    const root = env.GITSYNC_ROOT.value!;
    const link = env.GITSYNC_LINK.value!;
    expect(link).toBe('repo');
    const dagsVolume = sidecar.volumeMounts.find((m: any) => m.mountPath === root).name;
    const airflowMount = main(objects, 'dag-processor').volumeMounts.find((m: any) => m.name === dagsVolume);
    expect(airflowMount).toBeDefined();
    expect(airflowMount.readOnly).toBe(true);

    // the subPath is the part of dags_folder after <mount>/repo/
    const prefix = `${airflowMount.mountPath}/${link}/`;
    expect(cfg.core.dags_folder.startsWith(prefix)).toBe(true);
    const subPath = cfg.core.dags_folder.slice(prefix.length);
    expect(subPath.length).toBeGreaterThan(0);
    expect(cfg.core.dags_folder).toBe(`${airflowMount.mountPath}/repo/${subPath}`);

    // the task pod: a one-time git-sync of the same repository and ref into a volume mounted at the same path
    const init = (task.initContainers ?? []).find((c: any) => c.name === 'git-sync-init');
    expect(init).toBeDefined();
    const initEnv = envOf(init);
    expect(initEnv.GITSYNC_ONE_TIME.value).toBe('true');
    for (const name of ['GITSYNC_REPO', 'GITSYNC_REF', 'GITSYNC_ROOT', 'GITSYNC_LINK']) expect(initEnv[name]).toEqual(env[name]);
    const taskVolume = init.volumeMounts.find((m: any) => m.mountPath === initEnv.GITSYNC_ROOT.value).name;
    const base = task.containers.find((c: any) => c.name === 'base');
    expect(base.volumeMounts.find((m: any) => m.name === taskVolume)?.mountPath).toBe(airflowMount.mountPath);
  });
});

describe('externalDatabase', () => {
  const connection = SecretKeyRef.of('managed-db', 'url');
  const objects = fresh({ externalDatabase: { connection } });

  test('no in-cluster postgres', () => {
    expect(objects.filter(o => o.kind === 'StatefulSet')).toEqual([]);
    expect(objects.filter(o => o.metadata.name === 'airflow-postgresql')).toEqual([]);
    expect(objects.filter(o => o.kind === 'PersistentVolumeClaim')).toEqual([]);
  });

  test('every database user reads the connection from the given Secret key', () => {
    const expected = { secret: 'managed-db', key: 'url' };
    const users = [...COMPONENTS.map(c => main(objects, c)), jobContainer(objects)];
    // every Deployment of an Airflow component (the metrics exporter uses no database)
    for (const d of objects.filter(o => o.kind === 'Deployment' && o.metadata.name !== 'airflow-statsd')) {
      users.push(podSpec(d).initContainers.find((c: any) => c.name === 'wait-for-migrations'));
    }
    expect(users).toHaveLength(9);
    for (const c of users) expect(ref(envOf(c).AIRFLOW__DATABASE__SQL_ALCHEMY_CONN)).toEqual(expected);
    // no other connection reference anywhere
    const refs = pods(objects).flatMap(([, spec]) => allContainers(spec))
      .map(c => envOf(c).AIRFLOW__DATABASE__SQL_ALCHEMY_CONN).filter(Boolean).map(v => JSON.stringify(ref(v)));
    expect(new Set(refs)).toEqual(new Set([JSON.stringify(expected)]));
  });

  test('the Airflow construct exposes no postgres', () => {
    const chart = testChart();
    const a = new Airflow(chart, 'airflow', { externalDatabase: { connection } });
    expect(a.postgres).toBeUndefined();
  });
});

describe('pgbouncer', () => {
  const objects = fresh({ pgbouncer: {} });

  test('in front of the in-cluster PostgreSQL: the components use the URL to PgBouncer, the migrations the one straight to PostgreSQL', () => {
    expect(find(objects, 'ConfigMap', 'airflow-pgbouncer').data['pgbouncer.ini']).toMatch(/^airflow = host=airflow-postgresql\.airflow-test port=5432 dbname=airflow /m);
    for (const c of COMPONENTS) expect(ref(envOf(main(objects, c)).AIRFLOW__DATABASE__SQL_ALCHEMY_CONN)).toEqual({ secret: 'airflow-secrets', key: 'sql-alchemy-conn' });
    expect(ref(envOf(jobContainer(objects)).AIRFLOW__DATABASE__SQL_ALCHEMY_CONN)).toEqual({ secret: 'airflow-postgresql', key: 'connection' });
  });

  test('PostgreSQL lets in PgBouncer, the migrations and the backups, no longer the components; PgBouncer lets in the components and the cleanup', () => {
    const from = (name: string) => [...find(objects, 'NetworkPolicy', name).spec.ingress[0].from[0].podSelector.matchExpressions[0].values].sort();
    expect(from('airflow-postgresql')).toEqual(['db-migrate', 'pgbouncer', 'postgresql-backup']);
    expect(from('airflow-pgbouncer')).toEqual(['api-server', 'dag-processor', 'db-cleanup', 'scheduler', 'triggerer']);
  });

  test('with an external database: the host is required, the migrations use externalDatabase.connection', () => {
    const connection = SecretKeyRef.of('airflow-database', 'connection');
    expect(() => fresh({ externalDatabase: { connection }, pgbouncer: {} })).toThrow(/pgbouncer\.database\.host.*the host of the external database/s);
    const external = fresh({ externalDatabase: { connection }, pgbouncer: { database: { host: 'db.example.com', serverTlsSslmode: 'require' } } });
    expect(ref(envOf(jobContainer(external)).AIRFLOW__DATABASE__SQL_ALCHEMY_CONN)).toEqual({ secret: 'airflow-database', key: 'connection' });
    expect(ref(envOf(main(external, 'scheduler')).AIRFLOW__DATABASE__SQL_ALCHEMY_CONN)).toEqual({ secret: 'airflow-secrets', key: 'sql-alchemy-conn' });
    expect(() => fresh({ externalDatabase: { connection, asyncConnection: SecretKeyRef.of('airflow-database', 'async') }, pgbouncer: { database: { host: 'db.example.com' } } }))
      .toThrow(/externalDatabase\.asyncConnection.*unset with pgbouncer/s);
  });
});

describe('externalDatabase.asyncConnection', () => {
  const connection = SecretKeyRef.of('airflow-database', 'connection');
  const asyncConnection = SecretKeyRef.of('airflow-database', 'async-connection');
  const objects = fresh({ externalDatabase: { connection, asyncConnection } });

  test('sets [database] sql_alchemy_conn_async from its Secret for every database user, never the task pod', () => {
    for (const c of [...COMPONENTS.map(x => main(objects, x)), jobContainer(objects)]) {
      expect(ref(envOf(c).AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC)).toEqual({ secret: 'airflow-database', key: 'async-connection' });
    }
    for (const c of allContainers(podSpec(taskPod(objects)))) expect(envOf(c).AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC).toBeUndefined();
  });

  test('is given once', () => {
    expect(() => fresh({ externalDatabase: { connection, asyncConnection }, options: { database: { sql_alchemy_conn_async: asyncConnection } } }))
      .toThrow(/options\.database\.sql_alchemy_conn_async.*give the async URL once/s);
  });
});

describe('databaseCleanup', () => {
  test('is on by default and can be switched off', () => {
    expect(fresh().filter(o => o.kind === 'CronJob').map(o => o.metadata.name)).toContain('airflow-db-cleanup');
    expect(fresh({ databaseCleanup: false }).filter(o => o.kind === 'CronJob').map(o => o.metadata.name)).not.toContain('airflow-db-cleanup');
  });
});

describe('two installations in one namespace', () => {
  const chart = testChart();
  new Airflow(chart, 'a', { instanceName: 'a' });
  new Airflow(chart, 'b', { instanceName: 'b', dags: { repository: DAGS_REPO } });
  const objects = synth(chart);
  const templates = [
    ...objects.filter(o => ['Deployment', 'StatefulSet', 'Job'].includes(o.kind))
      .map(o => ({ owner: `${o.kind}/${o.metadata.name}`, labels: o.spec.template.metadata.labels as Record<string, string> })),
    ...['a', 'b'].map(i => ({ owner: `task pod ${i}`, labels: taskPod(objects, i).metadata.labels as Record<string, string> })),
  ];
  const matches = (selector: Record<string, string>) =>
    templates.filter(t => Object.entries(selector).every(([k, v]) => t.labels[k] === v)).map(t => t.owner);

  test('no two objects share kind and name, and each instance\'s names carry its prefix', () => {
    const keys = objects.map(o => `${o.kind}/${o.metadata.name}`);
    expect(keys.filter((k, i) => keys.indexOf(k) !== i)).toEqual([]);
    for (const o of objects) {
      const instance = o.metadata.labels?.['app.kubernetes.io/instance'];
      expect(['a', 'b']).toContain(instance);
      expect(o.metadata.name.startsWith(`${instance}-`)).toBe(true);
    }
    expect(objects.filter(o => o.metadata.labels?.['app.kubernetes.io/instance'] === 'a').length).toBeGreaterThan(10);
    expect(objects.filter(o => o.metadata.labels?.['app.kubernetes.io/instance'] === 'b').length).toBeGreaterThan(10);
  });

  test('selectors are distinct and each selects only its own pods', () => {
    const selectors = objects.flatMap(o => {
      if (['Deployment', 'StatefulSet'].includes(o.kind)) return [{ owner: `${o.kind}/${o.metadata.name}`, selector: o.spec.selector.matchLabels, kind: o.kind }];
      if (o.kind === 'Service') return [{ owner: `Service/${o.metadata.name}`, selector: o.spec.selector, kind: o.kind }];
      if (o.kind === 'PodDisruptionBudget') return [{ owner: `PodDisruptionBudget/${o.metadata.name}`, selector: o.spec.selector.matchLabels, kind: o.kind }];
      return [];
    });
    const workloads = selectors.filter(s => s.kind === 'Deployment' || s.kind === 'StatefulSet');
    expect(new Set(workloads.map(s => JSON.stringify(s.selector))).size).toBe(workloads.length);
    for (const s of selectors) {
      expect(s.selector['app.kubernetes.io/instance']).toBeDefined();
      const selected = matches(s.selector);
      const name = s.owner.split('/')[1];
      // each selects exactly the workload of its own name (the Deployment or StatefulSet itself, or the one a Service or PDB serves)
      expect({ owner: s.owner, selected }).toEqual({ owner: s.owner, selected: objects
        .filter(o => ['Deployment', 'StatefulSet'].includes(o.kind) && o.metadata.name === name).map(o => `${o.kind}/${name}`) });
    }
  });

  test('each installation\'s airflow.cfg points at its own api-server and its own task pod template', () => {
    for (const i of ['a', 'b']) {
      const cfg = airflowCfg(objects, i);
      expect(cfg.core.execution_api_server_url).toBe(`http://${i}-api-server.airflow-test:8080/execution/`);
      const scheduler = podSpec(find(objects, 'Deployment', `${i}-scheduler`));
      expect(scheduler.serviceAccountName).toBe(`${i}-scheduler`);
      expect(scheduler.volumes.find((v: any) => v.name === 'pod-template').configMap.name).toBe(`${i}-pod-template`);
      expect(scheduler.volumes.find((v: any) => v.name === 'config').configMap.name).toBe(`${i}-config`);
      expect(envOf(scheduler.containers[0]).AIRFLOW__DATABASE__SQL_ALCHEMY_CONN.secret).toBe(`${i}-secrets`);
      const binding = find(objects, 'RoleBinding', `${i}-scheduler`);
      expect(binding.roleRef.name).toBe(`${i}-scheduler`);
      expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: `${i}-scheduler`, namespace: 'airflow-test' }]);
    }
  });
});

test('highAvailability keeps a PodDisruptionBudget for scheduler and api-server even when one is set to undefined', () => {
  const objects = synth(new AirflowChart(Testing.app(), 'prod', {
    ...ENVIRONMENTS.prod,
    airflow: { ...ENVIRONMENTS.prod.airflow, apiServer: { ...ENVIRONMENTS.prod.airflow.apiServer, disruptionBudget: undefined } },
  }));
  for (const name of ['airflow-scheduler', 'airflow-api-server']) {
    expect(find(objects, 'PodDisruptionBudget', name).spec.maxUnavailable).toBeGreaterThanOrEqual(1);
  }
});

describe('requireImageDigests', () => {
  const digest = (image: string) => `${image}@sha256:${'a'.repeat(64)}`;

  test('refuses a tag-only image, naming the image, the object and the container', () => {
    expect(() => new Airflow(testChart(), 'airflow', { requireImageDigests: true }))
      .toThrow(/^Airflow \[test\/airflow\] requireImageDigests: got "apache\/airflow:3\.3\.2 \(task pod template, container base\)"; expected every image pinned by digest/);
    // the images the library picks itself are judged too: git-sync's default
    expect(() => new Airflow(testChart(), 'airflow', { requireImageDigests: true, image: digest('apache/airflow:3.3.2'), dags: { repository: 'https://github.com/example/dags.git' } }))
      .toThrow(/got "registry\.k8s\.io\/git-sync\/git-sync:v4\.7\.1 \(task pod template, container git-sync-init\)"/);
  });

  test('accepts an installation whose every image carries a digest, and writes them as given', () => {
    const chart = testChart();
    new Airflow(chart, 'airflow', {
      requireImageDigests: true, image: digest('apache/airflow:3.3.2'), postgres: { image: digest('postgres:17.9-bookworm') },
      dags: { repository: 'https://github.com/example/dags.git', image: digest('registry.k8s.io/git-sync/git-sync:v4.7.1') },
      metrics: { exporter: { image: digest('prom/statsd-exporter:v0.31.0') } },
    });
    const images = JSON.stringify(synth(chart)).match(/"image":"[^"]+"/g)!;
    expect(images.length).toBeGreaterThan(10);
    expect(images.filter(i => !i.includes('@sha256:'))).toEqual([]);
  });

  test('is off by default: the presets use version tags', () => {
    expect(() => new Airflow(testChart(), 'airflow', {})).not.toThrow();
  });
});
