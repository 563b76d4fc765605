// The environment presets: one snapshot each, and the facts each environment must hold.
import { ENVIRONMENTS, parseQuantity, Tier } from '../lib';
import { airflowCfg, allContainers, envOf, fewestReplicas, find, K8sObject, podSpec, synthEnvironment, taskPod, TIERS } from './helpers';

const OBJECTS = Object.fromEntries(TIERS.map(t => [t, synthEnvironment(t)])) as Record<Tier, K8sObject[]>;

const replicas = (tier: Tier, name: string): number => fewestReplicas(OBJECTS[tier], find(OBJECTS[tier], 'Deployment', name));

/** Every container of every pod (Deployments, StatefulSets, Jobs and the task pod template), labelled. */
function containers(objects: K8sObject[]): Array<{ where: string; c: any }> {
  const specs: Array<[string, any]> = [
    ...objects.filter(o => ['Deployment', 'StatefulSet', 'Job', 'DaemonSet', 'CronJob', 'Pod'].includes(o.kind))
      .map(o => [`${o.kind}/${o.metadata.name}`, podSpec(o)] as [string, any]),
    ['task pod', podSpec(taskPod(objects))],
  ];
  return specs.flatMap(([where, spec]) => allContainers(spec).map(c => ({ where: `${where} ${c.name}`, c })));
}

/** An image pinned by a tag that is not latest, or by a sha256 digest. */
const PINNED = /^[^\s@]+(:(?!latest$)[\w][\w.-]{0,127}|@sha256:[a-f0-9]{64})$/;

describe.each(TIERS)('snapshot', tier => {
  test(`${tier}`, () => {
    expect(synthEnvironment(tier)).toMatchSnapshot();
  });
});

test('namespaces are airflow-dev, airflow-staging and airflow-prod', () => {
  expect([...TIERS].sort()).toEqual(['dev', 'prod', 'staging']);
  for (const tier of TIERS) {
    const ns = OBJECTS[tier].filter(o => o.kind === 'Namespace');
    expect(ns.map(o => o.metadata.name)).toEqual([`airflow-${tier}`]);
    expect(ENVIRONMENTS[tier].namespace).toBe(`airflow-${tier}`);
    expect(ENVIRONMENTS[tier].tier).toBe(tier);
  }
});

describe('dev', () => {
  const objects = OBJECTS.dev;

  test('every Deployment has one replica', () => {
    const deployments = objects.filter(o => o.kind === 'Deployment');
    expect(deployments).toHaveLength(5);
    for (const d of deployments) expect({ name: d.metadata.name, replicas: d.spec.replicas }).toEqual({ name: d.metadata.name, replicas: 1 });
  });

  test('in-cluster PostgreSQL with at most 2Gi of storage', () => {
    const sts = find(objects, 'StatefulSet', 'airflow-postgresql');
    expect(sts.spec.replicas).toBe(1);
    const claims = sts.spec.volumeClaimTemplates;
    expect(claims).toHaveLength(1);
    const storage = parseQuantity(claims[0].spec.resources.requests.storage);
    expect(storage).toBeDefined();
    expect(storage!).toBeGreaterThan(0);
    expect(storage!).toBeLessThanOrEqual(2 * 2 ** 30);
    find(objects, 'Service', 'airflow-postgresql');
  });

  test('DAGs from an https:// repository without credentials', () => {
    const gitSync = containers(objects).filter(({ c }) => String(c.image).includes('git-sync'));
    expect(gitSync.length).toBeGreaterThanOrEqual(2); // dag-processor sidecar and task pod init container
    for (const { where, c } of gitSync) {
      const env = envOf(c);
      expect({ where, repo: env.GITSYNC_REPO?.value?.startsWith('https://') }).toEqual({ where, repo: true });
      const auth = Object.keys(env).filter(n => /^GIT_?SYNC_(USERNAME|PASSWORD|PASSWORD_FILE|SSH|SSH_KEY_FILE|SSH_KNOWN_HOSTS|SSH_KNOWN_HOSTS_FILE|CREDENTIAL|ASKPASS_URL|COOKIE_FILE)$/.test(n));
      expect({ where, auth }).toEqual({ where, auth: [] });
      expect((c.volumeMounts ?? []).map((m: any) => m.mountPath)).not.toContain('/etc/git-secret');
    }
    expect(objects.some(o => JSON.stringify(o).includes('git-secret'))).toBe(false);
  });
});

describe('prod', () => {
  const objects = OBJECTS.prod;

  test.each(['airflow-scheduler', 'airflow-api-server'])('%s: two or more replicas, spread across nodes, a PodDisruptionBudget', name => {
    const d = find(objects, 'Deployment', name);
    expect(fewestReplicas(objects, d)).toBeGreaterThanOrEqual(2);
    const spread = podSpec(d).topologySpreadConstraints ?? [];
    const hostname = spread.filter((t: any) => t.topologyKey === 'kubernetes.io/hostname' && t.whenUnsatisfiable === 'DoNotSchedule');
    expect(hostname).toHaveLength(1);
    expect(hostname[0].labelSelector.matchLabels).toEqual(d.spec.selector.matchLabels);

    const pdb = objects.filter(o => o.kind === 'PodDisruptionBudget' && JSON.stringify(o.spec.selector.matchLabels) === JSON.stringify(d.spec.selector.matchLabels));
    expect(pdb).toHaveLength(1);
    expect(pdb[0].metadata.name).toBe(name);
    expect(pdb[0].spec.minAvailable).toBeUndefined();
    expect(typeof pdb[0].spec.maxUnavailable).toBe('number');
    expect(pdb[0].spec.maxUnavailable).toBeGreaterThanOrEqual(1);
    expect(pdb[0].spec.maxUnavailable).toBeLessThan(fewestReplicas(objects, d));
  });

  test('the api-server is autoscaled: 2 to 10 pods at 70 % CPU and 80 % memory, and the Deployment leaves replicas to it', () => {
    const d = find(objects, 'Deployment', 'airflow-api-server');
    const hpa = find(objects, 'HorizontalPodAutoscaler', 'airflow-api-server');
    expect(hpa.apiVersion).toBe('autoscaling/v2');
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: d.apiVersion, kind: 'Deployment', name: d.metadata.name });
    expect([hpa.spec.minReplicas, hpa.spec.maxReplicas]).toEqual([2, 10]);
    const targets = Object.fromEntries(hpa.spec.metrics.map((m: any) => [m.resource.name, [m.type, m.resource.target.type, m.resource.target.averageUtilization]]));
    expect(targets).toEqual({ cpu: ['Resource', 'Utilization', 70], memory: ['Resource', 'Utilization', 80] });
    // utilization is a percentage of the requests: every container must request what is targeted
    for (const c of podSpec(d).containers) expect([c.name, Object.keys(c.resources.requests).sort()]).toEqual([c.name, ['cpu', 'memory']]);
    // a replicas field would be re-applied over the autoscaler's choice on every kubectl apply
    expect('replicas' in d.spec).toBe(false);
    // nothing else is autoscaled
    expect(objects.filter(o => o.kind === 'HorizontalPodAutoscaler')).toHaveLength(1);
  });

  test('DAG code at a commit id in every git-sync container; dev and staging follow the release tag', () => {
    const refs = (tier: Tier) => new Set(containers(OBJECTS[tier]).filter(({ c }) => envOf(c).GITSYNC_REF).map(({ c }) => envOf(c).GITSYNC_REF.value));
    const prod = [...refs('prod')];
    expect(prod).toHaveLength(1);
    expect(prod[0]).toMatch(/^[0-9a-f]{40}$/);
    for (const tier of ['dev', 'staging'] as const) expect([...refs(tier)]).toEqual([ENVIRONMENTS.dev.airflow.dags!.ref]);
  });

  test('an external database referenced by Secret, no in-cluster PostgreSQL; migrations go to it straight, everything else through PgBouncer', () => {
    expect(objects.filter(o => o.kind === 'StatefulSet')).toEqual([]);
    // the only claim is the shared task log volume
    expect(objects.filter(o => o.kind === 'PersistentVolumeClaim').map(o => o.metadata.name)).toEqual(['airflow-logs']);
    expect(objects.filter(o => o.metadata.name.includes('postgres'))).toEqual([]);
    const direct = ENVIRONMENTS.prod.airflow.externalDatabase!.connection;
    const users = containers(objects).filter(({ c }) => envOf(c).AIRFLOW__DATABASE__SQL_ALCHEMY_CONN !== undefined);
    expect(users.length).toBeGreaterThanOrEqual(10); // 4 components, their 4 wait-for-migrations, the Job, the cleanup
    for (const { where, c } of users) {
      const ref = where.startsWith('Job/airflow-db-migrate-') ? { secret: direct.secretName, key: direct.key } : { secret: 'airflow-secrets', key: 'sql-alchemy-conn' };
      expect({ where, ref: envOf(c).AIRFLOW__DATABASE__SQL_ALCHEMY_CONN }).toEqual({ where, ref });
    }
    expect(users.filter(u => u.where.startsWith('Job/airflow-db-migrate-'))).toHaveLength(1);
    // PgBouncer: two pods on different nodes, TLS verified to the managed database (database-tls.test.ts), a budget
    const pgbouncer = find(objects, 'Deployment', 'airflow-pgbouncer');
    expect(pgbouncer.spec.replicas).toBeGreaterThanOrEqual(2);
    expect(find(objects, 'PodDisruptionBudget', 'airflow-pgbouncer').spec.maxUnavailable).toBe(1);
    const ini = find(objects, 'ConfigMap', 'airflow-pgbouncer').data['pgbouncer.ini'];
    expect(ini).toMatch(/^server_tls_sslmode = verify-full$/m);
    expect(ini).toContain(`host=${ENVIRONMENTS.prod.airflow.pgbouncer!.database!.host} `);
    // the Secret is referenced, never emitted
    expect(objects.filter(o => o.kind === 'Secret')).toEqual([]);
  });
});

describe('staging', () => {
  test.each(['airflow-scheduler', 'airflow-api-server'])('%s replicas between dev and prod', name => {
    expect(replicas('staging', name)).toBeGreaterThanOrEqual(replicas('dev', name));
    expect(replicas('staging', name)).toBeLessThanOrEqual(replicas('prod', name));
  });
});

describe.each(TIERS)('%s', tier => {
  const objects = OBJECTS[tier];

  test('the dag-processor looks for new and deleted DAG files as often as git-sync syncs them', () => {
    const sidecar = podSpec(find(objects, 'Deployment', 'airflow-dag-processor')).containers.find((c: any) => c.name === 'git-sync');
    const period = envOf(sidecar).GITSYNC_PERIOD.value!;
    const seconds = Number(/^(\d+)s$/.exec(period)?.[1] ?? Number(/^(\d+)m$/.exec(period)![1]) * 60);
    expect(airflowCfg(objects).dag_processor.refresh_interval).toBe(String(seconds));
    expect(seconds).toBeLessThan(300); // Airflow's default: a pushed DAG would wait up to five minutes
  });

  test('the runbook names exist', () => {
    for (const name of ['airflow-scheduler', 'airflow-api-server', 'airflow-dag-processor', 'airflow-triggerer']) find(objects, 'Deployment', name);
    find(objects, 'Service', 'airflow-api-server');
  });

  test('every container requests CPU and memory, limits memory, and runs a pinned image', () => {
    const all = containers(objects);
    expect(all.length).toBeGreaterThanOrEqual(10);
    for (const { where, c } of all) {
      const r = c.resources ?? {};
      expect({ where, cpu: parseQuantity(r.requests?.cpu) !== undefined }).toEqual({ where, cpu: true });
      expect({ where, memory: parseQuantity(r.requests?.memory) !== undefined }).toEqual({ where, memory: true });
      expect({ where, limit: parseQuantity(r.limits?.memory) !== undefined }).toEqual({ where, limit: true });
      expect(parseQuantity(r.limits.memory)!).toBeGreaterThanOrEqual(parseQuantity(r.requests.memory)!);
      expect({ where, image: c.image }).toEqual({ where, image: expect.stringMatching(PINNED) });
    }
  });
});

test('the image pin pattern accepts tags and digests and rejects latest and a missing tag', () => {
  for (const ok of ['apache/airflow:3.1.7', 'registry.k8s.io/git-sync/git-sync:v4.7.1', `postgres@sha256:${'a'.repeat(64)}`, 'localhost:5000/airflow:3.1.7']) {
    expect(ok).toMatch(PINNED);
  }
  for (const bad of ['apache/airflow', 'apache/airflow:latest', 'localhost:5000/airflow', 'postgres@sha256:abc']) expect(bad).not.toMatch(PINNED);
});
