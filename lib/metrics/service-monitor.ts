import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import { checkKnownProps } from '../core/known-props';
import { checkPrometheusDuration } from './prometheus-duration';
import { StatsdExporter } from './statsd-exporter';
import { check, checkLabels } from '../core/validation';

/** Properties of {@link AirflowServiceMonitor}. */
export interface AirflowServiceMonitorProps {
  /** The exporter whose `metrics` port (9102, `/metrics`) it scrapes. */
  readonly exporter: StatsdExporter;
  /** Seconds between scrapes, a Prometheus duration (`30s`, `1m`). @default '30s' */
  readonly interval?: string;
  /**
   * Labels of the ServiceMonitor besides the library's, for the Prometheus's `serviceMonitorSelector`, e.g.
   * `{ release: 'kube-prometheus-stack' }`. @default none
   */
  readonly labels?: Record<string, string>;
}

/**
 * A Prometheus Operator ServiceMonitor (`monitoring.coreos.com/v1`) that scrapes the StatsdExporter's Service: its
 * series get `job="<instanceName>-statsd"` and `namespace="<namespace>"`, which AirflowPrometheusRule's alerts and the
 * Grafana dashboard select. Needs the Prometheus Operator's CRDs in the cluster (kube-prometheus-stack installs them),
 * and a Prometheus whose `serviceMonitorSelector` and `serviceMonitorNamespaceSelector` take it.
 * @see https://prometheus-operator.dev/docs/api-reference/api/#monitoring.coreos.com/v1.ServiceMonitor
 * @throws AirflowValidationError for an interval that is no Prometheus duration, or invalid labels.
 */
export class AirflowServiceMonitor extends Construct {
  public readonly serviceMonitor: ApiObject;

  constructor(scope: Construct, id: string, props: AirflowServiceMonitorProps) {
    super(scope, id);
    checkKnownProps(this, props);
    check(props.exporter instanceof StatsdExporter, this, 'exporter', typeof props.exporter, 'a StatsdExporter');
    const interval = checkPrometheusDuration(this, 'interval', props.interval ?? '30s');
    const exporter = props.exporter;
    const names = exporter.config.names;
    this.serviceMonitor = new ApiObject(this, 'Resource', {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'ServiceMonitor',
      metadata: { name: exporter.name, namespace: exporter.config.namespace, labels: { ...checkLabels(this, 'labels', props.labels ?? {}), ...names.labels('statsd', exporter.image) } },
      spec: {
        selector: { matchLabels: names.selector('statsd') },
        namespaceSelector: { matchNames: [exporter.config.namespace] },
        endpoints: [{ port: 'metrics', path: '/metrics', interval }],
      },
    });
  }
}
