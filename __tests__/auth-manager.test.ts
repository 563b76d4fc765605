// The auth manager choice: what airflow.cfg says, what webserver_config.py holds (read back as Python reads it), and
// that only the api-server gets the FAB settings and the client secret.
import { spawnSync } from 'child_process';
import {
  Airflow, AirflowProps, AUTH_MANAGER_CLASSES, ENVIRONMENTS, OidcProvider, PROD_OIDC, SecretKeyRef, WEBSERVER_CONFIG_FILE,
} from '../lib';
import { airflowCfg, allContainers, envOf, find, K8sObject, mountAt, podSpec, synth, synthEnvironment, taskPod, testChart } from './helpers';

const OIDC: OidcProvider = {
  issuer: 'https://keycloak.example.com/realms/data/',
  clientId: 'airflow-ui',
  clientSecret: SecretKeyRef.of('sso', 'secret'),
  roles: { 'data "admins"': ['Admin', 'Op'], viewers: ['Viewer'] },
};

function render(props: AirflowProps): K8sObject[] {
  const chart = testChart();
  new Airflow(chart, 'airflow', props);
  return synth(chart);
}

const webserverConfig = (objects: K8sObject[]): string | undefined => find(objects, 'ConfigMap', 'airflow-config').data['webserver_config.py'];

/**
 * The module-level names webserver_config.py defines, as Python evaluates it: flask_appbuilder's constants stubbed with
 * their values (flask_appbuilder/const.py: AUTH_DB 1, AUTH_OAUTH 4) and the client secret in the environment.
 */
function evaluate(source: string): Record<string, any> {
  const program = [
    'import json, sys, types',
    'const = types.ModuleType("flask_appbuilder.const"); const.AUTH_DB = 1; const.AUTH_OAUTH = 4',
    'sys.modules["flask_appbuilder"] = types.ModuleType("flask_appbuilder"); sys.modules["flask_appbuilder.const"] = const',
    'scope = {}',
    'exec(compile(sys.stdin.read(), "webserver_config.py", "exec"), scope)',
    'print(json.dumps({k: v for k, v in scope.items() if k.isupper() and not hasattr(const, k)}))',
  ].join('\n');
  const r = spawnSync('python3', ['-c', program], { input: source, encoding: 'utf8', env: { ...process.env, AIRFLOW_OIDC_CLIENT_SECRET: '<from the Secret>' } });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout);
}

describe('SimpleAuthManager (the default)', () => {
  const objects = render({});

  test('airflow.cfg names it, with its passwords file on the api-server\'s writable volume; no webserver_config.py', () => {
    const core = airflowCfg(objects).core;
    expect(core.auth_manager).toBe(AUTH_MANAGER_CLASSES.simple);
    const api = podSpec(find(objects, 'Deployment', 'airflow-api-server')).containers[0];
    expect(mountAt(api, core.simple_auth_manager_passwords_file).name).toBe('auth');
    expect(webserverConfig(objects)).toBeUndefined();
  });
});

describe('FAB with OpenID Connect', () => {
  const objects = render({ authManager: { fab: { oidc: OIDC } } });
  const settings = evaluate(webserverConfig(objects)!);

  test('airflow.cfg names the FAB auth manager and the file it reads; no SimpleAuthManager passwords file', () => {
    const cfg = airflowCfg(objects);
    expect(cfg.core.auth_manager).toBe(AUTH_MANAGER_CLASSES.fab);
    expect(cfg.fab.config_file).toBe(WEBSERVER_CONFIG_FILE);
    expect(cfg.core.simple_auth_manager_passwords_file).toBeUndefined();
  });

  test('webserver_config.py, evaluated by Python: OAuth login, registration with the default role, groups mapped to roles', () => {
    expect(settings).toEqual({
      AUTH_TYPE: 4,
      AUTH_USER_REGISTRATION: true,
      AUTH_USER_REGISTRATION_ROLE: 'Public',
      AUTH_ROLES_SYNC_AT_LOGIN: true,
      AUTH_ROLES_MAPPING: { 'data "admins"': ['Admin', 'Op'], 'viewers': ['Viewer'] },
      OAUTH_PROVIDERS: [{
        name: 'oidc', icon: 'fa-openid', token_key: 'access_token',
        remote_app: {
          client_id: 'airflow-ui',
          client_secret: '<from the Secret>',
          server_metadata_url: 'https://keycloak.example.com/realms/data/.well-known/openid-configuration',
          client_kwargs: { scope: 'openid email profile' },
        },
      }],
    });
  });

  test('only the api-server reads webserver_config.py and the client secret', () => {
    const api = podSpec(find(objects, 'Deployment', 'airflow-api-server')).containers[0];
    expect(mountAt(api, WEBSERVER_CONFIG_FILE)).toEqual({ name: 'config', mountPath: WEBSERVER_CONFIG_FILE, subPath: 'webserver_config.py', readOnly: true });
    expect(envOf(api).AIRFLOW_OIDC_CLIENT_SECRET).toEqual({ secret: 'sso', key: 'secret' });
    const others = [
      ...objects.filter(o => ['Deployment', 'Job', 'CronJob', 'StatefulSet'].includes(o.kind) && o.metadata.name !== 'airflow-api-server')
        .flatMap(o => allContainers(podSpec(o))),
      ...allContainers(podSpec(taskPod(objects))),
    ];
    expect(others.length).toBeGreaterThan(5);
    expect(others.filter(c => envOf(c).AIRFLOW_OIDC_CLIENT_SECRET || mountAt(c, WEBSERVER_CONFIG_FILE)?.subPath === 'webserver_config.py')).toEqual([]);
    // no SimpleAuthManager leftovers in the api-server
    expect(podSpec(find(objects, 'Deployment', 'airflow-api-server')).initContainers.map((c: any) => c.name)).not.toContain('auth-passwords');
  });

  test('a private CA for the provider is mounted and handed to Authlib; scopes, name and default role as given', () => {
    const o = render({ authManager: { fab: { oidc: { ...OIDC, ca: { configMapName: 'idp-ca' }, scopes: ['openid', 'groups'], name: 'corp_sso', defaultRole: 'Viewer' } } } });
    const s = evaluate(webserverConfig(o)!);
    expect(s.OAUTH_PROVIDERS[0].name).toBe('corp_sso');
    expect(s.AUTH_USER_REGISTRATION_ROLE).toBe('Viewer');
    const verify = s.OAUTH_PROVIDERS[0].remote_app.client_kwargs.verify;
    expect(s.OAUTH_PROVIDERS[0].remote_app.client_kwargs.scope).toBe('openid groups');
    const spec = podSpec(find(o, 'Deployment', 'airflow-api-server'));
    const mount = mountAt(spec.containers[0], verify);
    expect(spec.volumes.find((v: any) => v.name === mount.name).configMap).toEqual({ name: 'idp-ca', items: [{ key: 'ca.crt', path: 'ca.crt', mode: 0o444 }] });
  });

  test('the cleanup CronJob cleans FAB\'s session table too (Airflow adds it with the FAB auth manager)', () => {
    const tables = (o: any[]) => /--tables (\S+)/.exec(podSpec(find(o, 'CronJob', 'airflow-db-cleanup')).containers[0].args.join(' '))![1].split(',');
    expect(tables(objects)).toContain('session');
    expect(tables(render({}))).not.toContain('session');
    expect(tables(objects).filter(t => t !== 'session')).toEqual(tables(render({})));
  });
});

test('FAB without OIDC keeps users and passwords in the database (AUTH_DB)', () => {
  const s = evaluate(webserverConfig(render({ authManager: { fab: {} } }))!);
  expect(s).toEqual({ AUTH_TYPE: 1 });
});

describe('the prod preset', () => {
  const objects = synthEnvironment('prod');

  test('logs users in through its OIDC provider, with the client secret by reference', () => {
    expect(ENVIRONMENTS.prod.airflow.authManager).toEqual({ fab: { oidc: PROD_OIDC } });
    expect(airflowCfg(objects).core.auth_manager).toBe(AUTH_MANAGER_CLASSES.fab);
    expect(PROD_OIDC.clientSecret).toBeInstanceOf(SecretKeyRef);
    expect(evaluate(webserverConfig(objects)!).OAUTH_PROVIDERS[0].remote_app.server_metadata_url).toBe(`${PROD_OIDC.issuer}/.well-known/openid-configuration`);
  });

  test('token lifetimes per environment: prod\'s UI token and session last a working day, dev and staging keep Airflow\'s', () => {
    const cfg = airflowCfg(objects);
    expect(Number(cfg.api_auth.jwt_expiration_time)).toBeLessThanOrEqual(8 * 3600);
    expect(Number(cfg.fab.session_lifetime_minutes)).toBeLessThanOrEqual(8 * 60);
    for (const tier of ['dev', 'staging'] as const) expect(airflowCfg(synthEnvironment(tier)).api_auth).toBeUndefined();
  });

  test('trusts the X-Forwarded-Proto of the ingress that terminates TLS, so the login callback it registers is https', () => {
    expect(airflowCfg(objects).fab.enable_proxy_fix).toBe('True');
    // werkzeug's ProxyFix would set SCRIPT_NAME from X-Forwarded-Prefix, dropping the /auth mount of FAB's app
    expect(airflowCfg(objects).fab.proxy_fix_x_prefix).toBe('0');
  });
});
