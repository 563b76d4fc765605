import { readdirSync } from 'fs';
import { ApiObject, Chart, Testing } from 'cdk8s';
import { Construct } from 'constructs';
import {
  AirflowChart, AirflowValidationError, check, checkCpu, hasUrlPassword, checkDnsLabel, checkDnsSubdomain, checkImage, checkUniqueNames, checkWholeNumber,
  AirflowConfig, ApiServer, ENVIRONMENTS, GitSync, OPTION_TYPES, parseDuration, parseQuantity, PostgresStatefulSet, redactUrlPasswords,
} from '../lib';
import { testChart } from './helpers';

// Counts the edit-distance computations behind "closest known" suggestions (the real function runs).
jest.mock('fastest-levenshtein', () => {
  const actual = jest.requireActual('fastest-levenshtein');
  return { ...actual, distance: jest.fn(actual.distance) };
});
const { distance } = jest.requireMock('fastest-levenshtein') as { distance: jest.Mock };

const scope = () => new Construct(testChart(), 'thing');

describe('error-only work happens only when a check fails', () => {
  beforeEach(() => distance.mockClear());

  test('a clause given as a function is built only on failure, and then shown', () => {
    const clause = jest.fn(() => 'the lazily built clause');
    check(true, scope(), 'p', 1, clause);
    expect(clause).not.toHaveBeenCalled();
    expect(() => check(false, scope(), 'p', 1, clause)).toThrow(/p: got 1; expected the lazily built clause\./);
  });

  test('a production installation with valid options computes no "closest known option" suggestion', () => {
    new AirflowChart(Testing.app(), 'prod', ENVIRONMENTS.prod);
    expect(distance).not.toHaveBeenCalled();
  });

  test('an unknown option computes the suggestions and shows them', () => {
    const env = { ...ENVIRONMENTS.dev, airflow: { ...ENVIRONMENTS.dev.airflow, options: { core: { paralelism: 8 } } } };
    expect(() => new AirflowChart(Testing.app(), 'dev', env)).toThrow(/closest known: \[core\] parallelism/);
    expect(distance).toHaveBeenCalled();
  });
});

describe('parseQuantity (Kubernetes resource.Quantity)', () => {
  test.each<[string, number]>([
    ['500m', 0.5], ['1.5', 1.5], ['512Mi', 536870912], ['1e3', 1000], ['2Gi', 2 * 2 ** 30], ['1k', 1000], ['1M', 1e6], ['0', 0], ['.5', 0.5], ['1E3', 1000],
  ])('%s is %d', (text, value) => expect(parseQuantity(text)).toBeCloseTo(value, 12));

  test.each(['2GB', '1.5.0', '-1', '', ' 1', '1 Gi', 'Mi', '1mi', '1KB', '1e'])('%j is not a quantity', text => {
    expect(parseQuantity(text)).toBeUndefined();
  });
});

describe('parseDuration (Go time.ParseDuration, as git-sync reads its flags)', () => {
  test.each<[string, number]>([
    ['60s', 60], ['1m30s', 90], ['500ms', 0.5], ['5m', 300], ['1h', 3600], ['1.5h', 5400], ['1h30m', 5400], ['.5s', 0.5], ['2.s', 2],
    ['1500000us', 1.5], ['1500000µs', 1.5], ['2000000000ns', 2], ['0', 0], ['+90s', 90], ['-5s', -5], ['1h1m1s1ms', 3661.001],
  ])('%s is %d s', (text, seconds) => {
    expect(parseDuration(text)).toBeCloseTo(seconds, 9);
  });
  test.each(['60', '1 minute', '', 's', '1.5.s', '1d', '5 s', '1H', '0s0', '-', '.s'])('%j is not a duration', text => expect(parseDuration(text)).toBeUndefined());

  test.each(['1.5m', '90000ms', '1m30s', '+2m'])('git-sync takes the period %j', period => {
    expect(() => new GitSync(testChart(), 'g', { repository: 'https://github.com/x/y.git', period })).not.toThrow();
  });
});

describe('option values of every form Airflow reads (conf.getboolean, Python int() and float())', () => {
  // int() and float() answers of CPython 3.11 for each literal, as [literal, is an int, is a float]
  const PYTHON: [string, boolean, boolean][] = [
    ['1', true, true], ['+5', true, true], ['-3', true, true], ['1_000', true, true], ['1__0', false, false], ['_1', false, false],
    ['1_', false, false], ['0x10', false, false], ['5.0', false, true], ['1e3', false, true], ['.5', false, true], ['5.', false, true],
    ['1_000.5', false, true], ['inf', false, true], ['-Infinity', false, true], ['nan', false, true], ['1e', false, false],
    ['e3', false, false], ['1.2.3', false, false], ['0', true, true], ['007', true, true], ['1_0e1_0', false, true],
  ];
  test.each(PYTHON)('%j: integer %s, float %s', (literal, isInt, isFloat) => {
    expect([OPTION_TYPES.integer.test(literal), OPTION_TYPES.float.test(literal)]).toEqual([isInt, isFloat]);
  });
  test.each(['True', 'false', 'TRUE', 't', 'F', '1', '0'])('boolean %j is accepted', literal => expect(OPTION_TYPES.boolean.test(literal)).toBe(true));
  test.each(['yes', 'no', 'on', 'off', 'y', '2', ''])('boolean %j is refused (Airflow raises)', literal => expect(OPTION_TYPES.boolean.test(literal)).toBe(false));
  test('in a config', () => {
    expect(() => new AirflowConfig(testChart(), 'c', { options: { core: { parallelism: '1_000', compress_serialized_dags: 'T' } } })).not.toThrow();
    expect(() => new AirflowConfig(testChart(), 'c', { options: { core: { compress_serialized_dags: 'yes' } } })).toThrow(/options\.core\.compress_serialized_dags: got "yes"; expected a value of type boolean/);
  });
});

describe('checkImage', () => {
  const digest = `sha256:${'0123456789abcdef'.repeat(4)}`;
  test.each([
    'apache/airflow:3.1.7', 'registry.k8s.io/git-sync/git-sync:v4.7.1', 'localhost:5000/x/y:1', 'postgres:17.9-bookworm',
    `apache/airflow@${digest}`, `apache/airflow:3.1.7@${digest}`, `ghcr.io/org/img@${digest}`,
  ])('accepts %s', image => expect(checkImage(scope(), 'image', image)).toBe(image));

  test.each([
    'apache/airflow', 'apache/airflow:latest', 'Apache/Airflow:1', 'apache/airflow:', 'apache/airflow@sha256:abc', 'apache airflow:1', '',
  ])('rejects %j', image => expect(() => checkImage(scope(), 'image', image)).toThrow(AirflowValidationError));
});

describe('DNS-1123 names', () => {
  test.each(['airflow', 'a', 'airflow-test', '0a', 'a'.repeat(63)])('label %s is valid', name => expect(checkDnsLabel(scope(), 'n', name)).toBe(name));
  test.each(['Airflow', '-a', 'a-', 'a_b', 'a.b', '', 'a'.repeat(64)])('label %j is rejected', name => {
    expect(() => checkDnsLabel(scope(), 'n', name)).toThrow(AirflowValidationError);
  });
  test('the maximum length is a parameter', () => {
    expect(() => checkDnsLabel(scope(), 'n', 'a'.repeat(41), 40)).toThrow(/at most 40/);
    expect(checkDnsLabel(scope(), 'n', 'a'.repeat(40), 40)).toHaveLength(40);
  });
  test('subdomains allow dots, not underscores or capitals', () => {
    expect(checkDnsSubdomain(scope(), 'n', 'a.b-c')).toBe('a.b-c');
    for (const bad of ['Bad_Name', 'a..b', '.a', 'A.b', 'a'.repeat(254)]) expect(() => checkDnsSubdomain(scope(), 'n', bad)).toThrow(AirflowValidationError);
  });
});

test('checkWholeNumber and checkUniqueNames', () => {
  expect(checkWholeNumber(scope(), 'replicas', 1, 1)).toBe(1);
  for (const bad of [0, 1.5, NaN, -1]) expect(() => checkWholeNumber(scope(), 'replicas', bad, 1)).toThrow(/replicas/);
  expect(() => checkUniqueNames(scope(), 'extraVolumes', [{ name: 'a' }, { name: 'a' }])).toThrow(/extraVolumes: got "a"/);
  expect(checkUniqueNames(scope(), 'x', [{ name: 'a' }, { name: 'b' }])).toHaveLength(2);
});

describe('AirflowValidationError', () => {
  test('names the construct class, its path, the property, the JSON value and what is expected', () => {
    let error: unknown;
    try {
      new PostgresStatefulSet(testChart(), 'db', { storage: '10GB' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(AirflowValidationError);
    expect(error).toBeInstanceOf(Error);
    const e = error as AirflowValidationError;
    expect(e.name).toBe('AirflowValidationError');
    expect(e.message).toMatch(/^PostgresStatefulSet \[test\/db\] storage: got "10GB"; expected .+\.$/);
    expect(e.constructPath).toBe('test/db');
    expect(e.property).toBe('storage');
    expect(e.value).toBe('10GB');
  });

  test('shows objects as JSON and a value only once', () => {
    expect(() => check(false, scope(), 'resources', { requests: 1 }, 'an object')).toThrow('Construct [test/thing] resources: got {"requests":1}; expected an object.');
    expect(() => check(false, scope(), 'x', undefined, 'y')).toThrow('got undefined; expected y.');
    expect(() => check(true, scope(), 'x', 1, 'y')).not.toThrow();
  });
});

describe('rules, not examples', () => {
  test('a value is shown as received: NaN, Infinity and bigints are not turned into null', () => {
    for (const [value, shown] of [[NaN, 'NaN'], [Infinity, 'Infinity'], [-Infinity, '-Infinity'], [BigInt(3), '3n'], [{ replicas: NaN }, '{"replicas":"NaN"}']] as const) {
      expect(() => check(false, scope(), 'p', value, 'x')).toThrow(`p: got ${shown}; expected x.`);
    }
    expect(() => checkWholeNumber(scope(), 'replicas', NaN, 1)).toThrow('replicas: got NaN; expected a whole number >= 1.');
  });

  test.each(['1Gi', '512Mi', '2Ki', '1Ei'])('a CPU quantity with a byte suffix (%s) is rejected', cpu => {
    expect(() => checkCpu(scope(), 'resources.requests.cpu', cpu)).toThrow(/no byte suffix such as Mi or Gi/);
  });

  test.each(['250m', '1.5', '2', '1k', '0.1', '100e-3'])('a CPU quantity in cores or millicores (%s) is accepted', cpu => {
    expect(checkCpu(scope(), 'cpu', cpu)).toBeGreaterThan(0);
  });

  test.each(['1airflow', '9', '-a', 'a-', 'A', 'a_b'])('an instance name that cannot begin a Service name (%s) is rejected (DNS-1035)', name => {
    expect(() => new PostgresStatefulSet(testChart(), 'db', { instanceName: name })).toThrow(/instanceName: got .*; expected a DNS-1035 label/);
  });

  test.each(['a', 'a1', 'team-a', 'x'.repeat(34)])('an instance name that is a DNS-1035 label (%s) is accepted', name => {
    expect(() => new PostgresStatefulSet(testChart(), 'db', { instanceName: name })).not.toThrow();
  });
});

test('the longest instance name accepted fits every name it begins: a whole installation synthesizes', () => {
  const name = 'x'.repeat(34);
  const env = { ...ENVIRONMENTS.staging, airflow: { ...ENVIRONMENTS.staging.airflow, instanceName: name } };
  const objects = Testing.synth(new AirflowChart(Testing.app(), 'staging', env));
  const names = objects.map((o: any) => o.metadata.name as string);
  expect(names.filter(n => n.startsWith(name)).length).toBeGreaterThan(20);
  for (const o of objects as any[]) expect({ name: o.metadata.name, fits: o.metadata.name.length <= (['CronJob', 'StatefulSet'].includes(o.kind) ? 52 : 63) }).toEqual({ name: o.metadata.name, fits: true });
  expect(() => new AirflowChart(Testing.app(), 'staging', { ...env, airflow: { ...env.airflow, instanceName: name + 'x' } })).toThrow(/at most 34 characters/);
});

describe('options in the wrong shape, credentials as literals', () => {
  const config = (options: any) => () => new AirflowConfig(testChart(), 'config', { options });

  test.each<[string, any, string, string]>([
    ['a dotted key', { 'core.parallelism': 4 }, 'options.core.parallelism', 'options nested by section, as airflow.cfg groups them: { core: { parallelism: ... } }'],
    ['a section that is not an object', { core: 4 }, 'options.core', "an object of the section's options"],
    ['a section given as a list', { core: [['parallelism', 4]] }, 'options.core', "an object of the section's options"],
  ])('%s is rejected by name, not ignored', (_what, options, property, expected) => {
    expect(config(options)).toThrow(new RegExp(`${property.replace(/\./g, '\\.')}: got .*; expected ${expected.replace(/[{}().]/g, m => `\\${m}`)}`));
  });

  test.each<[string, () => unknown, string]>([
    ['an option of any name', config({ logging: { remote_base_log_folder: 's3://KEYID:hunter2@bucket/logs' } }), 'options.logging.remote_base_log_folder'],
    ['an env value', () => new ApiServer(testChart(), 'api', { config: new AirflowConfig(testChart(), 'c'), env: [{ name: 'DB', value: 'postgresql://u:hunter2@db:5432/x' }] }), 'env.DB'],
  ])('a URL with a password in %s is refused, and the password never echoed', (_what, build, property) => {
    let message = '';
    try { build(); } catch (e) { message = (e as Error).message; }
    expect(message).toContain(`${property}: got `);
    expect(message).toContain(':<redacted>@');
    expect(message).toContain('expected no password in a URL');
    expect(message).not.toContain('hunter2');
  });

  test('any error message redacts a URL password, whatever the property', () => {
    expect(() => check(false, scope(), 'whatever', { url: 'https://me:hunter2@example.com/x' }, 'y')).toThrow('whatever: got {"url":"https://me:<redacted>@example.com/x"}');
    expect(redactUrlPasswords('a postgresql://u:p@h/d b ftp://x:y@z')).toBe('a postgresql://u:<redacted>@h/d b ftp://x:<redacted>@z');
    expect(redactUrlPasswords('https://example.com/a@b and user@host:path')).toBe('https://example.com/a@b and user@host:path');
    // a port and a path with '@' in it is no password; a password with '@' or '/' in it is one, redacted whole
    expect(hasUrlPassword('https://airflow.example.com:8443/dags@v2')).toBe(false);
    expect(redactUrlPasswords('postgresql://u:p@ss@db/x postgresql://u:pa/ss@db/x')).toBe('postgresql://u:<redacted>@db/x postgresql://u:<redacted>@db/x');
    expect(redactUrlPasswords('deploy:hunter2@github.com:x/y.git')).toBe('deploy:<redacted>@github.com:x/y.git');
  });
});

describe('every object of the App is checked at synth, before any YAML is written', () => {
  const synthErrors = (app: ReturnType<typeof Testing.app>): string => {
    try {
      app.synth();
    } catch (e) {
      return (e as Error).message;
    }
    return '';
  };

  test('a Chart copied with its namespace kept writes the same objects twice: synth names both and the fix', () => {
    const app = Testing.app();
    const dev = new Chart(app, 'dev', { namespace: 'airflow-dev' });
    const copy = new Chart(app, 'dev-copy', { namespace: 'airflow-dev' });
    // lower-level constructs, which have no installation-wide check of their own
    new PostgresStatefulSet(dev, 'postgresql');
    new PostgresStatefulSet(copy, 'postgresql');
    const message = synthErrors(app);
    expect(message).toContain('Chart [dev-copy] StatefulSet airflow-dev/airflow-postgresql: got it twice, from dev-copy/postgresql/');
    expect(message).toContain('and dev/postgresql/');
    expect(message).toContain('give the copied Chart its own namespace, or the installation its own instanceName');
    expect(readdirSync(app.outdir)).toEqual([]);
  });

  test('the same objects in two namespaces, or two instance names in one, are no collision', () => {
    const app = Testing.app();
    new PostgresStatefulSet(new Chart(app, 'a', { namespace: 'ns-a' }), 'postgresql');
    new PostgresStatefulSet(new Chart(app, 'b', { namespace: 'ns-b' }), 'postgresql');
    const c = new Chart(app, 'c', { namespace: 'ns-a' });
    new PostgresStatefulSet(c, 'postgresql', { instanceName: 'other' });
    expect(synthErrors(app)).toBe('');
  });

  test.each<[string, string, string]>([
    ['Service', '9api', 'a DNS-1035 label'],
    ['ConfigMap', 'Upper', 'a DNS-1123 subdomain'],
    ['CronJob', 'c'.repeat(53), 'a DNS-1123 subdomain of at most 52 characters'],
    ['StatefulSet', 'db.main', 'a DNS-1123 label of at most 52 characters'],
    ['Role', 'a/b', 'a path segment'],
  ])('a %s named %j beside an installation fails synth with its kind\'s rule', (kind, name, rule) => {
    const app = Testing.app();
    const chart = new Chart(app, 'c', { namespace: 'ns' });
    new AirflowConfig(chart, 'config');
    new ApiObject(chart, 'extra', { apiVersion: kind === 'CronJob' ? 'batch/v1' : kind === 'StatefulSet' ? 'apps/v1' : kind === 'Role' ? 'rbac.authorization.k8s.io/v1' : 'v1', kind, metadata: { name } });
    expect(synthErrors(app)).toContain(`Chart [c] ${kind} name: got ${JSON.stringify(name)} (object c/extra); expected ${rule}`);
  });

  test('names that follow their kind\'s rule pass, e.g. a Role with a dot and a ConfigMap with dots', () => {
    const app = Testing.app();
    const chart = new Chart(app, 'c', { namespace: 'ns' });
    new AirflowConfig(chart, 'config');
    new ApiObject(chart, 'role', { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'system:airflow.reader' } });
    new ApiObject(chart, 'cm', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'airflow.extra.config' } });
    expect(synthErrors(app)).toBe('');
  });
});
