// Real Airflow (the locked release the default image pins) runs each environment of dist/ as its manifests
// say: same airflow.cfg, same env, Secrets made by scripts/create-secrets.sh, a real PostgreSQL, the
// containers' users, mounts and read-only root (scripts/integration/sandbox.ts), a real kube-apiserver for
// the scheduler's KubernetesExecutor. Every component starts and passes its exact probes, DAGs laid out as
// git-sync lays them out are parsed and listed, and the task pods the executor really creates are admitted
// by the API server as the scheduler's ServiceAccount, pass the strict schema and Pod Security
// "restricted", carry no database URL and no token, and run the task to success.
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'fs';
import { join } from 'path';
import { parse, stringify } from 'yaml';
import { spawnSync } from 'child_process';
import type { CheckReport } from '../../scripts/check';
import { REPO, setup, TestHost, waitFor } from '../../scripts/integration/host';
import { makeDagRepository } from '../../scripts/integration/images';
import { EXTERNAL_DATABASE_HOST, Installation, lintFindings } from '../../scripts/integration/installation';
import { SandboxPod } from '../../scripts/integration/sandbox';
import { parseManifests } from '../../scripts/manifests';
import { taskPodLeaks } from '../../scripts/task-pod-facts';
import { AIRFLOW_DEFAULT_PARALLELISM, AIRFLOW_VERSION, ENVIRONMENTS, AIRFLOW_VERSION_COMMIT, AUTH_MANAGER_CLASSES, FAB_OWN_USERINFO, PROD_DATABASE_CA, PROD_OIDC } from '../../lib';
import { TIERS } from '../helpers';

/** Lists the options a process sets that the installed Airflow does not know (run in a container's sandbox). */
const UNKNOWN_OPTIONS = readFileSync(join(REPO, 'scripts', 'integration', 'unknown-options.py'), 'utf8');

/** The example DAG whose run proves the executor path: one task, no extra dependencies. */
const DAG_ID = 'example_simplest_dag';
/** Airflow's airflow-core/src/airflow/example_dags holds more than 20 DAGs (3.1.7 and 3.3.2 alike); 20 proves the folder was parsed, not one file. */
const EXAMPLE_DAGS_AT_LEAST = 20;
/** A DAG must be listed this soon after the dag-processor starts (a first sync then is already done). */
const DAGS_LISTED_WITHIN = 60;
const FIRST_SYNC_DELAY = DAGS_LISTED_WITHIN + 30;

// Starting real servers takes longer than a unit test may: each test sets its own waits.
jest.setTimeout(1_200_000);

let host: TestHost;
let venv: string;
let dagRepository: string;

beforeAll(async () => {
  const cache = setup();
  venv = join(cache, `airflow-${AIRFLOW_VERSION}`);
  host = new TestHost(cache, 'airflow');
  await host.startKubeApiserver();
  // The presets clone apache/airflow at the release tag and read airflow-core/src/airflow/example_dags;
  // the same files come with the locked apache-airflow-core wheel.
  const site = join(venv, 'lib', readdirSync(join(venv, 'lib'))[0], 'site-packages');
  // and the README's DAG of task pod profiles beside them
  dagRepository = makeDagRepository(join(host.dir, 'dag-repository'), {
    [join(site, 'airflow', 'example_dags')]: 'airflow-core/src/airflow/example_dags',
    [join(REPO, 'docs', 'examples', 'task_pod_profiles.py')]: 'airflow-core/src/airflow/example_dags/task_pod_profiles.py',
  }, AIRFLOW_VERSION);
}, 3600_000);

afterAll(async () => { await host?.stop(); });

/**
 * Lines a process printed that warn about configuration: deprecated, renamed or removed options (Airflow
 * warns of those; unknown options it ignores silently, which unknown-options.py covers).
 */
function configWarnings(output: string): string[] {
  return output.split('\n').filter(l => /(DeprecationWarning|FutureWarning|deprecated|has been (moved|renamed|removed)|unknown (option|section|config)|not a valid (option|config))/i.test(l)
    && /(option|section|config|\[[a-z_]+\])/i.test(l));
}

test('AIRFLOW_VERSION_COMMIT, the commit prod syncs the example DAGs at, is the one the installed apache-airflow-core wheel was built from', () => {
  const site = join(venv, 'lib', readdirSync(join(venv, 'lib'))[0], 'site-packages');
  expect(readFileSync(join(site, 'airflow', 'git_version'), 'utf8').trim()).toBe(`.release:${AIRFLOW_VERSION_COMMIT}`);
});

test('the OIDC provider names refused (FAB_OWN_USERINFO) are those the installed FAB provider reads its own way, not from userinfo', () => {
  const site = join(venv, 'lib', readdirSync(join(venv, 'lib'))[0], 'site-packages');
  const source = readFileSync(join(site, 'airflow', 'providers', 'fab', 'auth_manager', 'security_manager', 'override.py'), 'utf8');
  const body = /def get_oauth_user_info\([\s\S]*?(?=\n    def |\n    @)/.exec(source)![0];
  const named = [...body.matchAll(/provider (?:==|in) (\[[^\]]*\]|"[^"]+")/g)].flatMap(m => [...m[1].matchAll(/"([^"]+)"/g)].map(n => n[1]));
  expect(named.length).toBeGreaterThan(5);
  expect([...new Set(named)].sort()).toEqual([...FAB_OWN_USERINFO].sort());
});

test('the quota\'s assumptions are the installed Airflow\'s: [core] parallelism 32 per scheduler, and a task pod the quota refuses is not retried', () => {
  const site = join(venv, 'lib', readdirSync(join(venv, 'lib'))[0], 'site-packages');
  const core = parse(readFileSync(join(site, 'airflow', 'config_templates', 'config.yml'), 'utf8')).core.options;
  expect(core.parallelism.default).toBe(String(AIRFLOW_DEFAULT_PARALLELISM));
  expect(core.parallelism.description).toMatch(/per scheduler/);
  const provider = readFileSync(join(site, 'airflow', 'providers', 'cncf', 'kubernetes', 'get_provider_info.py'), 'utf8');
  expect(/"task_publish_max_retries": \{[^}]*"default": "(\d+)"/.exec(provider)?.[1]).toBe('0');
});

describe.each(TIERS)('%s, run by real Airflow', tier => {
  let inst: Installation;
  let apiUrl: string;
  let token: string;
  // prod's URL sets no sslmode: PGSSLMODE (verify-full) and PGSSLROOTCERT from the manifests apply
  const externalUrl = () => `postgresql+psycopg2://airflow:${host.dir.slice(-6)}pw@${EXTERNAL_DATABASE_HOST}:5432/airflow`;
  const api = (path: string) => host.httpGet(`${apiUrl}${path}`, { Authorization: `Bearer ${token}` });
  const outputs: string[] = [];
  let finishedRun = '';
  /** Runs a task pod the executor made as a kubelet would: its init containers, then `base` to completion. */
  const runTaskPod = (taskPod: any) => {
    const task = new SandboxPod(host, taskPod.metadata.name, inst.namespace, taskPod.spec, inst);
    inst.pods.push(task);
    task.runInitContainers();
    const ran = task.runToCompletion('base', 300);
    outputs.push(ran.stdout + ran.stderr);
  };
  /** The state a DAG run ends in (success or failed), waited for. */
  const finalState = (dag: string, runId: string) => waitFor(`dag run ${runId} to finish`, 180, () => {
    const state = JSON.parse(api(`/api/v2/dags/${dag}/dagRuns/${encodeURIComponent(runId)}`).body).state;
    return ['success', 'failed'].includes(state) ? state : undefined;
  }, 3000);
  /** The OIDC client secret of the installation (prod), in its Secret and known to the stand-in provider. */
  const oidcClientSecret = `oidc-${process.pid}-${Date.now()}`;
  /** `[core] auth_manager` of the installation's airflow.cfg. */
  const authManager = () => /^auth_manager = (\S+)$/m.exec(inst.configMap('airflow-config')!['airflow.cfg'])![1];
  const distObjects = parseManifests(join(REPO, 'dist', `${tier}.k8s.yaml`), readFileSync(join(REPO, 'dist', `${tier}.k8s.yaml`), 'utf8')).map(m => m.object as any);
  const logClaim = distObjects.find(o => o.kind === 'PersistentVolumeClaim' && o.metadata.labels?.['app.kubernetes.io/component'] === 'logs');

  // A git-sync sidecar's first clone takes longer than Airflow's start (here: FIRST_SYNC_DELAY seconds).
  beforeAll(() => { inst = new Installation(host, tier, venv, dagRepository, FIRST_SYNC_DELAY); });
  afterAll(async () => {
    await inst?.stop();
    // INTEGRATION_LOGS=<folder> keeps what every process printed, for reading after a run.
    if (process.env.INTEGRATION_LOGS) {
      mkdirSync(process.env.INTEGRATION_LOGS, { recursive: true });
      writeFileSync(join(process.env.INTEGRATION_LOGS, `${tier}.log`), [...outputs, host.logs()].join('\n=====\n'));
    }
  });

  test('scripts/create-secrets.sh makes the Secrets; run again, it changes nothing', () => {
    const env: Record<string, string> = inst.objects.some(o => o.kind === 'StatefulSet') ? {}
      : { AIRFLOW_DATABASE_URL: externalUrl(), AIRFLOW_OIDC_CLIENT_SECRET: oidcClientSecret };
    const first = inst.createSecrets(env);
    expect(first.stderr).toBe('');
    expect(first.status).toBe(0);
    // prod verifies its database against the provider's CA, a ConfigMap the operator creates (README, "Deploy an environment")
    if (tier === 'prod') {
      host.kubectlOk(['-n', inst.namespace, 'create', 'configmap', PROD_DATABASE_CA.configMapName, `--from-file=${PROD_DATABASE_CA.key}=${host.testCaFile}`]);
      expect(inst.secret(PROD_OIDC.clientSecret.secretName)![PROD_OIDC.clientSecret.key]).toBe(oidcClientSecret);
    }
    const versions = () => host.kubectlOk(['-n', inst.namespace, 'get', 'secrets', '-o', 'jsonpath={range .items[*]}{.metadata.name}={.metadata.resourceVersion} {end}']);
    const before = versions();
    const second = inst.createSecrets(env);
    expect(second.status).toBe(0);
    expect(second.stdout).toMatch(/left as it is/);
    expect(versions()).toBe(before);
    // The objects go in as `kubectl apply -f dist/<tier>.k8s.yaml` puts them (the scheduler's RBAC among them).
    host.kubectlOk(['apply', '--warnings-as-errors', '-f', join(REPO, 'dist', `${tier}.k8s.yaml`)]);
    // What the controller-manager would do: every namespace has a `default` ServiceAccount (task pods use it).
    host.kubectlOk(['-n', inst.namespace, 'create', 'serviceaccount', 'default']);
  });

  test('airflow db migrate (the migration Job\'s container) and airflow db check-migrations succeed', async () => {
    await inst.startDatabase(externalUrl());
    const job = inst.pod('db-migrate');
    const migrate = job.runToCompletion(job.spec.containers[0].name, 600);
    outputs.push(migrate.stdout + migrate.stderr);
    expect(migrate.stdout + migrate.stderr).toMatch(/Database (migrating|migration) done!/); // 3.1 says "migrating", 3.3 "migration"
    // staging and prod: every component's URL leads to PgBouncer (nothing else listens on its port), which
    // logs in to the database with the userlist from its Secret (prod: TLS required to the external one).
    if (inst.has('pgbouncer')) {
      const pgbouncer = inst.pod('pgbouncer');
      pgbouncer.start('pgbouncer');
      await pgbouncer.waitForProbe('pgbouncer', 'readinessProbe', 60);
      expect(pgbouncer.probe('pgbouncer', 'livenessProbe').passed).toBe(true);
    }
    // check-migrations is each Deployment's init container `wait-for-migrations`: run it as the scheduler's.
    const scheduler = inst.pod('scheduler');
    const waited = scheduler.runToCompletion('wait-for-migrations', 300);
    outputs.push(waited.stdout + waited.stderr);
  });

  test('the statsd_exporter runs from its manifest (its arguments, the mapping ConfigMap, uid 65534, read-only root) and passes its probes', async () => {
    const pod = inst.pod('statsd');
    pod.start('statsd-exporter');
    await pod.waitForProbe('statsd-exporter', 'readinessProbe', 60);
    expect(pod.probe('statsd-exporter', 'livenessProbe').passed).toBe(true);
  });

  test.each(['scheduler', 'api-server', 'dag-processor', 'triggerer'])('airflow config lint, in the %s container, finds nothing but the executor it must set', component => {
    const pod = inst.pod(component);
    const r = pod.exec(component, ['airflow', 'config', 'lint'], 120);
    expect(r.status).toBe(0);
    expect(lintFindings(r.stdout + r.stderr).filter(f => !/^Changed default value of `executor` in `core`/.test(f))).toEqual([]);
  });

  test.each(['scheduler', 'api-server', 'dag-processor', 'triggerer'])('the installed Airflow knows every option the %s container sets (airflow.cfg and AIRFLOW__ env)', component => {
    const pod = inst.pod(component);
    const unknown = (extraEnv: Record<string, string> = {}) => {
      const r = pod.exec(component, ['python', '-c', UNKNOWN_OPTIONS], 120, extraEnv);
      if (r.status !== 0) throw new Error(r.stderr.slice(-3000));
      return JSON.parse(r.stdout.trim().split('\n').pop()!);
    };
    expect(unknown()).toEqual([]);
    expect(unknown({ AIRFLOW__CORE__PARALELISM: '4' })).toEqual(['[core] paralelism']); // the check can fail
  });

  test('the api-server passes its startup, readiness and liveness probes and answers at /execution/', async () => {
    const pod = inst.pod('api-server');
    pod.runInitContainers();
    // The stand-in identity provider's certificate is from the test CA, which the api-server trusts as it would
    // trust a public one (requests reads REQUESTS_CA_BUNDLE); the file goes to the pod's /tmp.
    copyFileSync(host.testCaFile, join(pod.volume('tmp'), 'test-ca.crt'));
    pod.start('api-server', { REQUESTS_CA_BUNDLE: '/tmp/test-ca.crt' });
    await pod.waitForProbe('api-server', 'startupProbe', 180);
    expect(pod.probe('api-server', 'readinessProbe').passed).toBe(true);
    expect(pod.probe('api-server', 'livenessProbe').passed).toBe(true);

    // execution_api_server_url names the Service; the Service's port leads to the container's port.
    const cfg = inst.configMap(inst.find('ConfigMap', `airflow-config`).metadata.name)!['airflow.cfg'];
    const url = new URL(/execution_api_server_url = (\S+)/.exec(cfg)![1]);
    const service = inst.find('Service', url.hostname.split('.')[0]);
    const servicePort = service.spec.ports.find((p: any) => p.port === Number(url.port));
    expect(servicePort).toBeDefined();
    const containerPort = pod.port(pod.container('api-server'), servicePort.targetPort);
    const health = host.httpGet(`http://127.0.0.1:${containerPort}${url.pathname}health`);
    expect(health).toEqual({ status: 200, body: '{"status":"healthy"}' });

    apiUrl = `http://127.0.0.1:${containerPort}`;
    let credentials: { username: string; password: string };
    if (authManager().endsWith('.SimpleAuthManager')) {
      credentials = { username: 'admin', password: JSON.parse(inst.secret('airflow-secrets')!['simple-auth-manager-passwords']).admin };
    } else {
      // FAB: a database user for scripts, made with the FAB CLI in the api-server's container (README, "Logging in")
      expect(authManager()).toBe(AUTH_MANAGER_CLASSES.fab);
      credentials = { username: 'ci-admin', password: `pw-${host.dir.slice(-6)}` };
      const created = pod.exec('api-server', ['airflow', 'users', 'create', '--username', credentials.username, '--password', credentials.password,
        '--role', 'Admin', '--email', 'ci-admin@example.com', '--firstname', 'CI', '--lastname', 'Admin'], 180);
      expect({ status: created.status, err: created.status === 0 ? '' : created.stderr.slice(-2000) }).toEqual({ status: 0, err: '' });
    }
    const login = host.httpPostJson(`${apiUrl}/auth/token`, credentials);
    expect(login.status).toBe(201);
    token = JSON.parse(login.body).access_token;
  });

  test('the dag-processor, with DAGs laid out as git-sync lays them out, passes its probe and the DAGs are listed', async () => {
    const pod = inst.pod('dag-processor');
    pod.runInitContainers();
    pod.start('git-sync');
    pod.start('dag-processor');
    const dags = await waitFor(`the example DAGs in GET /api/v2/dags within ${DAGS_LISTED_WITHIN} s of the dag-processor's start`, DAGS_LISTED_WITHIN, () => {
      const r = api('/api/v2/dags?limit=100');
      const body = r.status === 200 ? JSON.parse(r.body) : undefined;
      // The dag-processor parses file by file: wait for the whole set, not only the first DAG we look for.
      return body?.dags?.some((d: any) => d.dag_id === DAG_ID) && body.total_entries >= EXAMPLE_DAGS_AT_LEAST ? body : undefined;
    }, 3000);
    expect(dags.total_entries).toBeGreaterThanOrEqual(EXAMPLE_DAGS_AT_LEAST);
    expect(dags.dags.find((d: any) => d.dag_id === DAG_ID).fileloc).toBe(
      `/opt/airflow/dags/repo/airflow-core/src/airflow/example_dags/${DAG_ID}.py`);
    await pod.waitForProbe('dag-processor', 'startupProbe', 120);
    expect(pod.probe('dag-processor', 'livenessProbe').passed).toBe(true);
  });

  test('the triggerer starts, passes its probe, and the api-server reaches its log server with the shared [api] secret_key', async () => {
    const pod = inst.pod('triggerer');
    pod.runInitContainers();
    pod.start('git-sync');
    pod.start('triggerer');
    await pod.waitForProbe('triggerer', 'startupProbe', 180);
    expect(pod.probe('triggerer', 'livenessProbe').passed).toBe(true);

    // Logs of running triggers: the api-server asks http://<the triggerer job's hostname>:<port>/log/<file> with a
    // token signed with [api] secret_key (utils/log/file_task_handler.py). Airflow's own client, run in the
    // api-server's container, must reach the log server there and be let in: 404 for a file that is not there,
    // where a wrong key gets 403 and a wrong address no answer.
    const job = await waitFor('the TriggererJob in GET /api/v2/jobs', 60, () =>
      JSON.parse(api('/api/v2/jobs?job_type=TriggererJob&is_alive=true').body).jobs?.[0], 2000);
    expect(job.hostname).toMatch(/^\d+\.\d+\.\d+\.\d+$/); // its pod IP: a Deployment's pod name is not in DNS
    const port = pod.port(pod.container('triggerer'), 'trigger-logs');
    const fetch = (extraEnv: Record<string, string> = {}) => {
      const py = 'from airflow.utils.log.file_task_handler import _fetch_logs_from_service as f\n' +
        `print("status", f("http://${job.hostname}:${port}/log/not-there.log", "not-there.log").status_code)`;
      const r = inst.pod('api-server').exec('api-server', ['python', '-c', py], 120, extraEnv);
      return /^status (\d+)$/m.exec(r.stdout)?.[1] ?? `exit ${r.status}: ${r.stderr.slice(-1500)}`;
    };
    expect(fetch()).toBe('404');
    expect(fetch({ AIRFLOW__API__SECRET_KEY: 'not-the-shared-key' })).toBe('403');
  });

  test('the scheduler passes its probe, and its KubernetesExecutor creates task pods the API server admits', async () => {
    const pod = inst.pod('scheduler');
    pod.runInitContainers();
    pod.start('scheduler');
    await pod.waitForProbe('scheduler', 'startupProbe', 180);
    expect(pod.probe('scheduler', 'livenessProbe').passed).toBe(true);
    expect(api(`/api/v2/dags/${DAG_ID}`).status).toBe(200);
    expect(host.httpPatchJson(`${apiUrl}/api/v2/dags/${DAG_ID}`, { is_paused: false }, { Authorization: `Bearer ${token}` }).status).toBe(200);
    const run = host.httpPostJson(`${apiUrl}/api/v2/dags/${DAG_ID}/dagRuns`, { logical_date: null }, { Authorization: `Bearer ${token}` });
    expect(run.status).toBe(200);
    const runId = finishedRun = JSON.parse(run.body).dag_run_id;

    // The executor, as the scheduler's ServiceAccount, creates the task pod through the real API server
    // (PodSecurity "restricted" enforcing): it exists only if it was admitted.
    const taskPod = await waitFor('the task pod the executor creates', 180, () => {
      const r = host.kubectlOk(['-n', inst.namespace, 'get', 'pods', '-l', `dag_id=${DAG_ID}`, '-o', 'json']);
      return JSON.parse(r).items[0];
    }, 2000);
    expect(taskPod.metadata.labels.airflow_executor_done ?? 'false').toBe('false');

    // Run it as a kubelet would; the task reports through the execution API, and the run succeeds.
    runTaskPod(taskPod);
    expect(await finalState(DAG_ID, runId)).toBe('success');

    // The pod the executor rendered from our pod_template_file: facts, the strict schema and Pod Security.
    const base = taskPod.spec.containers.find((c: any) => c.name === 'base');
    expect(taskPod.spec.containers.map((c: any) => c.name)).toEqual(['base']);
    expect(base.args.slice(0, 4)).toEqual(['python', '-m', 'airflow.sdk.execution_time.execute_workload', '--json-string']);
    expect(base.command).toBeUndefined();
    expect(taskPodLeaks(taskPod.spec)).toEqual([]);
    // its token is signed as the installation says: with the shared secret (HS512), or prod's private key (EdDSA)
    // under the key id in its Secret, which the api-server just accepted
    const header = JSON.parse(Buffer.from(JSON.parse(base.args[4]).token.split('.')[0], 'base64url').toString());
    const keyPair = /AIRFLOW__API_AUTH__JWT_PRIVATE_KEY_PATH/.test(JSON.stringify(inst.workload('scheduler')));
    expect(header).toMatchObject(keyPair ? { alg: 'EdDSA', kid: inst.secret('airflow-secrets')!['jwt-key-id'] } : { alg: 'HS512' });
    expect(keyPair).toBe(tier === 'prod');
    const out = mkdtempSync(join(host.dir, 'task-pod-'));
    const clean = JSON.parse(JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: taskPod.metadata.name, namespace: taskPod.metadata.namespace, labels: taskPod.metadata.labels, annotations: taskPod.metadata.annotations }, spec: taskPod.spec }));
    writeFileSync(join(out, 'task-pod.yaml'), stringify(clean));
    // `npm run check` (strict schema, @monokle/validation "restricted"), in a child process: the library is ESM-only.
    const checked = spawnSync(process.execPath, ['-r', './scripts/register.js', 'scripts/check.ts', '--json', out], { cwd: REPO, encoding: 'utf8' });
    if (checked.status === 2 || !checked.stdout) throw new Error(`npm run check could not run: ${checked.stderr}`);
    const report: CheckReport = JSON.parse(checked.stdout);
    expect({ schema: report.schemaErrors, policy: report.policyViolations, podSpecs: report.podSpecsChecked })
      .toEqual({ schema: [], policy: [], podSpecs: 1 });
  });

  test('the scheduler and the task pod sent StatsD to the exporter\'s Service: its heartbeat and the task\'s ti.finish, labelled', async () => {
    const exporter = inst.workload('statsd').spec.template.spec.containers[0];
    const port = exporter.ports.find((p: any) => p.name === 'metrics').containerPort;
    const text = await waitFor('the scheduler\'s and the task\'s metrics', 60, () => {
      const r = host.httpGet(`http://127.0.0.1:${port}/metrics`);
      return /^airflow_scheduler_heartbeat [1-9]/m.test(r.body) && /^airflow_ti_finish\{/m.test(r.body) ? r.body : undefined;
    }, 2000);
    // ti.finish comes from the task runner in the task pod, through the Service name its airflow.cfg names
    expect(text).toMatch(new RegExp(`^airflow_ti_finish\\{dag_id="${DAG_ID}",state="success",task_id="[^"]+"\\} 1$`, 'm'));
    expect(text).toMatch(/^airflow_dag_processing_import_errors \d+$/m);
    expect(text).toMatch(/^airflow_pool_open_slots\{pool="default_pool"\} \d+$/m);
    expect(text).not.toMatch(/^airflow_ti_finish [0-9]/m);
  });

  // staging and prod: docs/examples/task_pod_profiles.py (the README's DAG) runs its tasks on the profiles' files
  if (ENVIRONMENTS[tier].airflow.taskPods?.profiles) {
    test('task pod profiles: the pools Job makes their pools, and each task of the README\'s DAG runs in a pod made from its profile\'s file', async () => {
      const poolsJob = inst.pod('pools');
      poolsJob.runInitContainers();
      const imported = poolsJob.runToCompletion(poolsJob.spec.containers[0].name, 300);
      outputs.push(imported.stdout + imported.stderr);
      expect(imported.status).toBe(0);
      const slotted = Object.entries(ENVIRONMENTS[tier].airflow.taskPods!.profiles!).filter(([, p]) => p.slots !== undefined);
      for (const [name, profile] of slotted) expect([name, JSON.parse(api(`/api/v2/pools/${name}`).body).slots]).toEqual([name, profile.slots]);

      const dag = 'task_pod_profiles';
      await waitFor(`DAG ${dag} listed`, 120, () => api(`/api/v2/dags/${dag}`).status === 200 || undefined, 3000);
      expect(host.httpPatchJson(`${apiUrl}/api/v2/dags/${dag}`, { is_paused: false }, { Authorization: `Bearer ${token}` }).status).toBe(200);
      const run = host.httpPostJson(`${apiUrl}/api/v2/dags/${dag}/dagRuns`, { logical_date: null }, { Authorization: `Bearer ${token}` });
      expect(run.status).toBe(200);
      const runId = JSON.parse(run.body).dag_run_id;
      const templates = inst.configMap('airflow-pod-template')!;
      for (const [taskId, file] of [['light', 'small.yaml'], ['heavy', 'large.yaml']]) {
        const taskPod = await waitFor(`the pod of task ${taskId}`, 180, () => {
          const r = host.kubectlOk(['-n', inst.namespace, 'get', 'pods', '-l', `dag_id=${dag},task_id=${taskId}`, '-o', 'json']);
          return JSON.parse(r).items[0];
        }, 2000);
        // the profile's pod, as the executor made it: its resources, node selector and tolerations
        const profile = parse(templates[file]).spec;
        const base = taskPod.spec.containers.find((c: any) => c.name === 'base');
        expect([taskId, base.resources]).toEqual([taskId, profile.containers[0].resources]);
        expect([taskId, taskPod.spec.nodeSelector, taskPod.spec.tolerations]).toEqual([taskId, profile.nodeSelector, expect.arrayContaining(profile.tolerations ?? [])]);
        runTaskPod(taskPod);
      }
      expect(await finalState(dag, runId)).toBe('success');
      const heavy = JSON.parse(api(`/api/v2/dags/${dag}/dagRuns/${encodeURIComponent(runId)}/taskInstances/heavy`).body);
      expect([heavy.state, heavy.pool]).toEqual(['success', 'large']);
    });
  }

  test('the async engine answers too: GET .../dagRuns/{run_id}/wait reports the finished run', () => {
    // Airflow 3.1 serves this endpoint with its async (asyncpg) engine, whose URL it derives from sql_alchemy_conn
    // Several times: behind PgBouncer's transaction pooling, asyncpg's cached prepared statements meet other server
    // connections on later requests ("prepared statement ... does not exist" unless PgBouncer tracks them)
    for (let i = 0; i < 6; i++) {
      const r = api(`/api/v2/dags/${DAG_ID}/dagRuns/${encodeURIComponent(finishedRun)}/wait?interval=1`);
      expect({ i, status: r.status, body: r.status === 200 ? '' : r.body.slice(0, 1500) }).toEqual({ i, status: 200, body: '' });
      // newline-delimited JSON, one line per look at the run: it is finished already
      expect(r.body.trim().split('\n').map(l => JSON.parse(l))).toEqual([{ state: 'success' }]);
    }
  });

  if (tier === 'prod') {
    test('single sign-on: an OIDC login through the FAB auth manager gives the roles of the user\'s groups, and no access without one', async () => {
      const issuer = new URL(PROD_OIDC.issuer);
      host.addHostNames(issuer.hostname);
      const dir = join(host.dir, 'oidc-provider');
      mkdirSync(dir, { recursive: true });
      const { cert, key } = host.serverCertificate(dir, [issuer.hostname]);
      const python = join(venv, 'bin', 'python3');
      const signIn = async (user: object, forwardedProto?: string) => {
        const provider = host.start('oidc-provider', [python, join(REPO, 'scripts', 'integration', 'oidc-provider.py')], {
          ...process.env, OIDC_ISSUER: PROD_OIDC.issuer, OIDC_CLIENT_ID: PROD_OIDC.clientId, OIDC_CLIENT_SECRET: oidcClientSecret,
          OIDC_USER: JSON.stringify(user), OIDC_CERT: cert, OIDC_KEY: key, OIDC_PORT: issuer.port || '443',
          OIDC_SIGNING_KEY: join(dir, 'signing-key.pem'),
        });
        try {
          await waitFor('the stand-in OIDC provider', 30, () => /serving/.test(provider.output) || undefined, 200);
          const r = host.inNetns([python, join(REPO, 'scripts', 'integration', 'oidc-login.py')],
            { env: { ...process.env, AIRFLOW_URL: apiUrl, OIDC_PROVIDER: 'oidc', OIDC_CA: host.testCaFile, OIDC_HOST: issuer.hostname,
              ...forwardedProto ? { FORWARDED_PROTO: forwardedProto } : {} }, timeout: 120_000 });
          expect({ status: r.status, err: r.status === 0 ? '' : r.stderr.slice(-2000) }).toEqual({ status: 0, err: '' });
          outputs.push(provider.output);
          return JSON.parse(r.stdout);
        } finally {
          await provider.stop();
        }
      };

      // behind an ingress that terminates TLS: prod trusts its X-Forwarded-Proto ([fab] enable_proxy_fix), so the
      // callback it registers is the https one users reach, as the provider requires
      const viewer = await signIn({ sub: 'u-1', preferred_username: 'jane', email: 'jane@example.com', given_name: 'Jane', family_name: 'Doe', groups: ['airflow-viewers', 'other'] }, 'https');
      // Airflow sends the browser to the provider's authorization endpoint with this client and its callback
      expect(viewer.login.status).toBe(302);
      const authorize = new URL(viewer.login.location);
      expect(`${authorize.origin}${authorize.pathname}`).toBe(`${PROD_OIDC.issuer}/protocol/openid-connect/auth`);
      expect(authorize.searchParams.get('client_id')).toBe(PROD_OIDC.clientId);
      expect(authorize.searchParams.get('redirect_uri')).toBe(`${apiUrl.replace(/^http:/, 'https:')}/auth/oauth-authorized/oidc`);
      expect(authorize.searchParams.get('scope')!.split(' ')).toEqual(['openid', 'email', 'profile']);
      expect(viewer.authorize.status).toBe(302);
      // the callback exchanged the code (client secret from the Secret), checked the ID token and logged jane in
      expect({ status: viewer.callback.status, body: viewer.callback.body }).toEqual({ status: 302, body: '' });
      expect(typeof viewer.token).toBe('string');
      const as = (t: string) => ({ Authorization: `Bearer ${t}` });
      expect(host.httpGet(`${apiUrl}/api/v2/dags?limit=1`, as(viewer.token)).status).toBe(200);
      // Viewer: reading, not changing
      expect(host.httpPatchJson(`${apiUrl}/api/v2/dags/${DAG_ID}`, { is_paused: true }, as(viewer.token)).status).toBe(403);
      // the FAB CLI prints the users as one JSON line (after any log lines)
      const listed = inst.pod('api-server').exec('api-server', ['airflow', 'users', 'list', '--output', 'json'], 120).stdout;
      const users = JSON.parse(listed.split('\n').find(l => l.startsWith('[')) ?? listed);
      // the group's role, and the default role every user registered by a login gets (Public: no permissions)
      expect(users.find((u: any) => u.username === 'jane')).toMatchObject({ email: 'jane@example.com', roles: ['Viewer', 'Public'] });

      // a user in none of the mapped groups gets defaultRole Public: logged in, allowed nothing
      const outsider = await signIn({ sub: 'u-2', preferred_username: 'joe', email: 'joe@example.com', groups: ['marketing'] });
      expect(outsider).toMatchObject({ callback: { status: 302 }, token: expect.any(String) });
      expect(host.httpGet(`${apiUrl}/api/v2/dags?limit=1`, as(outsider.token)).status).toBe(403);
    });

    test('verified TLS to the external database: psycopg2 and asyncpg connect with verify-full, and refuse a server of another CA or name', () => {
      const pod = inst.pod('db-migrate');
      const container = pod.spec.containers[0].name;
      const query = 'import asyncio\nfrom sqlalchemy import text\nfrom airflow import settings\n' +
        'q = text("select ssl from pg_stat_ssl where pid = pg_backend_pid()")\n' +
        'with settings.Session() as s:\n    print("sync ssl", s.execute(q).scalar())\n' +
        'async def main():\n    async with settings.AsyncSession() as s:\n        print("async ssl", (await s.execute(q)).scalar())\n' +
        'asyncio.run(main())';
      const verified = pod.exec(container, ['python', '-c', query], 120);
      expect({ status: verified.status, err: verified.status === 0 ? '' : verified.stderr.slice(-2000) }).toEqual({ status: 0, err: '' });
      expect(verified.stdout).toMatch(/^sync ssl True$/m);
      expect(verified.stdout).toMatch(/^async ssl True$/m);
      // the system's CAs did not sign the server's certificate
      const otherCa = pod.exec(container, ['python', '-c', query], 120, { PGSSLROOTCERT: '/etc/ssl/certs/ca-certificates.crt' });
      expect(otherCa.status).not.toBe(0);
      expect(otherCa.stderr).toMatch(/certificate verify failed/);
      // the same server under a name its certificate does not carry (the api-server's Service name leads here too)
      const otherName = pod.exec(container, ['python', '-c', query], 120,
        { AIRFLOW__DATABASE__SQL_ALCHEMY_CONN: externalUrl().replace(EXTERNAL_DATABASE_HOST, 'airflow-api-server') });
      expect(otherName.status).not.toBe(0);
      expect(otherName.stderr).toMatch(/does not match host name "airflow-api-server"/);
    });

    test('an external database URL with sslmode needs sql_alchemy_conn_async in the README\'s form (ssl=), and works with it', () => {
      const pod = inst.pod('api-server');
      const query = 'import asyncio\nfrom sqlalchemy import text\nfrom airflow import settings\n' +
        'async def main():\n    async with settings.AsyncSession() as s:\n        print("ssl", (await s.execute(text("select ssl from pg_stat_ssl where pid = pg_backend_pid()"))).scalar())\n' +
        'asyncio.run(main())';
      const direct = { AIRFLOW__DATABASE__SQL_ALCHEMY_CONN: `${externalUrl()}?sslmode=require` };
      const derived = pod.exec('api-server', ['python', '-c', query], 120, direct);
      expect(derived.status).not.toBe(0);
      expect(derived.stderr).toMatch(/sslmode/);
      const asyncUrl = direct.AIRFLOW__DATABASE__SQL_ALCHEMY_CONN.replace(/^postgresql(\+\w+)?:/, 'postgresql+asyncpg:').replace(/([?&])sslmode=/, '$1ssl=');
      const given = pod.exec('api-server', ['python', '-c', query], 120, { ...direct, AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC: asyncUrl });
      expect({ status: given.status, err: given.status === 0 ? '' : given.stderr.slice(-2000) }).toEqual({ status: 0, err: '' });
      expect(given.stdout).toMatch(/^ssl True$/m);
    });
  }

  test('airflow db clean, as the db-cleanup CronJob runs it, succeeds against the database', () => {
    const pod = inst.pod('db-cleanup');
    pod.runInitContainers();
    const r = pod.runToCompletion(pod.spec.containers[0].name, 600);
    outputs.push(r.stdout + r.stderr);
    expect(r.stdout + r.stderr).toMatch(/airflow db clean: deleting metadata from before/);
    // the run it just made is younger than any retention: still there
    expect(api(`/api/v2/dags/${DAG_ID}/dagRuns/${encodeURIComponent(finishedRun)}`).status).toBe(200);
  });

  if (distObjects.some(o => o.kind === 'CronJob' && o.metadata.labels?.['app.kubernetes.io/component'] === 'postgresql-backup')) {
    test('the backup CronJob dumps the in-cluster database to its volume', () => {
      const pod = inst.pod('postgresql-backup');
      const r = pod.runToCompletion(pod.spec.containers[0].name, 600);
      outputs.push(r.stdout + r.stderr);
      expect(r.stdout).toMatch(/^wrote airflow-\d{8}T\d{6}Z\.dump: \d+ bytes, \d+ tables, read back in full$/m);
    });
  }

  if (logClaim) {
    test(`a finished task's log is read by the api-server after its pod is gone (PersistentVolumeClaim ${logClaim.metadata.name})`, () => {
      const run = encodeURIComponent(finishedRun);
      const [ti] = JSON.parse(api(`/api/v2/dags/${DAG_ID}/dagRuns/${run}/taskInstances`).body).task_instances;
      expect(ti.state).toBe('success');
      const log = api(`/api/v2/dags/${DAG_ID}/dagRuns/${run}/taskInstances/${ti.task_id}/logs/${ti.try_number}?full_content=true`);
      expect(log.status).toBe(200);
      expect(log.body).toMatch(/Done\. Returned value was/);
    });
  }

  test('no process printed a warning about a deprecated, renamed or unknown option', () => {
    const all = [...outputs, ...inst.pods.flatMap(p => p.outputs())];
    expect(all.length).toBeGreaterThanOrEqual(7);
    expect(all.flatMap(configWarnings)).toEqual([]);
  });
});

