import { Construct } from 'constructs';
import * as k8s from '../../imports/k8s';
import { AirflowConfig, checkConfig } from '../config/airflow-config';
import { airflowPodSpec, DEFAULT_MIGRATION_WAIT_RESOURCES } from '../components/airflow-pod';
import { checkKnownProps } from '../core/known-props';
import { PodOptions, podTemplateSpec } from '../core/pod-options';
import { ContainerResourcesProps, renderResources } from '../core/resources';
import { revisionedJob } from '../components/revisioned-job';
import { check, checkWholeNumber } from '../core/validation';

/** One Airflow pool: how many task slots it has. @see https://airflow.apache.org/docs/apache-airflow/stable/administration-and-deployment/pools.html */
export interface Pool {
  /** Task slots, a whole number >= 0, or -1 for unlimited (Airflow's `Pool.slots`). */
  readonly slots: number;
  /** Shown in the UI. @default '' */
  readonly description?: string;
  /** Whether deferred tasks count against the slots. @default false */
  readonly includeDeferred?: boolean;
}

/** Properties of {@link AirflowPools}. */
export interface AirflowPoolsProps {
  readonly config: AirflowConfig;
  /** The Airflow image that runs `airflow pools import`; the components' own. @default the config's defaultImage */
  readonly image?: string;
  /**
   * The pools by name (at most 256 characters, Airflow's `pool.pool` column). `default_pool` may be given to set its
   * slots (Airflow creates it with 128).
   */
  readonly pools: Record<string, Pool>;
  /**
   * Delete the pools that are not declared (but `default_pool`), so that removing a pool from `pools` removes it
   * from Airflow. Tasks of a deleted pool stay queued until their pool exists again. @default false: a pool removed
   * from `pools` stays in Airflow as it was, and pools made in the UI stay
   */
  readonly prune?: boolean;
  /** @default requests 100m CPU / 256Mi, limit 512Mi */
  readonly resources?: ContainerResourcesProps;
  /** Scheduling, pull secrets, metadata, sidecars and extra volumes of its pod (see PodOptions). @default none */
  readonly pod?: PodOptions;
}

/**
 * Airflow pools as data in the chart, applied by a Job (`<instanceName>-pools-<revision>`) after the migrations:
 * `airflow pools import` of the declared pools, which creates each missing pool and sets the slots, description
 * and deferred counting of each existing one (`Pool.create_or_update_pool`), so the slots live in git and the UI's
 * changes to declared pools are undone on the next change. Like the migration Job, its name ends in a hash of its
 * spec: re-applying unchanged output runs nothing, and a changed pool runs a new Job (see revisionedJob).
 * @see https://airflow.apache.org/docs/apache-airflow/stable/cli-and-env-variables-ref.html#pools
 */
export class AirflowPools extends Construct {
  /** The Job's name, `<instanceName>-pools-<10 hex digits>`. */
  public readonly name: string;
  /** The Job (escape hatch). */
  public readonly job: k8s.KubeJob;
  /** The pools file the Job imports, as `airflow pools export` writes one. */
  public readonly poolsJson: string;

  /** @throws AirflowValidationError for a bad pool name, slots, description, image, resources or pod option. */
  constructor(scope: Construct, id: string, props: AirflowPoolsProps) {
    super(scope, id);
    checkKnownProps(this, props);
    const { config } = props;
    checkConfig(this, config);
    const image = config.airflowImage(this, 'image', props.image);
    check(typeof props.pools === 'object' && props.pools !== null && Object.keys(props.pools).length > 0, this, 'pools', props.pools,
      'at least one pool: { name: { slots } }');
    const file: Record<string, { slots: number; description: string; include_deferred: boolean }> = {};
    for (const name of Object.keys(props.pools).sort()) {
      const pool = props.pools[name];
      check(name.trim().length > 0 && name.length <= 256, this, 'pools', name, 'a pool name of 1 to 256 characters, not only spaces');
      const slots = pool.slots === -1 ? -1 : checkWholeNumber(this, `pools.${name}.slots`, pool.slots, 0);
      check(pool.description === undefined || typeof pool.description === 'string', this, `pools.${name}.description`, pool.description, 'a string');
      file[name] = { slots, description: pool.description ?? '', include_deferred: pool.includeDeferred ?? false };
    }
    this.poolsJson = JSON.stringify(file, null, 1);
    const prune = props.prune ?? false;
    const script = [
      'set -euo pipefail',
      'printf \'%s\' "$AIRFLOW_POOLS" > /tmp/pools.json',
      'airflow pools import /tmp/pools.json',
      ...(prune ? [
        // every pool Airflow has, but the declared ones and default_pool, one name per line
        'airflow pools list --output json > /tmp/existing.json',
        'python -c \'import json; declared = json.load(open("/tmp/pools.json")); ' +
          'print("\\n".join(p["pool"] for p in json.load(open("/tmp/existing.json")) if p["pool"] not in declared and p["pool"] != "default_pool"))\' > /tmp/undeclared',
        'while IFS= read -r pool; do [ -z "$pool" ] || airflow pools delete "$pool"; done < /tmp/undeclared',
      ] : []),
    ].join('\n');
    const podSpec = airflowPodSpec(this, {
      config,
      image,
      containerName: 'pools',
      // the image entrypoint runs `bash ARGS` as it is, after its `airflow db check`
      args: ['bash', '-c', script],
      resources: renderResources(this, 'resources', props.resources, { requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: '512Mi' } }),
      secretUses: ['sqlAlchemyConn'],
      optionSecrets: 'all',
      extraEnv: [{ name: 'AIRFLOW_POOLS', value: this.poolsJson }],
      migrationWait: renderResources(this, 'migrationWaitResources', undefined, DEFAULT_MIGRATION_WAIT_RESOURCES),
      restartPolicy: 'OnFailure',
    });
    const labels = config.names.labels('pools', image);
    const template = podTemplateSpec(this, props.pod, 'pools', { metadata: { labels }, spec: podSpec }, true);
    ({ name: this.name, job: this.job } = revisionedJob(this, { baseName: config.names.name('pools'), labels, backoffLimit: 6, template }));
  }
}
