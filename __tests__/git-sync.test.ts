import * as k8s from '../imports/k8s';
import { AirflowValidationError, GitAuth, GitSync, GitSyncProps } from '../lib';
import { allContainers, envOf, find, podSpec, synth, testChart } from './helpers';

const HTTPS_REPO = 'https://github.com/example/dags.git';
const SSH_REPO = 'git@github.com:example/dags.git';

/** A Pod that uses the git-sync init container, sidecar and volumes, synthesized to plain JSON. */
function pod(props: GitSyncProps) {
  const chart = testChart();
  const gitSync = new GitSync(chart, 'git-sync', props);
  new k8s.KubePod(chart, 'pod', {
    metadata: { name: 'p' },
    spec: {
      securityContext: { fsGroup: gitSync.fsGroup },
      initContainers: [gitSync.initContainer()],
      containers: [gitSync.sidecar()],
      volumes: gitSync.volumes(),
    },
  });
  const spec = podSpec(find(synth(chart), 'Pod', 'p'));
  const [init, sidecar] = allContainers(spec);
  return { gitSync, spec, init, sidecar };
}

describe('public HTTPS repository', () => {
  const { gitSync, spec, init, sidecar } = pod({ repository: HTTPS_REPO, ref: 'main', subPath: 'airflow/dags', period: '2m', depth: 1 });

  test('image is git-sync v4 from registry.k8s.io, pinned', () => {
    for (const c of [init, sidecar]) expect(c.image).toMatch(/^registry\.k8s\.io\/git-sync\/git-sync:v4\.\d+\.\d+$/);
  });

  test('env uses the v4 GITSYNC_ names only', () => {
    for (const c of [init, sidecar]) {
      const names = Object.keys(envOf(c));
      expect(names.length).toBeGreaterThan(5);
      for (const n of names) expect(n).toMatch(/^GITSYNC_/);
      expect(names.filter(n => n.startsWith('GIT_SYNC_'))).toEqual([]);
    }
  });

  test('repo, ref, root, link, period and depth', () => {
    const env = envOf(sidecar);
    expect(env.GITSYNC_REPO).toEqual({ value: HTTPS_REPO });
    expect(env.GITSYNC_REF).toEqual({ value: 'main' });
    expect(env.GITSYNC_PERIOD).toEqual({ value: '2m' });
    expect(env.GITSYNC_DEPTH).toEqual({ value: '1' });
    // The checkout appears at <root>/<link>; the root is the `dags` volume.
    const root = env.GITSYNC_ROOT.value!;
    expect(sidecar.volumeMounts).toContainEqual({ name: 'dags', mountPath: root });
    expect(env.GITSYNC_LINK.value).toMatch(/^[a-z]+$/);
    expect(gitSync.dagsFolder).toBe(`${gitSync.dagsVolumeMount().mountPath}/${env.GITSYNC_LINK.value}/airflow/dags`);
  });

  test('dagsFolder is /opt/airflow/dags/repo/<subPath>', () => {
    expect(gitSync.dagsFolder).toBe('/opt/airflow/dags/repo/airflow/dags');
    expect(new GitSync(testChart(), 'g', { repository: HTTPS_REPO }).dagsFolder).toBe('/opt/airflow/dags/repo');
    expect(gitSync.dagsVolumeMount()).toEqual({ name: 'dags', mountPath: '/opt/airflow/dags', readOnly: true });
  });

  test('the sidecar binds its HTTP endpoint and is ready through it; the init container syncs once', () => {
    const bind = envOf(sidecar).GITSYNC_HTTP_BIND.value!;
    const port = Number(bind.split(':').pop());
    expect(port).toBeGreaterThan(0);
    expect(sidecar.readinessProbe.httpGet.port).toBe(port);
    expect(sidecar.ports).toContainEqual(expect.objectContaining({ containerPort: port }));
    expect(envOf(sidecar).GITSYNC_ONE_TIME).toBeUndefined();
    expect(envOf(init).GITSYNC_ONE_TIME).toEqual({ value: 'true' });
    expect(envOf(init).GITSYNC_HTTP_BIND).toBeUndefined();
    expect(init.name).not.toBe(sidecar.name);
  });

  test('runs as 65533 under a restricted securityContext with a read-only root and a writable /tmp', () => {
    for (const c of [init, sidecar]) {
      const sc = c.securityContext;
      expect(sc).toMatchObject({
        runAsUser: 65533, runAsGroup: 65533, runAsNonRoot: true, allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' },
      });
      const tmp = c.volumeMounts.find((m: any) => m.mountPath === '/tmp');
      expect(spec.volumes.find((v: any) => v.name === tmp.name).emptyDir).toBeDefined();
      expect(c.resources.requests.cpu).toBeDefined();
      expect(c.resources.requests.memory).toBeDefined();
      expect(c.resources.limits.memory).toBeDefined();
    }
    expect(gitSync.fsGroup).toBe(65533);
  });

  test('no credentials: no Secret volume', () => {
    expect(spec.volumes.filter((v: any) => v.secret)).toEqual([]);
  });
});

test('HTTPS auth: username from the Secret, password only as a file from the mounted Secret', () => {
  const { sidecar, init, spec } = pod({ repository: HTTPS_REPO, auth: GitAuth.https({ secretName: 'git-creds', passwordKey: 'token' }) });
  for (const c of [sidecar, init]) {
    const env = envOf(c);
    expect(env.GITSYNC_USERNAME).toEqual({ secret: 'git-creds', key: 'username' });
    expect(env.GITSYNC_PASSWORD).toBeUndefined();
    const file = env.GITSYNC_PASSWORD_FILE.value!;
    const mount = c.volumeMounts.find((m: any) => file.startsWith(m.mountPath + '/'));
    expect(mount.readOnly).toBe(true);
    const volume = spec.volumes.find((v: any) => v.name === mount.name);
    expect(volume.secret.secretName).toBe('git-creds');
    expect(volume.secret.items).toContainEqual({ key: 'token', path: file.slice(mount.mountPath.length + 1) });
  }
});

test('SSH auth: key file and known_hosts from the mounted Secret, host checking on, fsGroup 65533', () => {
  const { gitSync, sidecar, spec } = pod({ repository: SSH_REPO, auth: GitAuth.ssh({ secretName: 'git-ssh' }) });
  const env = envOf(sidecar);
  expect(env.GITSYNC_SSH_KNOWN_HOSTS).toEqual({ value: 'true' });
  const mount = sidecar.volumeMounts.find((m: any) => env.GITSYNC_SSH_KEY_FILE.value!.startsWith(m.mountPath + '/'));
  const volume = spec.volumes.find((v: any) => v.name === mount.name);
  expect(volume.secret.secretName).toBe('git-ssh');
  const paths = volume.secret.items.map((i: any) => `${mount.mountPath}/${i.path}`);
  expect(paths).toContain(env.GITSYNC_SSH_KEY_FILE.value);
  expect(paths).toContain(env.GITSYNC_SSH_KNOWN_HOSTS_FILE.value);
  expect(volume.secret.items).toContainEqual({ key: 'known_hosts', path: 'known_hosts' });
  // Secret files are root-owned; group read through fsGroup is how uid 65533 reads them.
  expect(gitSync.fsGroup).toBe(65533);
  expect(spec.securityContext.fsGroup).toBe(65533);
  expect(volume.secret.defaultMode & 0o040).toBe(0o040);
  expect(volume.secret.defaultMode & 0o007).toBe(0);
});

test('checksum changes with the settings and is stable for equal input', () => {
  const a = new GitSync(testChart(), 'g', { repository: HTTPS_REPO }).checksum;
  expect(new GitSync(testChart(), 'g', { repository: HTTPS_REPO }).checksum).toBe(a);
  expect(new GitSync(testChart(), 'g', { repository: HTTPS_REPO, ref: 'v2' }).checksum).not.toBe(a);
});

describe('invalid input', () => {
  test.each<[string, Partial<GitSyncProps>, RegExp]>([
    ['plain http URL', { repository: 'http://github.com/x/y.git' }, /repository/],
    ['credentials in the URL', { repository: 'https://user:pw@github.com/x.git' }, /repository/],
    ['user in the URL', { repository: 'https://user@github.com/x.git' }, /repository/],
    ['SSH URL without SSH auth', { repository: SSH_REPO, auth: GitAuth.none() }, /auth/],
    ['SSH URL with HTTPS auth', { repository: SSH_REPO, auth: GitAuth.https({ secretName: 's' }) }, /auth/],
    ['HTTPS URL with SSH auth', { repository: HTTPS_REPO, auth: GitAuth.ssh({ secretName: 's' }) }, /auth/],
    ['SSH without known_hosts', { repository: SSH_REPO, auth: GitAuth.ssh({ secretName: 's', knownHostsKey: '' }) }, /known_hosts/],
    ['period without unit', { repository: HTTPS_REPO, period: '60' }, /period/],
    ['period in words', { repository: HTTPS_REPO, period: '1 minute' }, /period/],
    ['negative depth', { repository: HTTPS_REPO, depth: -1 }, /depth/],
    ['subPath leaving the repository', { repository: HTTPS_REPO, subPath: '../etc' }, /subPath/],
    ['absolute subPath', { repository: HTTPS_REPO, subPath: '/etc' }, /subPath/],
    ['unpinned image', { repository: HTTPS_REPO, image: 'registry.k8s.io/git-sync/git-sync:latest' }, /image/],
    ['bad Secret name', { repository: HTTPS_REPO, auth: GitAuth.https({ secretName: 'Bad_Name' }) }, /auth\.secretName/],
  ])('%s is rejected', (_, props, message) => {
    const create = () => new GitSync(testChart(), 'g', { repository: HTTPS_REPO, ...props });
    expect(create).toThrow(AirflowValidationError);
    expect(create).toThrow(message);
  });

  test('the valid forms are accepted', () => {
    for (const repository of [HTTPS_REPO, 'https://git.example.com:8443/team/dags']) {
      expect(() => new GitSync(testChart(), 'g', { repository })).not.toThrow();
    }
    for (const repository of [SSH_REPO, 'ssh://git@github.com/example/dags.git']) {
      expect(() => new GitSync(testChart(), 'g', { repository, auth: GitAuth.ssh({ secretName: 's' }) })).not.toThrow();
    }
    expect(() => new GitSync(testChart(), 'g', { repository: HTTPS_REPO, period: '1m30s', depth: 0 })).not.toThrow();
  });
});
