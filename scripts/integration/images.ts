// Stand-ins for the images the manifests name, for SandboxPod: what each image's Dockerfile sets (ENV,
// USER, WORKDIR, its users) and what its entrypoint runs. There is no container registry here, so the
// programs come from the host: Airflow from the locked venv, git from Debian.
import { execFileSync } from 'child_process';
import { cpSync, mkdirSync, symlinkSync } from 'fs';
import { join } from 'path';
import { ImageRuntime } from './sandbox';

/**
 * The official apache/airflow image (docs: "Docker image" / entrypoint): USER airflow (50000, group 0),
 * HOME /home/airflow, WORKDIR and AIRFLOW_HOME /opt/airflow. Its /entrypoint runs the args: `bash ...` and
 * `python ...` as they are, `airflow X ...` and a bare `X ...` as `airflow X ...`. (Its database wait, which
 * CONNECTION_CHECK_MAX_COUNT=0 turns off, is not reproduced: the tests wait for the database themselves.)
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
    argv(command, args = []) {
      if (command) return [...command, ...args];
      const [first, ...rest] = args;
      if (first === 'bash') return ['/bin/bash', ...rest];
      if (first === 'python') return [join(bin, 'python'), ...rest];
      if (first === 'airflow') return [join(bin, 'airflow'), ...rest];
      return [join(bin, 'airflow'), ...args];
    },
  };
}

/**
 * The official postgres image, for its users and environment only: the tests run Debian's PostgreSQL
 * server themselves (TestHost.startPostgres) from what this image's env asks for.
 */
export function postgresImage(): ImageRuntime {
  return {
    env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', PGDATA: '/var/lib/postgresql/data', LANG: 'en_US.utf8' },
    user: { uid: 999, gid: 999 },
    workingDir: '/',
    passwd: ['postgres:x:999:999::/var/lib/postgresql:/bin/bash'],
    dirs: [],
    argv() { throw new Error('the postgres image is not run in a sandbox: TestHost.startPostgres runs PostgreSQL'); },
  };
}

/** The environment of a container, as the manifest gives it (value entries only). */
export function literalEnv(container: any): Record<string, string> {
  return Object.fromEntries((container.env ?? []).filter((e: any) => e.value !== undefined).map((e: any) => [e.name, e.value]));
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
 * Lays out a git-sync v4 checkout of `ref` from `repository` into `root` (the volume git-sync's
 * GITSYNC_ROOT is on), as git-sync does: `root` is a git repository, the checkout is the worktree
 * `root/.worktrees/<commit>`, and `root/<link>` is a relative symlink to it (kubernetes/git-sync v4
 * main.go: publishSymlink, worktreeFor). Returns the commit.
 */
export function gitSyncLayout(root: string, repository: string, ref: string, link: string, depth = 1): string {
  const git = (...args: string[]) => execFileSync('git', ['-C', root, ...args], { encoding: 'utf8', stdio: 'pipe' }).trim();
  git('init', '-q');
  git('fetch', '-q', `--depth=${depth}`, repository, ref);
  const commit = git('rev-parse', 'FETCH_HEAD^{commit}');
  git('worktree', 'add', '-q', '--detach', `.worktrees/${commit}`, commit);
  symlinkSync(`.worktrees/${commit}`, join(root, link));
  return commit;
}
