import { IConstruct } from 'constructs';
import { check } from '../core/validation';

/** A Prometheus duration as the Prometheus Operator's CRDs take it (`Duration`): `30s`, `5m`, `1h30m`, units in order. */
const DURATION = /^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$/;

/**
 * Checks a Prometheus duration (`30s`, `5m`, `1h30m`; y, w, d, h, m, s, ms, largest first) that is more than zero.
 * @see https://prometheus.io/docs/prometheus/latest/configuration/configuration/#duration
 */
export function checkPrometheusDuration(scope: IConstruct, property: string, value: string): string {
  check(typeof value === 'string' && value !== '' && value !== '0' && DURATION.test(value) && /[1-9]/.test(value), scope, property, value,
    'a Prometheus duration of more than zero, e.g. "30s", "5m", "1h30m" (units y, w, d, h, m, s, ms, largest first)');
  return value;
}
