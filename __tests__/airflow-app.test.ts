// AirflowApp: what cdk8s' App.synth writes, prepared once for all charts, YAML that Kubernetes reads back as written.
import { readdirSync, readFileSync } from 'fs';
import { join } from 'path';
import { ApiObject, App, AppProps, Chart, Names, YamlOutputType } from 'cdk8s';
import { parseAllDocuments } from 'yaml';
import * as k8s from '../imports/k8s';
import { AirflowApp, AirflowChart, ENVIRONMENTS } from '../lib';
import { tempDir } from './helpers';

function outdir(): string {
  return tempDir('airflow-app-');
}

function files(dir: string): Record<string, string> {
  return Object.fromEntries(readdirSync(dir).sort().map(f => [f, readFileSync(join(dir, f), 'utf8')]));
}

/** Builds the same charts in an AirflowApp and in a plain cdk8s App; returns what each synth writes. */
function bothWays(build: (app: App) => void, props: AppProps = {}): { ours: Record<string, string>; cdk8s: Record<string, string> } {
  const ours = new AirflowApp({ ...props, outdir: outdir() });
  const plain = new App({ ...props, outdir: outdir() });
  build(ours);
  build(plain);
  ours.synth();
  plain.synth();
  return { ours: files(ours.outdir), cdk8s: files(plain.outdir) };
}

function presets(app: App): void {
  for (const [tier, environment] of Object.entries(ENVIRONMENTS)) new AirflowChart(app, tier, environment);
}

/** Two charts where `b` depends on `a`, and a chart nested in `b`: cdk8s numbers the files then. */
function dependentCharts(app: App): void {
  const a = new Chart(app, 'a', { namespace: 'team-a' });
  const b = new Chart(app, 'b', { namespace: 'team-b' });
  const nested = new Chart(b, 'nested', { namespace: 'team-c' });
  const ca = new k8s.KubeConfigMap(a, 'config', { metadata: { name: 'a' }, data: { x: '1' } });
  const cb = new k8s.KubeConfigMap(b, 'config', { metadata: { name: 'b' }, data: { x: '2' } });
  new k8s.KubeConfigMap(nested, 'config', { metadata: { name: 'nested' } });
  const first = new k8s.KubeServiceAccount(b, 'account', { metadata: { name: 'b' } });
  cb.node.addDependency(ca, first);
}

describe('writes what cdk8s App.synth writes', () => {
  test('for the three environment presets, byte for byte', () => {
    const { ours, cdk8s } = bothWays(presets);
    expect(Object.keys(ours)).toEqual(['dev.k8s.yaml', 'prod.k8s.yaml', 'staging.k8s.yaml']);
    expect(ours).toEqual(cdk8s);
  });

  test('for charts that depend on each other: numbered files, dependency order', () => {
    const { ours, cdk8s } = bothWays(dependentCharts);
    expect(Object.keys(ours)).toEqual(['0000-b-nested-c80f61f4.k8s.yaml', '0001-a.k8s.yaml', '0002-b.k8s.yaml']);
    expect(ours).toEqual(cdk8s);
    expect(ours['0002-b.k8s.yaml'].indexOf('kind: ServiceAccount')).toBeLessThan(ours['0002-b.k8s.yaml'].indexOf('kind: ConfigMap'));
  });

  test('for the other output types and with construct metadata, by handing over to App.synth', () => {
    for (const yamlOutputType of [YamlOutputType.FILE_PER_APP, YamlOutputType.FILE_PER_RESOURCE]) {
      const { ours, cdk8s } = bothWays(presets, { yamlOutputType });
      expect(Object.keys(ours).length).toBeGreaterThan(0);
      expect(ours).toEqual(cdk8s);
    }
    const { ours } = bothWays(presets, { recordConstructMetadata: true });
    expect(Object.keys(ours)).toContain('construct-metadata.json');
  });

  test('synthYaml gives the objects of App.synthYaml', () => {
    const ours = new AirflowApp({ outdir: outdir() });
    const plain = new App({ outdir: outdir() });
    presets(ours);
    presets(plain);
    const docs = (text: string) => parseAllDocuments(text).map(d => d.toJS());
    expect(docs(ours.synthYaml())).toEqual(docs(plain.synthYaml()));
    expect(docs(ours.synthYaml()).length).toBeGreaterThan(90);
  });
});

describe('prepares the App once, not once per chart', () => {
  afterEach(() => jest.restoreAllMocks());

  test.each([1, 3, 8])('%i installations: one whole-App preparation (a plain cdk8s App makes one per chart)', n => {
    const prepare = jest.spyOn(App as any, '_synthChart');
    const build = (app: App) => {
      // staging: dev's NodePort can be claimed once per App
      for (let i = 0; i < n; i++) new AirflowChart(app, `team-${i}`, { ...ENVIRONMENTS.staging, namespace: `airflow-team-${i}` });
    };
    const ours = new AirflowApp({ outdir: outdir() });
    build(ours);
    ours.synth();
    expect(prepare).toHaveBeenCalledTimes(1);
    expect(readdirSync(ours.outdir)).toHaveLength(n);

    prepare.mockClear();
    const plain = new App({ outdir: outdir() });
    build(plain);
    plain.synth();
    expect(prepare).toHaveBeenCalledTimes(n);
  });

  test('a failing construct validation stops synth before any file is written', () => {
    const app = new AirflowApp({ outdir: outdir() });
    presets(app);
    const broken = new Chart(app, 'zzz-broken');
    new ApiObject(broken, 'x', { apiVersion: 'v1', kind: 'ConfigMap' }).node.addValidation({ validate: () => ['always wrong'] });
    expect(() => app.synth()).toThrow(/\[zzz-broken\/x\] always wrong/);
    expect(readdirSync(app.outdir)).toEqual([]);
  });
});

describe('YAML that Kubernetes reads back as written (YAML 1.1, as sigs.k8s.io/yaml parses it)', () => {
  // Strings that YAML 1.1 or 1.2 resolve to another type when left plain, and strings YAML gives
  // meaning to: every one must come back as the same string.
  const TRICKY = [
    'yes', 'No', 'ON', 'off', 'y', 'N', 'true', 'False', 'null', '~', '', '0755', '0x1F', '0b101', '0o17', '1_000',
    '1_000.5', '+12', '-0', '.5', '+.5', '1e3', '1.0e+5', '.inf', '-.Inf', '.NaN', '1:20', '190:20:30.15', '2001-12-14',
    '2001-12-14t21:59:43.10-05:00', '- x', '-x', ': x', 'a: b', '#c', 'a #c', 'x ', ' x', '\ttab', 'multi\nline',
    'multi\nline\n', 'trail\n\n', '@x', '`x', '%x', '!x', '&x', '*x', '|x', '>x', '"x', "'x", '{x', '[x', '=', '<<', '? x',
    '08', '09.5', '12e03', '*/15 * * * *', 'pass:word@host', '100%',
  ];

  function readBack(app: AirflowApp): { written: any[]; read: any[] } {
    const written = app.charts.flatMap(c => c.toJson());
    app.synth();
    const read = app.charts.flatMap(c => parseAllDocuments(readFileSync(join(app.outdir, `${Names.toDnsLabel(c)}.k8s.yaml`), 'utf8'), { version: '1.1' })
      .map(d => d.toJS()));
    return { written, read };
  }

  test('strings that look like other types, in values, lists and keys', () => {
    const app = new AirflowApp({ outdir: outdir() });
    const chart = new Chart(app, 'tricky', { namespace: 'tricky' });
    new k8s.KubeConfigMap(chart, 'map', {
      metadata: { name: 'tricky', annotations: Object.fromEntries(TRICKY.map((s, i) => [`k${i}`, s])) },
      data: Object.fromEntries(TRICKY.filter(s => /^[-._a-zA-Z0-9]+$/.test(s)).map(s => [s, s])),
    });
    new k8s.KubePod(chart, 'pod', { metadata: { name: 'tricky' }, spec: { containers: [{ name: 'c', image: 'busybox:1.36', args: TRICKY }] } });
    const { written, read } = readBack(app);
    expect(read).toEqual(written);
    expect(read[1].spec.containers[0].args).toEqual(TRICKY);
  });

  test('every object of the three presets', () => {
    const app = new AirflowApp({ outdir: outdir() });
    presets(app);
    const { written, read } = readBack(app);
    expect(read.length).toBeGreaterThan(90);
    expect(read).toEqual(written);
  });
});
