// The PostgresBackup CronJob's script, run for real: the CronJob's pod as the kubelet would run it
// (SandboxPod: uid 999, fsGroup, a read-only root, only the claim writable, env resolved from the Secret),
// against a throwaway PostgreSQL (Debian's server binaries, which scripts/integration/setup.sh installs) in
// a private network namespace where airflow-postgresql:5432 resolves to it. No skipping: without
// PostgreSQL, bwrap or root this fails. The CronJob's shape and the script's text are unit tests:
// __tests__/postgres-backup.test.ts.
import { chownSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'fs';
import { join } from 'path';
import { DEFAULT_POSTGRES_IMAGE } from '../../lib';
import { postgresBin, postgresImage } from '../../scripts/integration/images';
import { Process, RunResult, setup, TestHost } from '../../scripts/integration/host';
import { ImageRuntime, SandboxPod } from '../../scripts/integration/sandbox';
import { makeBackup as make } from '../maintenance-jobs';

// setup.sh may install PostgreSQL and the rest (cold: minutes); each run of the backup pod waits up to a minute.
jest.setTimeout(600_000);

const PASSWORD = 'backup-test-password';

describe('the script, run for real against PostgreSQL', () => {
  let bin: string;
  let image: ImageRuntime;
  let host: TestHost;
  let server: Process;
  let volume: string;
  let password = PASSWORD;
  const { spec } = make();
  const sources = {
    secret: (name: string) => (name === 'airflow-postgresql' ? { password } : undefined),
    configMap: () => undefined,
    persistentVolume: (claim: string) => { expect(claim).toBe('airflow-postgresql-backup'); return volume; },
    image: (ref: string) => { expect(ref).toBe(DEFAULT_POSTGRES_IMAGE); return image; },
  };
  /** Runs the backup container of a fresh pod of the CronJob (a Job's pod); `extraEnv` as `kubectl set env` would add it. */
  const runJob = (extraEnv: Record<string, string> = {}, podSpec: any = spec): RunResult => {
    const pod = new SandboxPod(host, `airflow-postgresql-backup-${Date.now()}`, 'airflow-test', podSpec, sources);
    const container = pod.container('backup');
    return host.inNetns(pod.sandboxArgv(container, pod.containerArgv(container), extraEnv), { timeout: 60_000 });
  };
  const sql = (database: string, command: string): string => {
    const r = host.inNetns([join(bin, 'psql'), '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-U', 'airflow', '-d', database, '-c', command],
      { env: { ...process.env, PGPASSWORD: PASSWORD } });
    if (r.status !== 0) throw new Error(`psql -d ${database} -c ${command}: ${r.stderr}`);
    return r.stdout.trim();
  };
  const files = () => readdirSync(volume).sort();
  // dump names have whole seconds, and a backup refuses to overwrite one: the next backup in a new second
  const nextSecond = () => new Promise(resolve => setTimeout(resolve, 1001 - (Date.now() % 1000)));
  const daysAgo = (days: number) => new Date(Date.now() - days * 86_400_000);
  const stamp = (d: Date) => d.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const fake = (name: string, age: Date) => {
    writeFileSync(join(volume, name), 'not a dump');
    chownSync(join(volume, name), 999, 999);
    utimesSync(join(volume, name), age, age);
  };
  const DAG_RUNS = "1|example|success\n2|example|failed\n3|other|running";

  beforeAll(async () => {
    const cache = setup(); // TestHost's cache folder: only its kubectl is there, unused here
    bin = postgresBin();
    image = postgresImage();
    host = new TestHost(cache, 'backup');
    host.addHostNames('airflow-postgresql');
    volume = join(host.dir, 'airflow-postgresql-backup');
    mkdirSync(volume);
    server = await host.startPostgres('airflow', PASSWORD, 'airflow', 5432);
    sql('airflow', "CREATE TABLE dag_run (id int PRIMARY KEY, dag_id text NOT NULL, state text); INSERT INTO dag_run VALUES (1, 'example', 'success'), (2, 'example', 'failed'), (3, 'other', 'running'); CREATE TABLE log (id serial PRIMARY KEY, event text); INSERT INTO log (event) VALUES ('a'), ('b');");
  }, 3600_000);

  afterAll(async () => {
    await server?.stop();
    await host?.stop();
  });

  let dump = '';

  test('a backup: one new verified dump; dumps older than 30 days and a stale partial file deleted; the rest kept', () => {
    const old = `airflow-${stamp(daysAgo(40))}.dump`;
    const recent = `airflow-${stamp(daysAgo(29))}.dump`;
    fake(old, daysAgo(40));
    fake(recent, daysAgo(29));
    fake('.airflow-20000101T000000Z.dump.partial', new Date(Date.now() - 2 * 3600_000));
    fake('notes.txt', daysAgo(400)); // not a dump: never deleted
    const r = runJob();
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
    const made = files().filter(f => /^airflow-\d{8}T\d{6}Z\.dump$/.test(f) && f !== recent);
    expect(made).toHaveLength(1);
    dump = made[0];
    expect(files()).toEqual([dump, recent, 'notes.txt'].sort());
    expect(Math.abs(Date.parse(dump.replace(/^airflow-(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z\.dump$/, '$1-$2-$3T$4:$5:$6Z')) - Date.now())).toBeLessThan(120_000);
    expect(readFileSync(join(volume, dump)).subarray(0, 5).toString()).toBe('PGDMP'); // pg_dump's custom format
    const st = statSync(join(volume, dump));
    expect({ uid: st.uid, gid: st.gid, mode: (st.mode & 0o777).toString(8) }).toEqual({ uid: 999, gid: 999, mode: '640' });
    expect(r.stdout).toContain('deleted the unfinished .airflow-20000101T000000Z.dump.partial');
    expect(r.stdout).toContain(`deleted ${old} (older than 30 days)`);
    expect(r.stdout).toMatch(new RegExp(`^wrote ${dump}: \\d+ bytes, 2 tables, read back in full$`, 'm'));
    expect(r.stdout).toMatch(new RegExp(`^kept:\\n  ${recent} 10 bytes\\n  ${dump} \\d+ bytes$`, 'm'));
  });

  test('the dump restores into a fresh database with every row', () => {
    sql('airflow', 'CREATE DATABASE fresh');
    const r = host.inNetns([join(bin, 'pg_restore'), '--exit-on-error', '-h', '127.0.0.1', '-U', 'airflow', '-d', 'fresh', join(volume, dump)],
      { env: { ...process.env, PGPASSWORD: PASSWORD } });
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
    expect(sql('fresh', 'SELECT id, dag_id, state FROM dag_run ORDER BY id')).toBe(DAG_RUNS);
    expect(sql('fresh', 'SELECT count(*) FROM log')).toBe('2');
  });

  test('RESTORE=latest (the README\'s restore Job) puts the database back as the dump has it', () => {
    sql('airflow', "DELETE FROM dag_run WHERE id = 1; UPDATE dag_run SET state = 'queued' WHERE id = 2; INSERT INTO dag_run VALUES (4, 'new', 'success'); DROP TABLE log;");
    const r = runJob({ RESTORE: 'latest' });
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
    expect(r.stdout).toBe(`restoring ${dump} into database airflow on airflow-postgresql:5432\nrestored ${dump}\n`);
    expect(sql('airflow', 'SELECT id, dag_id, state FROM dag_run ORDER BY id')).toBe(DAG_RUNS);
    expect(sql('airflow', 'SELECT count(*) FROM log')).toBe('2');
    expect(files()).toContain(dump); // a restore writes and deletes nothing
  });

  test('RESTORE=<name> restores that dump; a name that is no dump there fails and lists the dumps, a path is refused', () => {
    const named = runJob({ RESTORE: dump });
    expect({ status: named.status, stderr: named.stderr }).toEqual({ status: 0, stderr: '' });
    const missing = runJob({ RESTORE: 'airflow-19990101T000000Z.dump' });
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain(dump);
    const path = runJob({ RESTORE: '../etc/passwd' });
    expect(path.status).toBe(2);
  });

  test('a restore that fails half-way changes nothing: it is one transaction', () => {
    // A view made after the backup depends on dag_run: pg_restore --clean has dropped `log` (its tables go in
    // reverse order) when DROP TABLE dag_run fails, and the whole restore rolls back.
    sql('airflow', "INSERT INTO dag_run VALUES (5, 'after', 'success'); CREATE VIEW made_after AS SELECT * FROM dag_run");
    try {
      const r = runJob({ RESTORE: 'latest' });
      expect(r.status).not.toBe(0);
      expect(r.stdout).toBe(`restoring ${dump} into database airflow on airflow-postgresql:5432\n`);
      expect(r.stderr).toMatch(/cannot drop table public\.dag_run because other objects depend on it/);
      expect(sql('airflow', 'SELECT count(*) FROM dag_run WHERE id = 5')).toBe('1');
      expect(sql('airflow', 'SELECT count(*) FROM log')).toBe('2');
    } finally {
      sql('airflow', 'DROP VIEW made_after; DELETE FROM dag_run WHERE id = 5');
    }
  });

  test('a damaged dump is refused before the database is touched', () => {
    const broken = 'airflow-29990101T000000Z.dump'; // the newest name: what RESTORE=latest picks
    const bytes = readFileSync(join(volume, dump));
    writeFileSync(join(volume, broken), bytes.subarray(0, Math.floor(bytes.length * 0.8)));
    chownSync(join(volume, broken), 999, 999);
    try {
      const r = runJob({ RESTORE: 'latest' });
      expect(r.status).not.toBe(0);
      expect(r.stdout).toBe(''); // `pg_restore --list` failed: no "restoring"
      expect(r.stderr).toMatch(/pg_restore: error: /);
      expect(sql('airflow', 'SELECT id, dag_id, state FROM dag_run ORDER BY id')).toBe(DAG_RUNS);
    } finally {
      rmSync(join(volume, broken));
    }
  });

  test('a backup whose connections are refused at first (a NetworkPolicy enforcer not yet admitting the new pod) waits and then dumps', async () => {
    await nextSecond();
    const before = files();
    // what kube-router does to a pod it has not seen yet: a TCP reset for every connection to PostgreSQL
    const rule = ['INPUT', '-p', 'tcp', '--dport', '5432', '-j', 'REJECT', '--reject-with', 'tcp-reset'];
    const iptables = (op: string) => { const r = host.inNetns(['iptables', op, ...rule]); if (r.status !== 0) throw new Error(`iptables ${op}: ${r.stderr}`); };
    iptables('-I');
    const pod = new SandboxPod(host, `airflow-postgresql-backup-${Date.now()}`, 'airflow-test', spec, sources);
    const job = pod.start('backup');
    await new Promise(resolve => setTimeout(resolve, 4000));
    const stillWaiting = job.running;
    iptables('-D');
    const code = await job.exited;
    expect({ stillWaiting, code }).toEqual({ stillWaiting: true, code: 0 });
    expect(job.output).toMatch(/waited ([4-9]|\d\d) s for PostgreSQL on airflow-postgresql:5432/);
    expect(job.output).toMatch(/wrote airflow-\d{8}T\d{6}Z\.dump: \d+ bytes, 2 tables, read back in full/);
    expect(files().filter(f => !before.includes(f))).toHaveLength(1);
  });

  test('a failed backup (wrong password) leaves no partial file and deletes no old dump', async () => {
    await nextSecond();
    const old = `airflow-${stamp(daysAgo(45))}.dump`;
    fake(old, daysAgo(45));
    const before = files();
    password = 'wrong';
    try {
      const r = runJob();
      expect(r.status).not.toBe(0);
      expect(r.stderr).toMatch(/password authentication failed/);
    } finally {
      password = PASSWORD;
    }
    expect(files()).toEqual(before);
    rmSync(join(volume, old));
  });

  test('with an upload step: the dump is the init container, then the step reads the dumps (read-only) and writes only /tmp', async () => {
    await nextSecond();
    const upload = {
      image: DEFAULT_POSTGRES_IMAGE, // a stand-in for an uploader's image (rclone, aws-cli)
      command: ['/bin/sh', '-c', 'set -eu; newest="$(ls "$BACKUP_DIR"/airflow-*.dump | tail -n 1)"; echo "would upload $newest"; if touch "$BACKUP_DIR/x" 2>/dev/null; then exit 3; fi; touch "$HOME/ok"'],
    };
    const podSpec = make({ upload }).spec;
    const pod = new SandboxPod(host, 'airflow-postgresql-backup-upload', 'airflow-test', podSpec, sources);
    const [dumped] = pod.runInitContainers(60);
    expect(dumped.stdout).toMatch(/^wrote airflow-\d{8}T\d{6}Z\.dump: /m);
    const newest = /^wrote (\S+):/m.exec(dumped.stdout)![1];
    const uploaded = pod.runToCompletion('upload', 30);
    expect(uploaded.stdout).toBe(`would upload /backups/${newest}\n`);
  });
});
