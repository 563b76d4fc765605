import { existsSync, readFileSync } from 'fs';
import { join } from 'path';
import { Chart, Testing } from 'cdk8s';
import {
  Airflow, AIRFLOW_RELEASES, AIRFLOW_VERSION, AirflowConfig, AirflowConfigProps, AirflowNames, AirflowValidationError, airflowSeries, envVarName,
  JWT_PUBLIC_KEYS_FILE, JWT_SIGNING_KEY_FILE, POD_TEMPLATE_FILE, SecretKeyRef,
} from '../lib';
import { airflowCfg, airflowReference, allContainers, envOf, mountAt, podSpec, SHARED, synth, testChart } from './helpers';

const NS = 'airflow-test';
const REF = airflowReference();

function make(props: AirflowConfigProps = {}) {
  const chart = testChart();
  const config = new AirflowConfig(chart, 'config', props);
  const objects = synth(chart);
  return { chart, config, objects, cfg: airflowCfg(objects, config.names.instanceName) };
}

/** The AirflowValidationError a construction throws. */
function errorOf(props: AirflowConfigProps): AirflowValidationError {
  try {
    new AirflowConfig(testChart(), 'config', props);
  } catch (e) {
    expect(e).toBeInstanceOf(AirflowValidationError);
    return e as AirflowValidationError;
  }
  throw new Error('expected an AirflowValidationError');
}

describe('airflow.cfg managed by the library', () => {
  const { cfg, config } = make();

  test('[core] executor is KubernetesExecutor', () => {
    expect(cfg.core.executor).toBe('KubernetesExecutor');
  });

  test('[core] execution_api_server_url points at the api-server Service in the chart namespace', () => {
    const service = AirflowNames.of(testChart()).name('api-server');
    expect(cfg.core.execution_api_server_url).toBe(`http://${service}.${NS}:8080/execution/`);
    expect(cfg.core.execution_api_server_url).toBe('http://airflow-api-server.airflow-test:8080/execution/');
    expect(cfg.core.execution_api_server_url.endsWith('/execution/')).toBe(true);
    expect(config.executionApiServerUrl).toBe(cfg.core.execution_api_server_url);
  });

  test('[kubernetes_executor] namespace is the chart namespace and pod_template_file is set', () => {
    expect(cfg.kubernetes_executor.namespace).toBe(NS);
    expect(config.namespace).toBe(NS);
    expect(cfg.kubernetes_executor.pod_template_file).toBe(POD_TEMPLATE_FILE);
    expect(cfg.kubernetes_executor.pod_template_file).toMatch(/^\/.+\.ya?ml$/);
  });

  test('a namespace prop places a config whose Chart has none', () => {
    const chart = new Chart(Testing.app(), 'plain', { disableResourceNameHashes: true });
    const c = new AirflowConfig(chart, 'config', { namespace: 'other' });
    expect(airflowCfg(synth(chart)).kubernetes_executor.namespace).toBe('other');
    expect(c.executionApiServerUrl).toBe('http://airflow-api-server.other:8080/execution/');
  });

  test('a namespace prop other than the Chart\'s is refused: the objects go to the Chart\'s, task pods would go to the other', () => {
    const e = errorOf({ namespace: 'other' });
    expect(e.property).toBe('namespace');
    expect(e.message).toContain('expected the namespace of its Chart [test] (airflow-test)');
    expect(() => new AirflowConfig(testChart(), 'config', { namespace: NS })).not.toThrow();
  });

  test('the instance name prefixes the ConfigMap and the api-server host', () => {
    const { cfg: c, config: cf } = make({ instanceName: 'etl' });
    expect(cf.configMapName).toBe('etl-config');
    expect(c.core.execution_api_server_url).toBe('http://etl-api-server.airflow-test:8080/execution/');
  });
});

describe('every option written is one Airflow 3 reads', () => {
  const { cfg } = make({
    options: {
      core: { parallelism: 64, max_active_tasks_per_dag: 8 },
      scheduler: { enable_health_check: true },
      kubernetes_executor: { worker_pods_creation_batch_size: 4 },
      logging: { logging_level: 'INFO' },
      sentry: { sentry_on: false },
    },
  });

  test('each (section, option) exists in the reference and is not deprecated', () => {
    const written = Object.entries(cfg).flatMap(([s, opts]) => Object.keys(opts).map(o => `${s}.${o}`));
    expect(written.length).toBeGreaterThan(8);
    for (const key of written) {
      const [section, option] = key.split('.');
      expect({ key, known: REF.sections[section]?.[option] !== undefined }).toEqual({ key, known: true });
      expect({ key, deprecated: key in REF.deprecatedOptions }).toEqual({ key, deprecated: false });
    }
  });

  test('user options merge with the managed ones; numbers and booleans render as configparser reads them', () => {
    expect(cfg.core.parallelism).toBe('64');
    expect(cfg.core.max_active_tasks_per_dag).toBe('8');
    expect(cfg.core.executor).toBe('KubernetesExecutor');
    expect(cfg.scheduler.enable_health_check).toBe('True');
    expect(cfg.sentry.sentry_on).toBe('False');
  });
});

test("'%' is written '%%' (configparser interpolation)", () => {
  const { config, cfg } = make({ options: { logging: { log_format: '%(asctime)s %(message)s' } } });
  expect(config.airflowCfg).toContain('log_format = %%(asctime)s %%(message)s\n');
  expect(config.airflowCfg).not.toMatch(/[^%]%[^%]/);
  expect(cfg.logging.log_format).toBe('%(asctime)s %(message)s');
});

test('an option given as SecretKeyRef becomes an env var from the Secret, not an airflow.cfg line', () => {
  const { config, cfg } = make({ options: { sentry: { sentry_dsn: SecretKeyRef.of('sentry', 'dsn') } } });
  expect(cfg.sentry?.sentry_dsn).toBeUndefined();
  expect(config.airflowCfg).not.toContain('sentry_dsn');
  const env = config.secretEnv([]);
  expect(env).toEqual([{ name: 'AIRFLOW__SENTRY__SENTRY_DSN', valueFrom: { secretKeyRef: { name: 'sentry', key: 'dsn' } } }]);
  expect(config.secretEnv([], 'task')).toEqual(env);
});

test('task pods get secret options of every section but [database]', () => {
  const { config } = make({ options: {
    database: { sql_alchemy_engine_args: SecretKeyRef.of('db', 'engine-args') },
    workers: { secrets_backend_kwargs: SecretKeyRef.of('vault', 'kwargs') },
  } });
  expect(config.secretEnv([], 'all').map(e => e.name)).toEqual(['AIRFLOW__DATABASE__SQL_ALCHEMY_ENGINE_ARGS', 'AIRFLOW__WORKERS__SECRETS_BACKEND_KWARGS']);
  expect(config.secretEnv([], 'task').map(e => e.name)).toEqual(['AIRFLOW__WORKERS__SECRETS_BACKEND_KWARGS']);
});

test('secretEnv names the four secret options with the env vars Airflow reads', () => {
  const { config } = make();
  const names = config.secretEnv(['fernetKey', 'jwtSecret', 'apiSecretKey', 'sqlAlchemyConn']).map(e => e.name);
  expect(names).toEqual(['AIRFLOW__CORE__FERNET_KEY', 'AIRFLOW__API_AUTH__JWT_SECRET', 'AIRFLOW__API__SECRET_KEY', 'AIRFLOW__DATABASE__SQL_ALCHEMY_CONN']);
  for (const e of config.secretEnv(['fernetKey', 'jwtSecret', 'apiSecretKey', 'sqlAlchemyConn'])) {
    expect(e.value).toBeUndefined();
    expect(e.valueFrom?.secretKeyRef?.name).toBe('airflow-secrets');
  }
});

test('env var names follow Airflow\'s _env_var_name: a dot in a section name becomes "_" ([common.io])', () => {
  expect(envVarName('common.io', 'xcom_objectstorage_path')).toBe('AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_PATH');
  expect(envVarName('api_auth', 'jwt_secret')).toBe('AIRFLOW__API_AUTH__JWT_SECRET');
});

const SHARED_REFERENCE = join(SHARED, 'airflow-config.json');
(existsSync(SHARED_REFERENCE) ? test : test.skip)('every env var name equals the one the developers\' shared reference lists (developers and CI only)', () => {
  const shared = JSON.parse(readFileSync(SHARED_REFERENCE, 'utf8')) as { sections: Record<string, Record<string, { envVar: string }>> };
  const wrong = Object.entries(shared.sections).flatMap(([s, o]) => Object.entries(o).filter(([k, v]) => envVarName(s, k) !== v.envVar).map(([k]) => `${s}.${k}`));
  expect(wrong).toEqual([]);
});

describe('token lifetimes', () => {
  test('Airflow 3.1: a queued task waits 20 minutes for its pod, and the execution API token it starts with lives as long', () => {
    const { cfg } = make({ airflowVersion: '3.1.8' });
    expect(cfg.scheduler.task_queued_timeout).toBe('1200.0');
    expect(cfg.execution_api.jwt_expiration_time).toBe('1200');
    // Airflow's own defaults are 10 minutes: ours are longer
    expect(Number(cfg.scheduler.task_queued_timeout)).toBeGreaterThan(600);
  });

  test.each(['3.2.2', AIRFLOW_VERSION])('Airflow %s: the workload token lasts the 20 minute queue timeout; the execution token keeps Airflow\'s 10 minutes', version => {
    const { cfg } = make({ airflowVersion: version });
    expect(cfg.scheduler.task_queued_timeout).toBe('1200.0');
    expect(cfg.execution_api).toBeUndefined();
    const reference = airflowReference(AIRFLOW_RELEASES[airflowSeries(version)]);
    expect(reference.sections.execution_api.jwt_expiration_time.default).toBe('600');
  });

  test('both can be overridden; with Airflow 3.1 a token shorter than the queue timeout is rejected, later it is the point', () => {
    const { cfg } = make({ airflowVersion: '3.1.8', options: { scheduler: { task_queued_timeout: 3600 }, execution_api: { jwt_expiration_time: 3600 } } });
    expect(cfg.scheduler.task_queued_timeout).toBe('3600');
    const e = errorOf({ airflowVersion: '3.1.8', options: { scheduler: { task_queued_timeout: 3600 } } });
    expect(e.message).toContain('options.execution_api.jwt_expiration_time');
    expect(e.message).toContain('at least [scheduler] task_queued_timeout (3600 s) with Airflow 3.1');
    const later = make({ airflowVersion: '3.3.2', options: { scheduler: { task_queued_timeout: 3600 }, execution_api: { jwt_expiration_time: 300 } } }).cfg;
    expect(later.execution_api.jwt_expiration_time).toBe('300');
  });
});

describe('invalid options', () => {
  test('an unknown option suggests the closest names', () => {
    const e = errorOf({ options: { core: { paralelism: 64 } } });
    expect(e.message).toContain('[core] parallelism');
    expect(e.property).toBe('options.core.paralelism');
  });

  test('an unknown section is rejected', () => {
    expect(() => new AirflowConfig(testChart(), 'c', { options: { kubernetes: { namespace: 'x' } } })).toThrow(AirflowValidationError);
  });

  test.each([
    ['webserver', 'secret_key', '[api] secret_key'],
    ['scheduler', 'dag_dir_list_interval', '[dag_processor] refresh_interval'],
    ['webserver', 'base_url', '[api] base_url'],
  ])('renamed [%s] %s names its replacement', (section, option, replacement) => {
    const e = errorOf({ options: { [section]: { [option]: section === 'webserver' && option === 'secret_key' ? SecretKeyRef.of('s', 'k') : '30' } } });
    expect(e.message).toContain(replacement);
  });

  test('a chain of renames names the final option', () => {
    // webserver.access_logfile -> api.access_logfile -> api.log_config
    expect(REF.deprecatedOptions['webserver.access_logfile'].replacedBy).toBe('api.access_logfile');
    expect(errorOf({ options: { webserver: { access_logfile: '-' } } }).message).toContain(`[api] ${REF.deprecatedOptions['api.access_logfile'].replacedBy.split('.')[1]}`);
  });

  test.each([['sentry', 'sentry_dsn'], ['secrets', 'backend_kwargs']])(
    'sensitive [%s] %s as a literal asks for a SecretKeyRef and does not echo the value', (section, option) => {
      expect(REF.sections[section][option].sensitive).toBe(true);
      const literal = 'https://s3cr3t-VALUE@example.com/1';
      const e = errorOf({ options: { [section]: { [option]: literal } } });
      expect(e.message).toContain('SecretKeyRef');
      expect(e.message).not.toContain(literal);
      expect(e.message).not.toContain('s3cr3t');
      expect(JSON.stringify(e.value)).not.toContain('s3cr3t');
    });

  test.each([['core', 'executor', 'CeleryExecutor'], ['core', 'execution_api_server_url', 'http://x:8080/execution/'],
    ['kubernetes_executor', 'pod_template_file', '/x.yaml'], ['kubernetes_executor', 'namespace', 'x'], ['core', 'dags_folder', '/x']])(
    'managed [%s] %s is rejected', (section, option, value) => {
      const e = errorOf({ options: { [section]: { [option]: value } } });
      expect(e.property).toBe(`options.${section}.${option}`);
    });

  // Regression: the managed and renamed checks once ran before the sensitive check and put the
  // literal into the message, so a fernet key pasted into `options` ended up in CI logs.
  test.each([['core', 'fernet_key'], ['api', 'secret_key'], ['webserver', 'secret_key'], ['database', 'sql_alchemy_conn']])(
    'a literal for managed or renamed sensitive [%s] %s is not echoed in the error', (section, option) => {
      const literal = 'pl41n-s3cr3t-value';
      const e = errorOf({ options: { [section]: { [option]: literal } } });
      expect(e.message).not.toContain(literal);
    });

  test('a value of the wrong type is rejected', () => {
    expect(REF.sections.core.parallelism.type).toBe('integer');
    expect(errorOf({ options: { core: { parallelism: 'abc' } } }).message).toMatch(/integer/);
    expect(() => new AirflowConfig(testChart(), 'c', { options: { scheduler: { enable_health_check: 'yes please' } } })).toThrow(AirflowValidationError);
  });

  test('a multi-line value is rejected (it would inject airflow.cfg lines)', () => {
    expect(() => new AirflowConfig(testChart(), 'c', { options: { logging: { log_format: 'a\n[core]\nexecutor = LocalExecutor' } } }))
      .toThrow(AirflowValidationError);
    expect(() => new AirflowConfig(testChart(), 'c', { options: { logging: { log_format: 'a\rb' } } })).toThrow(AirflowValidationError);
  });

  test('no namespace (neither chart nor prop) is rejected with what to change', () => {
    const chart = new Chart(Testing.app(), 'nons');
    expect(() => new AirflowConfig(chart, 'config')).toThrow(
      'AirflowConfig [nons/config] namespace: got undefined; expected a namespace: neither this prop nor the Chart ("nons") sets one, ' +
      "and Airflow must know where it runs and launches task pods; give the Chart one: new Chart(app, 'nons', { namespace: 'airflow' }).");
  });
});

// With `[api] base_url` on a sub-path the api-server serves the Task Execution API under that path
// (apache/airflow#51450, fixed in the Helm chart by PR #51454); without the path every task gets 404s.
test('a base_url sub-path is carried into execution_api_server_url', () => {
  let url: string | undefined;
  try {
    url = make({ options: { api: { base_url: 'https://airflow.example.com/airflow' } } }).cfg.core.execution_api_server_url;
  } catch (e) {
    expect(e).toBeInstanceOf(AirflowValidationError);
    return;
  }
  expect(url).toBe('http://airflow-api-server.airflow-test:8080/airflow/execution/');
});

describe('checksum', () => {
  test('is stable for equal input', () => {
    const props = { options: { core: { parallelism: 64 } } };
    expect(make(props).config.checksum).toBe(make(props).config.checksum);
    expect(make(props).config.checksum).toMatch(/^[0-9a-f]{64}$/);
  });

  test('changes with options, with Secret references and with the namespace', () => {
    const base = make({ options: { core: { parallelism: 64 } } }).config.checksum;
    expect(make({ options: { core: { parallelism: 65 } } }).config.checksum).not.toBe(base);
    expect(make({ options: { core: { parallelism: 64 }, sentry: { sentry_dsn: SecretKeyRef.of('s', 'k') } } }).config.checksum).not.toBe(base);
    expect(make({ options: { core: { parallelism: 64 } }, secrets: { fernetKey: SecretKeyRef.of('other', 'fernet') } }).config.checksum).not.toBe(base);
    const elsewhere = new AirflowConfig(new Chart(Testing.app(), 'plain', { namespace: 'other' }), 'config', { options: { core: { parallelism: 64 } } });
    expect(elsewhere.checksum).not.toBe(base);
  });
});

describe('JWT signing', () => {
  const objects = (jwtSigning?: 'secret' | 'keyPair') => {
    const chart = testChart();
    new Airflow(chart, 'airflow', { jwtSigning });
    return synth(chart);
  };
  const workloads = (o: any[]) => o.filter(x => ['Deployment', 'StatefulSet', 'Job', 'CronJob'].includes(x.kind));
  /** Which workloads' containers get each JWT environment variable and file. */
  const holders = (o: any[]) => {
    const out: Record<string, string[]> = {};
    for (const w of workloads(o)) {
      const spec = podSpec(w);
      for (const c of allContainers(spec)) {
        for (const name of Object.keys(envOf(c)).filter(n => n.startsWith('AIRFLOW__API_AUTH__'))) (out[name] ??= []).push(`${w.metadata.labels['app.kubernetes.io/component']}/${c.name}`);
        for (const m of c.volumeMounts ?? []) if (m.mountPath.startsWith('/etc/airflow/jwt')) (out[m.mountPath] ??= []).push(`${w.metadata.labels['app.kubernetes.io/component']}/${c.name}`);
      }
    }
    return out;
  };

  test('secret (the default): only the scheduler and the api-server hold jwt_secret; the DAG-running dag-processor and triggerer do not', () => {
    expect(holders(objects())).toEqual({ AIRFLOW__API_AUTH__JWT_SECRET: ['scheduler/scheduler', 'api-server/api-server'] });
  });

  test('keyPair: the signing key and its id in the scheduler and the api-server, the public keys in the api-server only', () => {
    const o = objects('keyPair');
    expect(holders(o)).toEqual({
      AIRFLOW__API_AUTH__JWT_PRIVATE_KEY_PATH: ['scheduler/scheduler', 'api-server/api-server'],
      AIRFLOW__API_AUTH__JWT_KID: ['scheduler/scheduler', 'api-server/api-server'],
      [JWT_SIGNING_KEY_FILE]: ['scheduler/scheduler', 'api-server/api-server'],
      AIRFLOW__API_AUTH__TRUSTED_JWKS_URL: ['api-server/api-server'],
      [JWT_PUBLIC_KEYS_FILE.replace(/\/[^/]+$/, '')]: ['api-server/api-server'],
    });
    const api = podSpec(o.find(x => x.kind === 'Deployment' && x.metadata.name === 'airflow-api-server')!);
    const env = envOf(api.containers[0]);
    expect(env.AIRFLOW__API_AUTH__JWT_PRIVATE_KEY_PATH.value).toBe(JWT_SIGNING_KEY_FILE);
    expect(env.AIRFLOW__API_AUTH__TRUSTED_JWKS_URL.value).toBe(JWT_PUBLIC_KEYS_FILE);
    expect(env.AIRFLOW__API_AUTH__JWT_KID).toEqual({ secret: 'airflow-secrets', key: 'jwt-key-id' });
    // each file is the one key of the Secret it names, where the variable says
    for (const [file, key] of [[JWT_SIGNING_KEY_FILE, 'jwt-signing-key'], [JWT_PUBLIC_KEYS_FILE, 'jwt-public-keys']]) {
      const volume = api.volumes.find((v: any) => v.name === mountAt(api.containers[0], file).name);
      expect(volume.secret.secretName).toBe('airflow-secrets');
      expect(volume.secret.items).toEqual([expect.objectContaining({ key, path: file.split('/').pop() })]);
    }
    expect(JSON.stringify(o)).not.toMatch(/JWT_SECRET|jwt-secret/);
  });

  test('keyPair: the signing key is fixed for the container\'s life like its id (subPath: the kubelet does not update it), the public keys are not', () => {
    for (const d of objects('keyPair').filter(x => x.kind === 'Deployment' && ['airflow-scheduler', 'airflow-api-server'].includes(x.metadata.name))) {
      const main = podSpec(d).containers[0];
      expect(mountAt(main, JWT_SIGNING_KEY_FILE)).toEqual(expect.objectContaining({ mountPath: JWT_SIGNING_KEY_FILE, subPath: JWT_SIGNING_KEY_FILE.split('/').pop() }));
      expect(envOf(main).AIRFLOW__API_AUTH__JWT_KID.secret).toBeDefined(); // from the Secret at container start
      if (d.metadata.name === 'airflow-api-server') expect(mountAt(main, JWT_PUBLIC_KEYS_FILE).subPath).toBeUndefined();
    }
  });

  test('the options it sets cannot be set beside it', () => {
    expect(errorOf({ jwtSigning: 'keyPair', options: { api_auth: { trusted_jwks_url: 'https://issuer.example/jwks' } } }).message)
      .toMatch(/options\.api_auth\.trusted_jwks_url: .* jwtSigning: 'keyPair'/);
    expect(errorOf({ jwtSigning: 'rsa' as 'keyPair' }).message).toMatch(/jwtSigning: got "rsa"; expected "secret" or "keyPair"/);
  });
});
