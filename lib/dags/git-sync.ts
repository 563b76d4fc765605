import { createHash } from 'crypto';
import { Construct } from 'constructs';
import * as k8s from '../../imports/k8s';
import { checkKnownProps } from '../core/known-props';
import { AIRFLOW_HOME } from '../core/names';
import { ContainerResourcesProps, renderResources } from '../core/resources';
import { restrictedContainerSecurity } from '../core/security';
import { check, checkDnsSubdomain, checkImage, checkSecretKey, checkWholeNumber, parseDuration, redactUrlPasswords } from '../core/validation';

/** git-sync v4, the newest release when this was written. @see https://github.com/kubernetes/git-sync/releases */
export const DEFAULT_GIT_SYNC_IMAGE = 'registry.k8s.io/git-sync/git-sync:v4.7.1';

/** The git-sync image's user and group (Dockerfile `USER 65533:65533`). */
export const GIT_SYNC_UID = 65533;

const ROOT = '/git';
const LINK = 'repo';
const SECRET_DIR = '/etc/git-secret';
const HTTP_PORT = 8000;
/** A full commit id: SHA-1 (40 hex digits) or SHA-256 (64) object format. */
const COMMIT_ID = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

const HTTPS_URL = /^https:\/\/([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:\d+)?\/[^\s@?#]+$/;
const SSH_URL = /^(ssh:\/\/([A-Za-z0-9._-]+@)?[A-Za-z0-9.-]+(:\d+)?\/[^\s]+|[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^\s/][^\s]*)$/;

/** How git-sync authenticates. Credentials stay in a Secret, referenced by name. */
export class GitAuth {
  /** A public repository over HTTPS. */
  public static none(): GitAuth {
    return new GitAuth('none', '', {});
  }

  /**
   * HTTPS with a username and a password or token from a Secret (git-sync `GITSYNC_USERNAME`,
   * `GITSYNC_PASSWORD_FILE`).
   */
  public static https(props: { readonly secretName: string; readonly usernameKey?: string; readonly passwordKey?: string }): GitAuth {
    return new GitAuth('https', props.secretName, { username: props.usernameKey ?? 'username', password: props.passwordKey ?? 'password' });
  }

  /**
   * SSH with a private key and known_hosts from a Secret (git-sync `GITSYNC_SSH_KEY_FILE`,
   * `GITSYNC_SSH_KNOWN_HOSTS_FILE`). Host key checking always stays on: without it anyone on the
   * path can serve you DAGs. Create the Secret with
   * `kubectl create secret generic airflow-git-ssh --from-file=ssh=id_ed25519 --from-file=known_hosts`.
   */
  public static ssh(props: { readonly secretName: string; readonly privateKeyKey?: string; readonly knownHostsKey?: string }): GitAuth {
    return new GitAuth('ssh', props.secretName, { ssh: props.privateKeyKey ?? 'ssh', known_hosts: props.knownHostsKey ?? 'known_hosts' });
  }

  private constructor(
    public readonly kind: 'none' | 'https' | 'ssh',
    public readonly secretName: string,
    /** file name under /etc/git-secret -> Secret key */
    public readonly files: Readonly<Record<string, string>>,
  ) {}
}

/** Properties of {@link GitSync}. */
export interface GitSyncProps {
  /** The repository: `https://host/path` or SSH (`git@host:path`, `ssh://host/path`); no credentials in the URL. */
  readonly repository: string;
  /**
   * Branch, tag or commit to check out (`GITSYNC_REF`): a name `git check-ref-format` accepts, `HEAD`, or a commit id
   * (40 or 64 hex digits). @default 'HEAD' (the remote's default branch)
   */
  readonly ref?: string;
  /**
   * Require `ref` to be a full commit id (40 or 64 hex digits): a branch or tag can be moved to other code by whoever
   * may push to the repository, and that code then runs in every Airflow pod; a commit id changes only with a change
   * of your manifests (reviewed, in Git). The tier `prod` of AirflowChart sets it. @default false
   * @throws AirflowValidationError when `ref` is a branch, tag or `HEAD`
   */
  readonly requireCommit?: boolean;
  /** Folder inside the repository that holds the DAG files; a trailing '/' is dropped. @default '' (the repository root) */
  readonly subPath?: string;
  /** How often the sidecar pulls, as a Go duration (`GITSYNC_PERIOD`) of at least 10ms, e.g. '60s', '5m'. @default '60s' */
  readonly period?: string;
  /** Clone depth (`GITSYNC_DEPTH`); 0 for full history. @default 1 */
  readonly depth?: number;
  /** Consecutive failed syncs the sidecar tolerates before it exits (`GITSYNC_MAX_FAILURES`); -1 retries forever. @default 3 */
  readonly maxFailures?: number;
  /** @default GitAuth.none() */
  readonly auth?: GitAuth;
  /** @default DEFAULT_GIT_SYNC_IMAGE */
  readonly image?: string;
  /** @default requests 50m CPU / 64Mi, limit 256Mi */
  readonly resources?: ContainerResourcesProps;
}

/**
 * DAG files from Git with git-sync v4: a one-time init container in every pod that reads DAGs, so
 * that the files are there before Airflow starts, and in the dag-processor and triggerer a sidecar
 * that keeps them current, all writing to the `dags` emptyDir that Airflow containers mount read-only
 * at `/opt/airflow/dags`. DAGs appear at
 * {@link dagsFolder} in every pod, so task pods see them at the path the dag-processor saw.
 *
 * This construct emits no object of its own: the components that use it take its containers
 * ({@link sidecar}, {@link initContainer}) and {@link volumes} into their pods.
 * @see https://github.com/kubernetes/git-sync/blob/master/README.md
 */
export class GitSync extends Construct {
  /** `[core] dags_folder` for Airflow: `/opt/airflow/dags/repo[/<subPath>]`. */
  public readonly dagsFolder: string;
  /** The group a pod must set as `fsGroup` so git-sync can read its Secret files. */
  public readonly fsGroup = GIT_SYNC_UID;
  /** sha256 of the git-sync settings, for the pods' rollout annotation. */
  public readonly checksum: string;
  /** Seconds between syncs (`period`): the `[dag_processor] refresh_interval` that suits it. */
  public readonly periodSeconds: number;
  /** The TCP port git connects to: the URL's, else 443 for HTTPS and 22 for SSH (for egress NetworkPolicies). */
  public readonly port: number;
  private readonly env: k8s.EnvVar[];
  private readonly image: string;
  private readonly resources: k8s.ResourceRequirements;
  private readonly auth: GitAuth;

  /** @throws AirflowValidationError for a bad URL, auth that does not fit it, a bad period, depth, image or resources. */
  constructor(scope: Construct, id: string, props: GitSyncProps) {
    super(scope, id);
    checkKnownProps(this, props);
    const repository = props.repository;
    const isHttps = typeof repository === 'string' && HTTPS_URL.test(repository);
    const isSsh = typeof repository === 'string' && SSH_URL.test(repository);
    // credentials pasted into the URL are not repeated in the message
    const shown = typeof repository === 'string' ? redactUrlPasswords(repository).replace(/\/\/[^/@\s]*@/, '//<redacted>@').replace(/[?#].*$/, '?<redacted>') : repository;
    check(isHttps || isSsh, this, 'repository', shown,
      'an HTTPS URL (https://host/path, no credentials or query in it; use GitAuth.https) or an SSH address (git@host:path or ssh://host/path)');
    this.port = repositoryPort(repository, isSsh);
    this.auth = props.auth ?? GitAuth.none();
    check(isSsh === (this.auth.kind === 'ssh'), this, 'auth', this.auth.kind,
      isSsh ? 'GitAuth.ssh({ secretName }) for an SSH repository' : 'GitAuth.none() or GitAuth.https({ secretName }) for an HTTPS repository');
    if (this.auth.kind !== 'none') checkDnsSubdomain(this, 'auth.secretName', this.auth.secretName);
    for (const [file, key] of Object.entries(this.auth.files)) {
      const property = `auth.${file === 'known_hosts' ? 'knownHostsKey' : file}`;
      check(file !== 'known_hosts' || key !== '', this, property, key,
        'the Secret key holding known_hosts: SSH host key checking stays on (without it anyone on the path can serve DAGs)');
      checkSecretKey(this, property, key);
    }
    const ref = checkGitRef(this, props.ref ?? 'HEAD');
    check(typeof props.requireCommit === 'boolean' || props.requireCommit === undefined, this, 'requireCommit', props.requireCommit, 'true or false');
    check(!props.requireCommit || COMMIT_ID.test(ref), this, 'ref', ref,
      'a full commit id (40 or 64 hex digits, e.g. the output of `git rev-parse <tag>^{commit}`) with requireCommit (on in the tier prod): ' +
      'a branch or tag can be moved to other code, which would then run in Airflow');
    // a folder of the repository: any characters git allows but control characters and '\\', no "." or ".." segment
    const subPath = (props.subPath ?? '').replace(/\/+$/, '');
    check(typeof subPath === 'string' && (subPath === '' || (!/[\x00-\x1f\x7f\\]/.test(subPath) && subPath.trim() === subPath
      && subPath.split('/').every(s => s !== '' && s !== '.' && s !== '..'))), this, 'subPath', props.subPath,
      'a relative folder inside the repository, e.g. "dags" (no leading "/", no "." or ".." segment, no "\\" or control character)');
    const period = props.period ?? '60s';
    const seconds = parseDuration(period);
    check(seconds !== undefined && seconds >= 0.01, this, 'period', period,
      'a Go duration of at least 10ms (git-sync\'s minimum) and at most 2562047h47m16.854775807s (Go\'s limit), e.g. "60s" or "5m"');
    this.periodSeconds = Math.ceil(seconds!);
    const depth = checkWholeNumber(this, 'depth', props.depth ?? 1, 0);
    const maxFailures = props.maxFailures ?? 3;
    check(maxFailures === -1 || (Number.isInteger(maxFailures) && maxFailures >= 0), this, 'maxFailures', maxFailures,
      'a whole number >= 0, or -1 for git-sync to retry forever');
    this.image = checkImage(this, 'image', props.image ?? DEFAULT_GIT_SYNC_IMAGE);
    this.resources = renderResources(this, 'resources', props.resources, { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } });

    this.dagsFolder = `${AIRFLOW_HOME}/dags/${LINK}${subPath ? `/${subPath}` : ''}`;
    this.env = [
      { name: 'GITSYNC_REPO', value: repository },
      { name: 'GITSYNC_REF', value: ref },
      { name: 'GITSYNC_ROOT', value: ROOT },
      { name: 'GITSYNC_LINK', value: LINK },
      { name: 'GITSYNC_PERIOD', value: period },
      { name: 'GITSYNC_DEPTH', value: String(depth) },
      { name: 'GITSYNC_MAX_FAILURES', value: String(maxFailures) },
      ...(this.auth.kind === 'https' ? [
        { name: 'GITSYNC_USERNAME', valueFrom: { secretKeyRef: { name: this.auth.secretName, key: this.auth.files.username } } },
        { name: 'GITSYNC_PASSWORD_FILE', value: `${SECRET_DIR}/password` },
      ] : []),
      ...(this.auth.kind === 'ssh' ? [
        { name: 'GITSYNC_SSH_KEY_FILE', value: `${SECRET_DIR}/ssh` },
        { name: 'GITSYNC_SSH_KNOWN_HOSTS', value: 'true' },
        { name: 'GITSYNC_SSH_KNOWN_HOSTS_FILE', value: `${SECRET_DIR}/known_hosts` },
      ] : []),
    ];
    this.checksum = createHash('sha256').update(JSON.stringify([this.image, this.env, this.auth])).digest('hex');
  }

  /** The mount through which Airflow containers read the DAGs (read-only). */
  public dagsVolumeMount(): k8s.VolumeMount {
    return { name: 'dags', mountPath: `${AIRFLOW_HOME}/dags`, readOnly: true };
  }

  /** The volumes git-sync needs: `dags`, its `/tmp` (its HOME) and, with credentials, the Secret. */
  public volumes(): k8s.Volume[] {
    const volumes: k8s.Volume[] = [{ name: 'dags', emptyDir: {} }, { name: 'git-sync-tmp', emptyDir: {} }];
    if (this.auth.kind !== 'none') {
      const items = Object.entries(this.auth.files)
        .filter(([file]) => file !== 'username')
        .map(([file, key]) => ({ key, path: file }));
      volumes.push({ name: 'git-secret', secret: { secretName: this.auth.secretName, defaultMode: 0o440, items } });
    }
    return volumes;
  }

  /** The long-running sidecar for the dag-processor; ready once the first sync is done. */
  public sidecar(): k8s.Container {
    return {
      ...this.container('git-sync', [{ name: 'GITSYNC_HTTP_BIND', value: `:${HTTP_PORT}` }]),
      ports: [{ name: 'git-sync', containerPort: HTTP_PORT }],
      readinessProbe: { httpGet: { path: '/', port: k8s.IntOrString.fromNumber(HTTP_PORT) }, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 3 },
    };
  }

  /** The one-time init container (`GITSYNC_ONE_TIME=true`) that syncs before Airflow starts: task pods, and before a sidecar. */
  public initContainer(): k8s.Container {
    return this.container('git-sync-init', [{ name: 'GITSYNC_ONE_TIME', value: 'true' }]);
  }

  private container(name: string, extraEnv: k8s.EnvVar[]): k8s.Container {
    return {
      name,
      image: this.image,
      env: [...this.env, ...extraEnv],
      resources: this.resources,
      securityContext: restrictedContainerSecurity(GIT_SYNC_UID, GIT_SYNC_UID),
      volumeMounts: [
        { name: 'dags', mountPath: ROOT },
        { name: 'git-sync-tmp', mountPath: '/tmp' },
        ...(this.auth.kind === 'none' ? [] : [{ name: 'git-secret', mountPath: SECRET_DIR, readOnly: true }]),
      ],
    };
  }
}

/**
 * A ref git-sync can check out: `HEAD`, a commit id, or a branch or tag name by git's rules (`git check-ref-format
 * --branch`, https://git-scm.com/docs/git-check-ref-format): no "..", "@{", "//", control characters, space,
 * "~^:?*[\\"; no component beginning with "." or ending with ".lock"; not beginning with "-" or "/" (it would
 * read as an option), not ending with "/" or ".", not "@".
 */
function checkGitRef(scope: Construct, ref: string): string {
  const ok = typeof ref === 'string' && (COMMIT_ID.test(ref) || (
    ref !== '' && ref !== '@' && !/[\x00-\x20\x7f~^:?*[\\]|\.\.|@\{|\/\//.test(ref) && !/^[-/]|[/.]$/.test(ref)
    && ref.split('/').every(c => !c.startsWith('.') && !c.endsWith('.lock'))));
  check(ok, scope, 'ref', ref, 'a branch or tag name git accepts (git check-ref-format), "HEAD", or a commit id of 40 or 64 hex digits');
  return ref;
}

/** The port of `https://host[:port]/...`, `ssh://[user@]host[:port]/...` or 22 for `user@host:path` (no port in that form). */
function repositoryPort(repository: string, isSsh: boolean): number {
  const port = /^(?:https|ssh):\/\/(?:[^/@]+@)?(?:\[[^\]]+\]|[^/:]+):(\d+)\//.exec(repository)?.[1];
  return port !== undefined ? Number(port) : isSsh ? 22 : 443;
}
