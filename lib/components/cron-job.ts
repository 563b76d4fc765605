import { IConstruct } from 'constructs';
import * as k8s from '../../imports/k8s';
import { annotationsOf, applyPodOptions, PodOptions } from '../core/pod-options';
import { check, parseDuration } from '../core/validation';

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
  /** The user's pod options (checked here, at `pod`); `main` is the container they mount into. */
  readonly pod?: PodOptions;
  readonly main: string;
}

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];
/** Each field's bounds and names, as robfig/cron's standard parser has them (minute, hour, day of month, month, day of week). */
const FIELDS: { min: number; max: number; names?: string[]; any?: boolean }[] = [
  { min: 0, max: 59 }, { min: 0, max: 23 }, { min: 1, max: 31, any: true }, { min: 1, max: 12, names: MONTHS }, { min: 0, max: 6, names: DAYS, any: true },
];
const DESCRIPTORS = ['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly'];

/** One field of a cron expression: a list of `*`, `?` (day fields), `a`, `a-b`, each with an optional `/step`. */
function cronFieldOk(text: string, f: typeof FIELDS[number]): boolean {
  const value = (v: string) => {
    const named = f.names?.indexOf(v.toUpperCase()) ?? -1;
    const n = named >= 0 ? named + (f.names === MONTHS ? 1 : 0) : /^\d+$/.test(v) ? Number(v) : NaN;
    return n >= f.min && n <= f.max ? n : NaN;
  };
  return text.split(',').every(part => {
    const m = /^(\*|\?|([^-/]+)(?:-([^-/]+))?)(?:\/(\d+))?$/.exec(part);
    if (!m || (m[1] === '?' && !f.any)) return false;
    if (m[4] !== undefined && Number(m[4]) < 1) return false;
    if (m[2] === undefined) return true;
    const [from, to] = [value(m[2]), m[3] === undefined ? value(m[2]) : value(m[3])];
    return !Number.isNaN(from) && !Number.isNaN(to) && from <= to;
  });
}

/**
 * Checks a CronJob schedule as Kubernetes parses it (robfig/cron's ParseStandard, batch validation): five fields
 * (`minute hour day-of-month month day-of-week`, values in range, month and day names, lists, ranges and steps), or
 * a descriptor (`@daily`, `@hourly`, ..., `@every <Go duration>`); no `TZ=` prefix (the time zone has its own field).
 * @throws AirflowValidationError otherwise
 */
export function checkSchedule(scope: IConstruct, property: string, schedule: unknown): string {
  const fields = typeof schedule === 'string' ? schedule.trim().split(/\s+/) : [];
  const every = typeof schedule === 'string' ? /^@every (.+)$/.exec(schedule.trim()) : null;
  const ok = typeof schedule === 'string' && (DESCRIPTORS.includes(schedule.trim())
    || (every !== null && (parseDuration(every[1]) ?? 0) > 0)
    || (fields.length === 5 && fields.every((field, i) => cronFieldOk(field, FIELDS[i]))));
  check(ok, scope, property, schedule,
    'a cron schedule Kubernetes accepts: five fields in range (minute 0-59, hour 0-23, day 1-31, month 1-12 or JAN-DEC, ' +
    'weekday 0-6 or SUN-SAT), e.g. "0 2 * * *", or a descriptor such as "@daily" (a time zone goes in timeZone, not TZ=)');
  return schedule as string;
}

/**
 * Checks a CronJob time zone as Kubernetes does (batch validation: time.LoadLocation, and not "Local"): an IANA
 * name the time zone database knows, such as "Etc/UTC" or "Europe/Berlin".
 * @throws AirflowValidationError otherwise
 */
export function checkTimeZone(scope: IConstruct, property: string, timeZone: unknown): string {
  let known = false;
  try {
    known = typeof timeZone === 'string' && timeZone !== 'Local' && timeZone.trim() === timeZone
      && new Intl.DateTimeFormat('en', { timeZone }).resolvedOptions().timeZone !== undefined;
  } catch {
    known = false;
  }
  check(known, scope, property, timeZone, 'an IANA time zone name, e.g. "Etc/UTC" or "Europe/Berlin" (not "Local": Kubernetes requires an explicit zone)');
  return timeZone as string;
}

/**
 * A CronJob of one of the library's maintenance jobs: never two runs at once (`concurrencyPolicy: Forbid`), a
 * few finished Jobs kept for their logs.
 * @throws AirflowValidationError for a name over 52 characters (a CronJob's Jobs add 11 to it)
 * @see https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/
 */
export function maintenanceCronJob(scope: IConstruct, o: MaintenanceCronJobOptions): k8s.KubeCronJob {
  check(o.name.length <= 52, scope, 'instanceName', o.name, 'an instance name short enough for a CronJob name of at most 52 characters (its Jobs add 11)');
  const template = applyPodOptions(scope, 'pod', { labels: o.labels, spec: o.podSpec }, o.main, o.pod, true);
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
          template: { metadata: { labels: template.labels, ...annotationsOf(template) }, spec: template.spec },
        },
      },
    },
  });
}
