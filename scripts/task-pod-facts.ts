// What a task pod must not carry, checked on the pods the KubernetesExecutor really creates (the
// integration tests and npm run e2e): Airflow 3 tasks talk to the Task Execution API, so they need no
// database URL, no secret of the installation and no Kubernetes API token.

/** Ways a task pod spec leaks what it must not have; empty when it has none. */
export function taskPodLeaks(spec: any): string[] {
  const problems: string[] = [];
  // git-sync's own credentials (env or a Secret volume only git-sync containers mount) are no leak.
  const gitSync = (c: any) => (c.env ?? []).some((e: any) => e.name === 'GITSYNC_REPO');
  const containers = [...(spec.initContainers ?? []), ...(spec.containers ?? [])];
  for (const c of containers) {
    for (const e of c.env ?? []) {
      if (/SQL_ALCHEMY|DATABASE|FERNET|JWT|SECRET_KEY/.test(e.name)) problems.push(`${c.name}: env ${e.name}`);
      if (/postgres(ql)?(\+\w+)?:\/\//.test(e.value ?? '')) problems.push(`${c.name}: env ${e.name} holds a database URL`);
      if (e.valueFrom?.secretKeyRef && !gitSync(c)) problems.push(`${c.name}: env ${e.name} from Secret ${e.valueFrom.secretKeyRef.name}`);
    }
    for (const f of c.envFrom ?? []) if (f.secretRef) problems.push(`${c.name}: envFrom Secret ${f.secretRef.name}`);
  }
  if (spec.automountServiceAccountToken !== false) problems.push('automountServiceAccountToken is not false');
  for (const v of spec.volumes ?? []) {
    if (v.projected) problems.push(`volume ${v.name}: projected (a token)`);
    const readers = containers.filter(c => (c.volumeMounts ?? []).some((m: any) => m.name === v.name));
    if (v.secret && readers.some(c => !gitSync(c))) problems.push(`volume ${v.name}: Secret ${v.secret.secretName} mounted by ${readers.filter(c => !gitSync(c)).map(c => c.name).join(', ')}`);
  }
  return problems;
}
