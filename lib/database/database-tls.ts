import { IConstruct } from 'constructs';
import * as k8s from '../../imports/k8s';
import { SecretKeyRef } from '../config/secrets';
import { check, checkDnsSubdomain, checkSecretKey } from '../core/validation';

/** One key of a ConfigMap in the namespace, e.g. a CA bundle (not secret: a CA certificate is public). */
export interface ConfigMapKeyRef {
  /** The ConfigMap's name, a DNS-1123 subdomain. */
  readonly configMapName: string;
  /** The key holding the PEM data. @default 'ca.crt' */
  readonly key?: string;
}

/** PEM certificate(s) of a certificate authority, from one key of a Secret (SecretKeyRef) or of a ConfigMap. */
export type CaCertificateRef = SecretKeyRef | ConfigMapKeyRef;

/**
 * libpq's `sslmode` values that check the server's certificate: `verify-ca` (signed by the CA) and `verify-full` (that,
 * and the host name in the URL is one the certificate names). @see https://www.postgresql.org/docs/current/libpq-ssl.html
 */
export const VERIFIED_SSLMODES = ['verify-full', 'verify-ca'] as const;
export type VerifiedSslmode = typeof VERIFIED_SSLMODES[number];

/**
 * Verified TLS to a PostgreSQL outside the cluster (a managed database: Amazon RDS, Cloud SQL, Azure Database for
 * PostgreSQL), for the clients that connect to it straight.
 *
 * Airflow's drivers read libpq's environment: psycopg2 (libpq itself) and asyncpg (`connect_utils.py`) take
 * `PGSSLMODE` and `PGSSLROOTCERT` when the URL does not set `sslmode`/`ssl`, so the connection URL in its Secret must
 * carry neither (a parameter in the URL wins over the environment). Then the async URL Airflow derives from it works
 * as it is: no `sql_alchemy_conn_async` is needed.
 * @see https://www.postgresql.org/docs/current/libpq-envars.html
 */
export interface DatabaseTls {
  /** How the server's certificate is checked. @default 'verify-full' */
  readonly sslmode?: VerifiedSslmode;
  /**
   * The CA that signed the server's certificate, PEM: your provider's bundle, e.g. Amazon RDS's `global-bundle.pem`
   * in a ConfigMap (`kubectl create configmap airflow-database-ca --from-file=ca.crt=global-bundle.pem`) or key
   * `ca.crt` of a cert-manager Secret (`SecretKeyRef.of(name, 'ca.crt')`).
   */
  readonly ca: CaCertificateRef;
}

/** Where the clients of a verified database connection read the CA (`PGSSLROOTCERT`). */
export const DATABASE_CA_FILE = '/etc/airflow/database-ca/ca.crt';
const VOLUME = 'database-ca';

/**
 * Checks `value` as a DatabaseTls, with its defaults.
 * (Unknown fields are the caller's checkKnownProps' to find.)
 * @throws AirflowValidationError naming `property` for an sslmode that does not verify, or a bad CA reference
 */
export function checkDatabaseTls(scope: IConstruct, property: string, value: DatabaseTls): Required<DatabaseTls> {
  check(value !== null && typeof value === 'object', scope, property, value, 'an object { sslmode?, ca }');
  const sslmode = value.sslmode ?? 'verify-full';
  check((VERIFIED_SSLMODES as readonly string[]).includes(sslmode), scope, `${property}.sslmode`, sslmode,
    '"verify-full" or "verify-ca": a mode that checks the server\'s certificate (require and below accept any server)');
  return { sslmode, ca: checkCaCertificateRef(scope, `${property}.ca`, value.ca) };
}

/** @throws AirflowValidationError unless `value` is a SecretKeyRef or a ConfigMapKeyRef with a valid name and key. */
export function checkCaCertificateRef(scope: IConstruct, property: string, value: CaCertificateRef): CaCertificateRef {
  if (value instanceof SecretKeyRef) return value.validate(scope, property);
  check(value !== null && typeof value === 'object' && typeof (value as ConfigMapKeyRef).configMapName === 'string', scope, property, value,
    'SecretKeyRef.of(secretName, key) or { configMapName, key? } holding the CA certificate(s), PEM');
  checkDnsSubdomain(scope, `${property}.configMapName`, value.configMapName);
  checkSecretKey(scope, `${property}.key`, value.key ?? 'ca.crt');
  return value;
}

/** A volume (named `name`) holding the CA as the one file `ca.crt`, readable by anyone in the pod. */
export function caCertificateVolume(name: string, ca: CaCertificateRef): k8s.Volume {
  if (ca instanceof SecretKeyRef) return { name, secret: { secretName: ca.secretName, items: [{ key: ca.key, path: 'ca.crt', mode: 0o444 }] } };
  return { name, configMap: { name: ca.configMapName, items: [{ key: ca.key ?? 'ca.crt', path: 'ca.crt', mode: 0o444 }] } };
}

/** What a container that connects straight to the database needs for `tls`: libpq's environment and the CA's volume. */
export function databaseTlsClient(tls: Required<DatabaseTls>): { env: k8s.EnvVar[]; volume: k8s.Volume; mount: k8s.VolumeMount } {
  return {
    env: [{ name: 'PGSSLMODE', value: tls.sslmode }, { name: 'PGSSLROOTCERT', value: DATABASE_CA_FILE }],
    volume: caCertificateVolume(VOLUME, tls.ca),
    mount: { name: VOLUME, mountPath: DATABASE_CA_FILE.replace(/\/[^/]+$/, ''), readOnly: true },
  };
}
