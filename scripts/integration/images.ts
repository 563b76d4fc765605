// Stand-ins for the images the manifests name, for SandboxPod: what each image's Dockerfile sets (ENV,
// USER, WORKDIR, its users) and what its entrypoint runs. There is no container registry here, so the
// programs come from the host: Airflow from the locked venv, git from Debian.
import { execFileSync, spawnSync } from 'child_process';
import { cpSync, existsSync, mkdirSync } from 'fs';
import { join } from 'path';
import { REPO } from './host';
import { ImageRuntime } from './sandbox';

/**
 * The official apache/airflow image: USER airflow (50000, group 0), HOME /home/airflow, WORKDIR and
 * AIRFLOW_HOME /opt/airflow, and as ENTRYPOINT scripts/images/airflow-entrypoint.sh, which keeps the
 * documented contract of the official /entrypoint (the group check, the `airflow db check` wait unless
 * CONNECTION_CHECK_MAX_COUNT=0, and how it runs `bash`, `python` and `airflow` arguments).
 */
export function airflowImage(venv: string): ImageRuntime {
  const bin = join(venv, 'bin');
  return {
    env: {
      PATH: `${bin}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
      HOME: '/home/airflow',
      AIRFLOW_HOME: '/opt/airflow',
      AIRFLOW_USER_HOME_DIR: '/home/airflow',
      LANG: 'C.UTF-8',
      LC_ALL: 'C.UTF-8',
    },
    user: { uid: 50000, gid: 0 },
    workingDir: '/opt/airflow',
    passwd: ['airflow:x:50000:0::/home/airflow:/bin/bash'],
    dirs: ['/home/airflow', '/opt/airflow'],
    files: [[join(REPO, 'scripts', 'images', 'airflow-entrypoint.sh'), '/entrypoint']],
    argv(command, args = []) { return command ? [...command, ...args] : ['/bin/bash', '/entrypoint', ...args]; },
  };
}

/** The bin folder of the newest PostgreSQL that Debian's packages installed here (setup.sh installs one). */
export function postgresBin(): string {
  const r = spawnSync('sh', ['-c', 'ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1'], { encoding: 'utf8' });
  const bin = r.stdout.trim();
  if (!bin || !existsSync(join(bin, 'pg_dump'))) throw new Error('no PostgreSQL under /usr/lib/postgresql/*/bin: run scripts/integration/setup.sh (apt-get install postgresql)');
  return bin;
}

/**
 * The official postgres image: its users, its environment, and its PostgreSQL's bin folder on PATH (here
 * Debian's, first: /usr/bin/pg_dump is postgresql-common's Perl wrapper, which warns about the image's locale).
 * A container's command (the backup's) replaces the image's entrypoint; the server itself is not run in a
 * sandbox: TestHost.startPostgres runs PostgreSQL from what this image's env asks for.
 */
export function postgresImage(): ImageRuntime {
  const bin = postgresBin();
  return {
    env: { PATH: `${bin}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`, PGDATA: '/var/lib/postgresql/data', LANG: 'en_US.utf8' },
    user: { uid: 999, gid: 999 },
    workingDir: '/',
    passwd: ['postgres:x:999:999::/var/lib/postgresql:/bin/bash'],
    dirs: [],
    argv(command, args = []) {
      if (!command) throw new Error('the postgres server is not run in a sandbox: TestHost.startPostgres runs PostgreSQL');
      return [...command, ...args];
    },
  };
}

/**
 * The official chart's PgBouncer image (apache/airflow:airflow-pgbouncer-*, chart/dockerfiles/pgbouncer):
 * USER nobody (65534), the binary `pgbouncer` on PATH. PgBouncer 1.24.1 built from Debian's source
 * (scripts/integration/build-pgbouncer.sh, in the cache folder) stands in for the image's 1.23.1.
 */
export function pgbouncerImage(cache: string): ImageRuntime {
  const bin = join(cache, 'pgbouncer-1.24.1', 'bin');
  if (!existsSync(join(bin, 'pgbouncer'))) throw new Error(`no PgBouncer in ${bin}: run scripts/integration/setup.sh`);
  return {
    env: { PATH: `${bin}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin` },
    user: { uid: 65534, gid: 65534 },
    workingDir: '/',
    passwd: [],
    dirs: [],
    argv(command, args = []) { return [...(command ?? ['/usr/bin/pgbouncer', '-u', 'nobody', '/etc/pgbouncer/pgbouncer.ini']), ...args]; },
  };
}

/**
 * git-sync v4 (registry.k8s.io/git-sync/git-sync), whose source the Go module proxy does not serve: USER
 * 65533, HOME /tmp, and as entrypoint scripts/integration/git-sync-standin.sh, which keeps git-sync's
 * GITSYNC_* contract and on-disk layout. The repositories the manifests name are not reachable here, so
 * git's `url.<local>.insteadOf` sends each URL of `repositories` (URL -> host folder) to a local copy.
 * @param firstSyncDelaySeconds see GITSYNC_STANDIN_FIRST_SYNC_DELAY in the stand-in
 * @param commits upstream commit id -> the stand-in repository's commit that stands in for it (GITSYNC_STANDIN_COMMITS)
 */
export function gitSyncImage(repositories: Record<string, string>, firstSyncDelaySeconds = 0, commits: Record<string, string> = {}): ImageRuntime {
  const urls = Object.entries(repositories);
  const config: Record<string, string> = { GIT_CONFIG_COUNT: String(urls.length) };
  urls.forEach(([url], i) => {
    config[`GIT_CONFIG_KEY_${i}`] = `url.file:///srv/git/${i}.insteadOf`;
    config[`GIT_CONFIG_VALUE_${i}`] = url;
  });
  return {
    env: {
      PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/tmp', GITSYNC_STANDIN_FIRST_SYNC_DELAY: String(firstSyncDelaySeconds),
      GITSYNC_STANDIN_COMMITS: Object.entries(commits).map(([upstream, local]) => `${upstream}=${local}`).join(' '), ...config,
    },
    user: { uid: 65533, gid: 65533 },
    workingDir: '/',
    passwd: ['git-sync:x:65533:65533::/tmp:/sbin/nologin'],
    dirs: [],
    files: [[join(__dirname, 'git-sync-standin.sh'), '/git-sync'], ...urls.map(([, dir], i): [string, string] => [dir, `/srv/git/${i}`])],
    argv(command, args = []) { return command ? [...command, ...args] : ['/bin/bash', '/git-sync', ...args]; },
  };
}

/**
 * A Git repository holding `files` (host folder -> path in the repository), committed and tagged `ref`,
 * to stand in for the DAG repository a preset names (which is not reachable from here).
 */
export function makeDagRepository(dir: string, files: Record<string, string>, ref: string): string {
  mkdirSync(dir, { recursive: true });
  for (const [from, to] of Object.entries(files)) cpSync(from, join(dir, to), { recursive: true, filter: src => !src.includes('__pycache__') });
  const git = (...args: string[]) => execFileSync('git', ['-C', dir, '-c', 'user.name=test', '-c', 'user.email=test@localhost', ...args], { stdio: 'pipe' });
  git('init', '-q', '-b', 'main');
  git('add', '-A');
  git('commit', '-q', '-m', 'DAGs');
  git('tag', ref);
  return dir;
}

/**
 * prom/statsd-exporter (github.com/prometheus/statsd_exporter's Dockerfile): USER 65534 (nobody), ENTRYPOINT
 * /bin/statsd_exporter. The binary is statsd_exporter of the default image's version, built from the Go module proxy
 * (scripts/integration/build-statsd-exporter.sh, in the cache folder), at /statsd_exporter: the sandbox's /bin is the
 * host's, read-only.
 */
export function statsdExporterImage(cache: string, version: string): ImageRuntime {
  const bin = join(cache, `statsd-exporter-${version}`, 'bin', 'statsd_exporter');
  if (!existsSync(bin)) throw new Error(`no statsd_exporter at ${bin}: run scripts/integration/setup.sh`);
  return {
    env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' },
    user: { uid: 65534, gid: 65534 },
    workingDir: '/',
    passwd: [],
    dirs: [],
    files: [[bin, '/statsd_exporter']],
    argv(command, args = []) { return [...(command ?? ['/statsd_exporter']), ...args]; },
  };
}
