import { IConstruct } from 'constructs';
import * as k8s from '../../imports/k8s';
import { caCertificateVolume, CaCertificateRef, checkCaCertificateRef } from '../database/database-tls';
import { AIRFLOW_HOME } from '../core/names';
import { SecretKeyRef } from './secrets';
import { check } from '../core/validation';

/**
 * The roles the FAB auth manager creates and grants (`airflow/providers/fab/www/security/permissions.py`): `Admin`
 * (everything), `Op` (also connections, pools, variables), `User` (also edits DAGs and runs), `Viewer` (reads), `Public`
 * (nothing). @see https://airflow.apache.org/docs/apache-airflow-providers-fab/stable/auth-manager/access-control.html
 */
export const FAB_ROLES = ['Admin', 'Op', 'User', 'Viewer', 'Public'] as const;
export type FabRole = typeof FAB_ROLES[number];

/**
 * Provider names for which the FAB auth manager's `get_oauth_user_info` reads the user its own way (a provider's API or
 * its ID token, with other claims) instead of the OIDC userinfo endpoint (apache-airflow-providers-fab 3.9.0,
 * `auth_manager/security_manager/override.py`).
 */
export const FAB_OWN_USERINFO = ['github', 'githublocal', 'twitter', 'linkedin', 'google', 'azure', 'openshift', 'okta', 'auth0',
  'keycloak', 'keycloak_before_17', 'authentik'] as const;

/**
 * Single sign-on through an OpenID Connect identity provider whose userinfo endpoint returns `preferred_username` and
 * `groups` (Keycloak with a group mapper, Okta with a groups claim, Dex; not Microsoft Entra ID's or Google's, which
 * return neither), with the FAB auth manager's OAuth login (Flask-AppBuilder `AUTH_OAUTH`, Authlib). Users log in at
 * `/auth/login/<name>`; the provider sends them back to `<your Airflow URL>/auth/oauth-authorized/<name>`, which you
 * register with it as a redirect URI (https behind a TLS-terminating proxy needs `[fab] enable_proxy_fix`). A user's
 * name is the `preferred_username` claim of the provider's userinfo endpoint and their groups the `groups` claim (the
 * FAB provider's generic OAuth path, `get_oauth_user_info`); a database user of the same name is that user.
 */
export interface OidcProvider {
  /**
   * The issuer URL, `https://`; `<issuer>/.well-known/openid-configuration` must answer, e.g.
   * `https://keycloak.example.com/realms/airflow`, `https://example.okta.com/oauth2/default`.
   */
  readonly issuer: string;
  /** The client id registered with the provider. */
  readonly clientId: string;
  /** The client secret, by reference: the api-server gets it as an environment variable, no other pod does. */
  readonly clientSecret: SecretKeyRef;
  /**
   * Airflow roles per group of the `groups` claim, e.g. `{ 'airflow-admins': ['Admin'], 'data-eng': ['User'] }`
   * (Flask-AppBuilder `AUTH_ROLES_MAPPING`), applied at every login (`AUTH_ROLES_SYNC_AT_LOGIN`): removing a user from a
   * group takes the role away at their next login.
   */
  readonly roles: Readonly<Record<string, readonly FabRole[]>>;
  /**
   * The role every user who logs in gets besides their groups' (`AUTH_USER_REGISTRATION_ROLE`), and so the only role of
   * a user in none of `roles`' groups. @default 'Public' (no permissions)
   */
  readonly defaultRole?: FabRole;
  /** Scopes asked for; `openid` must be one; Dex and most Okta setups send `groups` only for a `groups` scope. @default ['openid', 'email', 'profile'] */
  readonly scopes?: readonly string[];
  /** The provider's name in the login URLs, a lower-case word, none that the FAB auth manager reads its own way (`keycloak`, `google`, `azure`, `okta`, ...). @default 'oidc' */
  readonly name?: string;
  /**
   * The CA of the provider's TLS certificate, for a provider behind a private CA (Authlib's `verify`). @default none:
   * the public CAs of the image (certifi)
   */
  readonly ca?: CaCertificateRef;
}

/**
 * Who may log in to the UI and the REST API, and how (`[core] auth_manager`): exactly one of `simple` and `fab`.
 * @see https://airflow.apache.org/docs/apache-airflow/stable/core-concepts/auth-manager/index.html
 */
export interface AuthManager {
  /**
   * Airflow's SimpleAuthManager: one `admin` user whose password is in the Secret `simpleAuthManagerPasswords`
   * (see AirflowSecretsProps). Airflow documents it for development and testing: no single sign-on, one shared account.
   */
  readonly simple?: Record<string, never>;
  /**
   * The FAB auth manager (provider apache-airflow-providers-fab, in the official image): users, roles and permissions
   * in the metadata database. With `oidc` users log in through the identity provider; without, with passwords kept in
   * the database (`airflow users create`). `/auth/token` takes a database user's name and password in both cases,
   * for scripts (create such users with `airflow users create`).
   */
  readonly fab?: { readonly oidc?: OidcProvider };
}

/** The class `[core] auth_manager` names for each choice. */
export const AUTH_MANAGER_CLASSES = {
  simple: 'airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager',
  fab: 'airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager',
} as const;

/** Where the api-server reads Flask-AppBuilder's settings (`[fab] config_file`; AIRFLOW_HOME/webserver_config.py is the default). */
export const WEBSERVER_CONFIG_FILE = `${AIRFLOW_HOME}/webserver_config.py`;
const CLIENT_SECRET_ENV = 'AIRFLOW_OIDC_CLIENT_SECRET';
const OIDC_CA_DIR = '/etc/airflow/oidc-ca';

/** What an auth manager choice sets: options for airflow.cfg and, for FAB, webserver_config.py and what the api-server mounts. */
export interface RenderedAuthManager {
  readonly kind: 'simple' | 'fab';
  readonly options: Record<string, Record<string, string>>;
  /** webserver_config.py (FAB only). */
  readonly webserverConfig?: string;
  /** The api-server's extra environment (the OIDC client secret). */
  readonly env: k8s.EnvVar[];
  readonly volumes: k8s.Volume[];
  readonly volumeMounts: k8s.VolumeMount[];
}

/** A Python string literal of `s` (JSON's escapes are Python's for these characters). */
const py = (s: string) => JSON.stringify(s);

/**
 * Checks an AuthManager and renders it.
 * @throws AirflowValidationError naming `property` for both or neither choice, an issuer that is not an https URL, a
 * client id or scope list Flask-AppBuilder cannot take, an unknown role, or a bad CA reference
 */
export function renderAuthManager(scope: IConstruct, property: string, a: AuthManager, simplePasswordsFile: string): RenderedAuthManager {
  check(a !== null && typeof a === 'object' && [a.simple, a.fab].filter(x => x !== undefined).length === 1, scope, property, a,
    'exactly one of { simple: {} } (SimpleAuthManager, for development) and { fab: { oidc? } } (the FAB auth manager)');
  if (a.simple !== undefined) {
    check(a.simple !== null && typeof a.simple === 'object' && Object.keys(a.simple).length === 0, scope, `${property}.simple`, a.simple,
      '{} (SimpleAuthManager takes no settings here; its users are [core] simple_auth_manager_users in options)');
    return {
      kind: 'simple', env: [], volumes: [], volumeMounts: [],
      options: { core: { auth_manager: AUTH_MANAGER_CLASSES.simple, simple_auth_manager_passwords_file: simplePasswordsFile } },
    };
  }
  const oidc = a.fab!.oidc;
  const options = { core: { auth_manager: AUTH_MANAGER_CLASSES.fab }, fab: { config_file: WEBSERVER_CONFIG_FILE } };
  const lines = ['# Flask-AppBuilder settings of the FAB auth manager, written by cdk8s-airflow (AuthManager): edit the construct\'s props.', ''];
  if (!oidc) {
    lines.push('from flask_appbuilder.const import AUTH_DB', '', 'AUTH_TYPE = AUTH_DB', '');
    return { kind: 'fab', options, webserverConfig: lines.join('\n'), env: [], volumes: [], volumeMounts: [] };
  }
  const p = `${property}.fab.oidc`;
  check(typeof oidc.issuer === 'string' && /^https:\/\/[A-Za-z0-9.-]+(:\d+)?(\/[^\s?#]*)?$/.test(oidc.issuer), scope, `${p}.issuer`, oidc.issuer,
    'an https URL without query or fragment, e.g. "https://keycloak.example.com/realms/airflow" (its /.well-known/openid-configuration is read)');
  check(typeof oidc.clientId === 'string' && /^[\x21-\x7e]+$/.test(oidc.clientId), scope, `${p}.clientId`, oidc.clientId,
    'the client id registered with the provider: printable ASCII, no spaces');
  const clientSecret = SecretKeyRef.check(scope, `${p}.clientSecret`, oidc.clientSecret);
  const name = oidc.name ?? 'oidc';
  check(typeof name === 'string' && /^[a-z][a-z0-9_]{0,31}$/.test(name), scope, `${p}.name`, name,
    'a lower-case word (letters, digits, "_"; at most 32), the provider\'s part of /auth/login/<name>');
  check(!(FAB_OWN_USERINFO as readonly string[]).includes(name), scope, `${p}.name`, name,
    `a name other than ${FAB_OWN_USERINFO.map(n => `"${n}"`).join(', ')}: for those the FAB auth manager reads the user from that provider's own API, not the OIDC userinfo (preferred_username, groups)`);
  const scopes = oidc.scopes ?? ['openid', 'email', 'profile'];
  check(Array.isArray(scopes) && scopes.includes('openid') && scopes.every(s => typeof s === 'string' && /^[\x21\x23-\x5b\x5d-\x7e]+$/.test(s)),
    scope, `${p}.scopes`, scopes, 'scope tokens (RFC 6749 3.3: printable ASCII without space, " or \\), "openid" among them');
  const isRole = (r: unknown) => (FAB_ROLES as readonly unknown[]).includes(r);
  const roleList = `one of ${FAB_ROLES.map(r => `"${r}"`).join(', ')}`;
  const defaultRole = oidc.defaultRole ?? 'Public';
  check(isRole(defaultRole), scope, `${p}.defaultRole`, defaultRole, roleList);
  check(oidc.roles !== null && typeof oidc.roles === 'object' && Object.keys(oidc.roles).length > 0, scope, `${p}.roles`, oidc.roles,
    'at least one group of the "groups" claim with the roles it grants, e.g. { "airflow-admins": ["Admin"] }: without, no one gets more than defaultRole');
  for (const [group, roles] of Object.entries(oidc.roles)) {
    check(group !== '', scope, `${p}.roles`, group, 'group names that are not empty');
    check(Array.isArray(roles) && roles.length > 0 && roles.every(isRole), scope, `${p}.roles.${group}`, roles, `a list of roles, each ${roleList}`);
  }
  const ca = oidc.ca === undefined ? undefined : checkCaCertificateRef(scope, `${p}.ca`, oidc.ca);

  const clientKwargs = [`"scope": ${py(scopes.join(' '))}`, ...ca ? [`"verify": ${py(`${OIDC_CA_DIR}/ca.crt`)}`] : []];
  lines.push(
    'import os',
    '',
    'from flask_appbuilder.const import AUTH_OAUTH',
    '',
    'AUTH_TYPE = AUTH_OAUTH',
    'AUTH_USER_REGISTRATION = True',
    `AUTH_USER_REGISTRATION_ROLE = ${py(defaultRole)}`,
    'AUTH_ROLES_SYNC_AT_LOGIN = True',
    'AUTH_ROLES_MAPPING = {',
    ...Object.entries(oidc.roles).map(([group, roles]) => `    ${py(group)}: [${roles.map(py).join(', ')}],`),
    '}',
    'OAUTH_PROVIDERS = [{',
    `    "name": ${py(name)},`,
    '    "icon": "fa-openid",',
    '    "token_key": "access_token",',
    '    "remote_app": {',
    `        "client_id": ${py(oidc.clientId)},`,
    `        "client_secret": os.environ[${py(CLIENT_SECRET_ENV)}],`,
    `        "server_metadata_url": ${py(`${oidc.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`)},`,
    `        "client_kwargs": {${clientKwargs.join(', ')}},`,
    '    },',
    '}]',
    '',
  );
  return {
    kind: 'fab', options, webserverConfig: lines.join('\n'),
    env: [clientSecret.toEnv(CLIENT_SECRET_ENV)],
    volumes: ca ? [caCertificateVolume('oidc-ca', ca)] : [],
    volumeMounts: ca ? [{ name: 'oidc-ca', mountPath: OIDC_CA_DIR, readOnly: true }] : [],
  };
}
