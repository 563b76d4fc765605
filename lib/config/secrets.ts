import { IConstruct } from 'constructs';
import * as k8s from '../../imports/k8s';
import { checkKnownProps } from '../core/known-props';
import { check, checkDnsSubdomain, checkSecretKey, SECRET_REF_EXPECTED } from '../core/validation';

/**
 * A reference to one key of a Kubernetes Secret that exists in the namespace (created by the
 * README's command, External Secrets, Sealed Secrets, ...). Only the name travels: no secret value
 * is ever part of the synthesized YAML.
 */
export class SecretKeyRef {
  /** The key `key` of the Secret named `secretName`. */
  public static of(secretName: string, key: string): SecretKeyRef {
    return new SecretKeyRef(secretName, key);
  }

  /**
   * Checks that `value` is a valid SecretKeyRef; a literal in its place (a secret pasted into code)
   * is reported without being repeated.
   * @throws AirflowValidationError
   */
  public static check(scope: IConstruct, property: string, value: unknown): SecretKeyRef {
    check(value instanceof SecretKeyRef, scope, property, value === undefined ? undefined : '<redacted literal>', SECRET_REF_EXPECTED);
    return (value as SecretKeyRef).validate(scope, property);
  }

  private constructor(public readonly secretName: string, public readonly key: string) {}

  /**
   * @throws AirflowValidationError unless the name is a DNS-1123 subdomain and the key a valid Secret key.
   */
  public validate(scope: IConstruct, property: string): this {
    checkDnsSubdomain(scope, `${property}.secretName`, this.secretName);
    checkSecretKey(scope, `${property}.key`, this.key);
    return this;
  }

  /** An environment variable read from this key. */
  public toEnv(name: string): k8s.EnvVar {
    return { name, valueFrom: { secretKeyRef: { name: this.secretName, key: this.key } } };
  }
}

/**
 * Where the Airflow components find their secret configuration. Every value is a reference; the
 * README's `scripts/create-secrets.sh` creates the default Secret with fresh random values.
 */
export interface AirflowSecretsProps {
  /** `[core] fernet_key`: encrypts connections and variables; one value everywhere, never rotated by a deploy. @default key `fernet-key` of `<instance>-secrets` */
  readonly fernetKey?: SecretKeyRef;
  /**
   * `[api_auth] jwt_secret` (with `jwtSigning: 'secret'`): the scheduler and the api-server sign tokens with it, the
   * api-server verifies them. @default key `jwt-secret` of `<instance>-secrets`
   */
  readonly jwtSecret?: SecretKeyRef;
  /** `[api] secret_key`: one value for all api-server replicas. @default key `api-secret-key` of `<instance>-secrets` */
  readonly apiSecretKey?: SecretKeyRef;
  /**
   * With `jwtSigning: 'keyPair'`: the private key that signs JWTs, PEM (Ed25519, or RSA of 2048 bits or more), in the
   * scheduler and the api-server only (`[api_auth] jwt_private_key_path`). @default key `jwt-signing-key` of `<instance>-secrets`
   */
  readonly jwtSigningKey?: SecretKeyRef;
  /** With `jwtSigning: 'keyPair'`: the key id (`kid`) of `jwtSigningKey` in `jwtPublicKeys` (`[api_auth] jwt_kid`). @default key `jwt-key-id` of `<instance>-secrets` */
  readonly jwtKeyId?: SecretKeyRef;
  /**
   * With `jwtSigning: 'keyPair'`: a JSON Web Key Set, `{"keys": [...]}`, of every public key whose tokens the
   * api-server accepts (`[api_auth] trusted_jwks_url`, a file): the signing key's, and during a rotation the other one.
   * @default key `jwt-public-keys` of `<instance>-secrets`
   */
  readonly jwtPublicKeys?: SecretKeyRef;
  /** `[database] sql_alchemy_conn`, e.g. `postgresql+psycopg2://user:pass@host:5432/db`. @default key `sql-alchemy-conn` of `<instance>-secrets` */
  readonly sqlAlchemyConn?: SecretKeyRef;
  /**
   * SimpleAuthManager's password file, JSON `{"admin": "<password>"}`, so that every api-server
   * replica accepts the same password. Optional in the cluster: without it each replica generates
   * its own and prints it in its log. @default key `simple-auth-manager-passwords` of `<instance>-secrets`
   */
  readonly simpleAuthManagerPasswords?: SecretKeyRef;
}

/** The resolved secret references of one installation. */
export class AirflowSecrets {
  public readonly fernetKey: SecretKeyRef;
  public readonly jwtSecret: SecretKeyRef;
  public readonly apiSecretKey: SecretKeyRef;
  public readonly sqlAlchemyConn: SecretKeyRef;
  public readonly simpleAuthManagerPasswords: SecretKeyRef;
  public readonly jwtSigningKey: SecretKeyRef;
  public readonly jwtKeyId: SecretKeyRef;
  public readonly jwtPublicKeys: SecretKeyRef;

  /**
   * @param defaultSecretName the Secret that holds every key not given explicitly.
   * @throws AirflowValidationError for an invalid Secret name or key.
   */
  constructor(scope: IConstruct, defaultSecretName: string, props: AirflowSecretsProps = {}) {
    checkKnownProps(scope, props, AirflowSecrets);
    this.fernetKey = SecretKeyRef.check(scope, 'secrets.fernetKey', props.fernetKey ?? SecretKeyRef.of(defaultSecretName, 'fernet-key'));
    this.jwtSecret = SecretKeyRef.check(scope, 'secrets.jwtSecret', props.jwtSecret ?? SecretKeyRef.of(defaultSecretName, 'jwt-secret'));
    this.apiSecretKey = SecretKeyRef.check(scope, 'secrets.apiSecretKey', props.apiSecretKey ?? SecretKeyRef.of(defaultSecretName, 'api-secret-key'));
    this.sqlAlchemyConn = SecretKeyRef.check(scope, 'secrets.sqlAlchemyConn', props.sqlAlchemyConn ?? SecretKeyRef.of(defaultSecretName, 'sql-alchemy-conn'));
    this.simpleAuthManagerPasswords = SecretKeyRef.check(scope, 'secrets.simpleAuthManagerPasswords',
      props.simpleAuthManagerPasswords ?? SecretKeyRef.of(defaultSecretName, 'simple-auth-manager-passwords'));
    this.jwtSigningKey = SecretKeyRef.check(scope, 'secrets.jwtSigningKey', props.jwtSigningKey ?? SecretKeyRef.of(defaultSecretName, 'jwt-signing-key'));
    this.jwtKeyId = SecretKeyRef.check(scope, 'secrets.jwtKeyId', props.jwtKeyId ?? SecretKeyRef.of(defaultSecretName, 'jwt-key-id'));
    this.jwtPublicKeys = SecretKeyRef.check(scope, 'secrets.jwtPublicKeys', props.jwtPublicKeys ?? SecretKeyRef.of(defaultSecretName, 'jwt-public-keys'));
  }
}
