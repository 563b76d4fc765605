import { mkdirSync, writeFileSync } from 'fs';
import { join } from 'path';
import { ApiObject, App, AppProps, Chart, DependencyGraph, Names, YamlOutputType } from 'cdk8s';
import { dump } from 'js-yaml';
import { checkKnownProps } from './core/known-props';

/**
 * A cdk8s App whose `synth()` stays linear in the number of charts, for repositories that keep many
 * Airflows (one chart per team or environment) in one App.
 *
 * cdk8s' `App.synth()` renders each chart with `Chart.toJson()`, which resolves dependencies and
 * validates the whole App again before rendering that one chart (cdk8s 2.70 `App._synthChart`): N charts
 * cost N passes over the App, and 1,000 installations take minutes. This App prepares and validates the
 * App once, as `App.synth()` does, then renders each chart on its own.
 *
 * It writes what `App.synth()` writes for `YamlOutputType.FILE_PER_CHART` (the default): one
 * `<outdir>/<chart>.k8s.yaml` per chart, numbered `0000-<chart>` when charts depend on each other, the
 * objects of each in dependency order, byte for byte as `App.synth()` writes them. YAML comes from js-yaml 5
 * (double quotes, no anchors, no line folding), three times faster than the serializer of `cdk8s.Yaml`.
 * Every string Kubernetes would read as another type under YAML 1.1 (`yes`, `on`, `0755`, `1:20`, ...) is
 * quoted (`__tests__/airflow-app.test.ts` compares with `App.synth()` and reads the output back as YAML 1.1).
 *
 * Other output types and construct metadata (`recordConstructMetadata`) go through `App.synth()` unchanged.
 *
 * @throws Error from cdk8s when a construct's validation fails, before any file is written.
 */
export class AirflowApp extends App {
  private readonly recordsMetadata: boolean;

  constructor(props: AppProps = {}) {
    super(props);
    checkKnownProps(this, props);
    this.recordsMetadata = props.recordConstructMetadata ?? process.env.CDK8S_RECORD_CONSTRUCT_METADATA === 'true';
  }

  /** Writes one YAML file per chart to `outdir`. */
  public synth(): void {
    if (this.yamlOutputType !== YamlOutputType.FILE_PER_CHART || this.recordsMetadata) {
      super.synth();
      return;
    }
    const rendered = this.render();
    mkdirSync(this.outdir, { recursive: true });
    const numbered = rendered.some(r => r.dependsOnCharts);
    rendered.forEach(({ chart, objects }, index) => {
      const name = Names.toDnsLabel(chart);
      const file = (numbered ? `${String(index).padStart(4, '0')}-${name}` : name) + this.outputFileExtension;
      writeFileSync(join(this.outdir, file), toYaml(objects));
    });
  }

  /** All charts' objects as one multi-document YAML string, as `App.synthYaml()` returns them. */
  public synthYaml(): string {
    return toYaml(this.render().flatMap(r => r.objects));
  }

  /**
   * Each chart's objects, charts in dependency order. The first chart is rendered with `Chart.toJson()`,
   * which prepares and validates the whole App as cdk8s does; the others reuse that preparation.
   */
  private render(): { chart: Chart; objects: any[]; dependsOnCharts: boolean }[] {
    const unordered = this.charts;
    if (unordered.length === 0) return [];
    const first = { chart: unordered[0], objects: unordered[0].toJson() };
    return this.charts.map(chart => ({
      chart,
      objects: chart === first.chart ? first.objects : chartObjects(chart),
      // cdk8s numbers the files when a chart depends on another (nested charts included: cdk8s makes the
      // parent depend on them while preparing the App)
      dependsOnCharts: chart.node.dependencies.some(d => d instanceof Chart),
    }));
  }
}

/** A chart's own objects (not those of nested charts) in dependency order, as cdk8s renders them. */
function chartObjects(chart: Chart): any[] {
  return new DependencyGraph(chart.node).topology()
    .filter((c): c is ApiObject => c instanceof ApiObject && Chart.of(c) === chart)
    .map(o => o.toJson());
}

/** Documents separated by `---`, each formatted as `cdk8s.Yaml.stringify` does, without anchors or line folding. */
function toYaml(objects: any[]): string {
  return objects.map(o => dump(o, { lineWidth: -1, noRefs: true, quoteStyle: 'double' })).join('---\n');
}
