// lib/config/airflow-options.json is shipped (../shared/ is not installed with the package); it must stay exactly what
// scripts/derive-airflow-options.ts derives from the configuration references of the newest release of each supported
// Airflow series (scripts/reference/airflow-<version>-config.json, derived from the released wheels).
import { existsSync, readdirSync, readFileSync } from 'fs';
import { join } from 'path';
import { AIRFLOW_RELEASES, AIRFLOW_VERSION, airflowSeries, SUPPORTED_AIRFLOW_SERIES } from '../lib';
import { deriveAirflowOptions } from '../scripts/derive-airflow-options';
import { Testing } from 'cdk8s';
import { Airflow, ENVIRONMENTS } from '../lib';
import { airflowCfg, airflowReference, REFERENCE, SHARED, testChart } from './helpers';

const SHIPPED_TEXT = readFileSync(join(__dirname, '..', 'lib', 'config', 'airflow-options.json'), 'utf8');
type Series = {
  airflowVersion: string; providers: Record<string, string>; reference: { wheels: { file: string; sha256: string }[] };
  sections: Record<string, Record<string, { type: string; sensitive?: boolean; readAs?: string[] }>>;
  renamed: Record<string, string>;
};
const SHIPPED = JSON.parse(SHIPPED_TEXT) as { series: Record<string, Series> };
/** The default series' part of the shipped file, and the reference of the release it pins. */
const shipped = SHIPPED.series[airflowSeries(AIRFLOW_VERSION)];
const keys = (s: Record<string, Record<string, unknown>>) => Object.entries(s).flatMap(([sec, o]) => Object.keys(o).map(k => `${sec}.${k}`)).sort();

test('the shipped file is byte for byte what the derivation produces from the references (no drift)', () => {
  expect(deriveAirflowOptions()).toBe(SHIPPED_TEXT);
});

test('it holds every supported series, each from the reference of that series\' newest release; the default image runs one of them', () => {
  expect(Object.keys(SHIPPED.series)).toEqual([...SUPPORTED_AIRFLOW_SERIES]);
  expect(SUPPORTED_AIRFLOW_SERIES).toEqual(['3.1', '3.2', '3.3']);
  for (const [series, release] of Object.entries(AIRFLOW_RELEASES)) {
    expect(airflowSeries(release)).toBe(series);
    expect(SHIPPED.series[series].airflowVersion).toBe(release);
    expect(existsSync(join(REFERENCE, `airflow-${release}-config.json`))).toBe(true);
  }
  expect(AIRFLOW_RELEASES[airflowSeries(AIRFLOW_VERSION)]).toBe(AIRFLOW_VERSION);
  // no reference lies about for a release the library does not check against
  expect(readdirSync(REFERENCE).filter(f => /^airflow-.*-config\.json$/.test(f)).sort())
    .toEqual(Object.values(AIRFLOW_RELEASES).map(v => `airflow-${v}-config.json`).sort());
});

describe.each(Object.entries(AIRFLOW_RELEASES))('Airflow %s (reference %s)', (series, release) => {
  const ref = airflowReference(release);
  const own = SHIPPED.series[series];

  test('every option of the reference is in the shipped file with its type, and no other', () => {
    expect(keys(own.sections)).toEqual(keys(ref.sections));
    for (const [section, options] of Object.entries(ref.sections)) {
      for (const [option, info] of Object.entries(options)) expect(own.sections[section][option].type).toBe(info.type);
    }
  });

  test('every sensitive option of the reference is marked sensitive in the shipped file, and only those', () => {
    const sensitive = (s: Record<string, Record<string, { sensitive?: boolean }>>) =>
      Object.entries(s).flatMap(([sec, o]) => Object.entries(o).filter(([, v]) => v.sensitive).map(([k]) => `${sec}.${k}`)).sort();
    expect(sensitive(own.sections)).toEqual(sensitive(ref.sections));
    for (const key of ['core.fernet_key', 'api_auth.jwt_secret', 'api.secret_key', 'database.sql_alchemy_conn']) {
      expect(sensitive(own.sections)).toContain(key);
    }
  });

  test('renamed options map each deprecated name to its replacement', () => {
    expect(own.renamed).toEqual(Object.fromEntries(Object.entries(ref.deprecatedOptions).map(([k, v]) => [k, v.replacedBy])));
    expect(own.renamed['webserver.secret_key']).toBe('api.secret_key');
  });

  test('Airflow 3 names: no [kubernetes] section and no [core] sql_alchemy_conn', () => {
    expect(own.sections.kubernetes).toBeUndefined();
    expect(own.sections.core.sql_alchemy_conn).toBeUndefined();
    expect(own.sections.database.sql_alchemy_conn).toBeDefined();
    expect(own.sections.kubernetes_executor.pod_template_file).toBeDefined();
  });

  test('it names the release, and every wheel it read with its sha256', () => {
    expect(own.airflowVersion).toBe(release);
    expect(own.reference.wheels[0].file).toBe(`apache_airflow_core-${release}-py3-none-any.whl`);
    for (const w of own.reference.wheels) expect(w.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(own.reference.wheels.length).toBe(Object.keys(own.providers).length + 1);
  });

  test('every option the library writes itself exists in this series, under its current name', () => {
    const written = new Set<string>();
    for (const env of Object.values(ENVIRONMENTS)) {
      const chart = testChart();
      new Airflow(chart, 'airflow', { ...env.airflow, airflowVersion: release });
      const objects = Testing.synth(chart);
      for (const [section, options] of Object.entries(airflowCfg(objects as any))) {
        for (const option of Object.keys(options as object)) written.add(`${section}.${option}`);
      }
      // and the AIRFLOW__SECTION__OPTION env vars of every container
      for (const [, section, option] of JSON.stringify(objects).matchAll(/"AIRFLOW__([A-Z0-9_]+?)__([A-Z0-9_]+)"/g)) {
        written.add(`${section.toLowerCase()}.${option.toLowerCase()}`);
      }
    }
    expect(written.size).toBeGreaterThan(15);
    expect([...written].filter(k => !keys(own.sections).includes(k) || own.renamed[k] !== undefined)).toEqual([]);
  });
});

describe('derived from the released wheels of the pinned Airflow and the providers of the official image', () => {
  const full = shipped;

  test('the providers of the image\'s extras are there, each pinned, and their options with them', () => {
    const extras = JSON.parse(readFileSync(join(REFERENCE, 'official-image-extras.json'), 'utf8')).extras as string[];
    for (const provider of ['amazon', 'celery', 'cncf-kubernetes', 'elasticsearch', 'google', 'microsoft-azure', 'openlineage', 'postgres']) {
      expect(extras).toContain(provider);
      expect(full.providers[`apache-airflow-providers-${provider}`]).toMatch(/^\d+\.\d+\.\d+$/);
    }
    expect(shipped.sections.openlineage.disabled).toBeDefined();
    expect(shipped.sections.elasticsearch.host).toBeDefined();
    expect(shipped.sections.aws.cloudwatch_task_handler_json_serializer).toBeDefined();
    expect(shipped.sections.celery.worker_concurrency).toBeDefined();
    expect(shipped.sections['common.io']).toBeDefined();
  });

  test('options Airflow\'s code reads as booleans or numbers carry that, whatever config.yml\'s type says', () => {
    const o = shipped.sections as Record<string, Record<string, { type: string; readAs?: string[] }>>;
    expect(o.core.load_examples).toEqual({ type: 'string', readAs: ['boolean'] });
    expect(o.logging.worker_log_server_port.readAs).toEqual(['integer']);
    expect(o.scheduler.scheduler_heartbeat_sec).toMatchObject({ type: 'integer', readAs: ['float'] });
  });

  test.each<[string, Record<string, Record<string, unknown>>, boolean]>([
    ['[core] load_examples "yes" (read with getboolean)', { core: { load_examples: 'yes' } }, false],
    ['[core] load_examples "t"', { core: { load_examples: 't' } }, true],
    ['[kubernetes_executor] worker_pods_creation_batch_size "lots" (read with getint)', { kubernetes_executor: { worker_pods_creation_batch_size: 'lots' } }, false],
    ['[scheduler] scheduler_heartbeat_sec 2.5 (typed integer, read with getfloat)', { scheduler: { scheduler_heartbeat_sec: 2.5 } }, true],
    ['[openlineage] disabled true (a provider of the image)', { openlineage: { disabled: true } }, true],
    ['[common.io] xcom_objectstorage_threshold (a section with a dot)', { 'common.io': { xcom_objectstorage_threshold: 1000 } }, true],
  ])('%s', (_what, options, accepted) => {
    const build = () => new Airflow(testChart(), 'airflow', { options: options as any });
    if (accepted) {
      const chart = testChart();
      new Airflow(chart, 'airflow', { options: options as any });
      const [section, values] = Object.entries(options)[0];
      const [option, value] = Object.entries(values)[0];
      expect(airflowCfg(Testing.synth(chart) as any)[section][option]).toBe(typeof value === 'boolean' ? (value ? 'True' : 'False') : String(value));
    } else {
      expect(build).toThrow(/as Airflow reads it/);
    }
  });

  const shared = join(SHARED, 'airflow-config.json');
  (existsSync(shared) ? test : test.skip)('options it shares with the developers\' reference (main, 3.2.0.dev) have the same type and sensitivity (developers and CI only)', () => {
    const dev = JSON.parse(readFileSync(shared, 'utf8')) as { sections: Record<string, Record<string, { type: string; sensitive?: boolean }>> };
    const differ = Object.entries(dev.sections).flatMap(([s, opts]) => Object.entries(opts)
      .filter(([o, v]) => shipped.sections[s]?.[o] !== undefined && (shipped.sections[s][o].type !== v.type || !!shipped.sections[s][o].sensitive !== !!v.sensitive))
      .map(([o]) => `${s}.${o}`));
    expect(differ).toEqual([]);
    const common = Object.entries(dev.sections).flatMap(([s, opts]) => Object.keys(opts).filter(o => shipped.sections[s]?.[o] !== undefined));
    expect(common.length).toBeGreaterThan(300);
  });
});
