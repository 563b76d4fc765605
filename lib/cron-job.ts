import { IConstruct } from 'constructs';
import * as k8s from '../imports/k8s';
import { check } from './validation';

/** How one of the library's maintenance CronJobs runs. */
export interface MaintenanceCronJobOptions {
  /** The CronJob's name; at most 52 characters, because its Jobs' names add 11. */
  readonly name: string;
  readonly labels: Record<string, string>;
  /** A five-field cron schedule, checked. */
  readonly schedule: string;
  /** The schedule's IANA time zone. @default the controller-manager's */
  readonly timeZone?: string;
  /** Finished Jobs kept, each of succeeded and failed. */
  readonly historyLimit: number;
  readonly backoffLimit: number;
  readonly activeDeadlineSeconds?: number;
  readonly podSpec: k8s.PodSpec;
}

/**
 * Checks a five-field cron schedule (`minute hour day-of-month month day-of-week`).
 * @throws AirflowValidationError otherwise
 */
export function checkSchedule(scope: IConstruct, property: string, schedule: unknown): string {
  check(typeof schedule === 'string' && /^\S+( \S+){4}$/.test(schedule), scope, property, schedule, 'a five-field cron schedule, e.g. "0 2 * * *"');
  return schedule as string;
}

/**
 * A CronJob of one of the library's maintenance jobs: never two runs at once (`concurrencyPolicy: Forbid`), a
 * few finished Jobs kept for their logs.
 * @throws AirflowValidationError for a name over 52 characters (a CronJob's Jobs add 11 to it)
 * @see https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/
 */
export function maintenanceCronJob(scope: IConstruct, o: MaintenanceCronJobOptions): k8s.KubeCronJob {
  check(o.name.length <= 52, scope, 'instanceName', o.name, 'an instance name short enough for a CronJob name of at most 52 characters (its Jobs add 11)');
  return new k8s.KubeCronJob(scope, 'Resource', {
    metadata: { name: o.name, labels: o.labels },
    spec: {
      schedule: o.schedule,
      ...(o.timeZone !== undefined ? { timeZone: o.timeZone } : {}),
      concurrencyPolicy: 'Forbid',
      successfulJobsHistoryLimit: o.historyLimit,
      failedJobsHistoryLimit: o.historyLimit,
      jobTemplate: {
        metadata: { labels: o.labels },
        spec: {
          backoffLimit: o.backoffLimit,
          ...(o.activeDeadlineSeconds !== undefined ? { activeDeadlineSeconds: o.activeDeadlineSeconds } : {}),
          template: { metadata: { labels: o.labels }, spec: o.podSpec },
        },
      },
    },
  });
}
