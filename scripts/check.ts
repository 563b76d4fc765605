// npm run check [-- [--json] [--schema FILE]... [--allow-unknown-kinds] [paths...]]
//
// Validates Kubernetes YAML (default: dist/) with the checks the tests apply to our own output, so
// that a GitOps pipeline can gate a pull request on it:
//   schema:       strict Kubernetes 1.28 and 1.36 JSON schemas, unknown fields rejected, each finding naming
//                 the version it fails (scripts/schema.ts; --schema FILE, repeatable, replaces them);
//   pod security: Pod Security Standards "restricted" by @monokle/validation (scripts/policy.ts);
//   hygiene:      no Secret data, no null, no credential in env values or URLs, pinned images,
//                 requests and memory limits on every container (scripts/hygiene.ts).
// KubernetesExecutor pod templates kept in ConfigMaps are checked as Pods. An object of a kind only the
// newer schemas have (admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy, GA in 1.30) is checked
// against those and listed as needing that version. Objects of kinds no schema has (custom resources) fail
// the schema check unless --allow-unknown-kinds; then they are counted as skipped. Exits 1 on any finding.
import { parseArgs } from 'util';
import { hygieneProblems } from './hygiene';
import { loadManifests, yamlFiles } from './manifests';
import { checkPodSecurity, POD_KINDS } from './policy';
import { K8S_SCHEMAS, SchemaValidator } from './schema';

export interface CheckReport {
  /** The schemas validated against, e.g. "Kubernetes 1.28". */
  schemas: string[];
  files: number;
  objects: number;
  podTemplates: number;
  podSpecsChecked: number;
  unknownKindsSkipped: number;
  /**
   * Objects of a kind only the newer schemas have (`ValidatingAdmissionPolicy` of admissionregistration.k8s.io/v1,
   * GA in 1.30): validated against those, and listed here with the oldest version that has the kind.
   */
  newerKinds: string[];
  schemaErrors: string[];
  policyViolations: string[];
  hygieneProblems: string[];
}

export async function check(paths: string[], schemaPaths = K8S_SCHEMAS, allowUnknownKinds = false): Promise<CheckReport> {
  const manifests = loadManifests(paths);
  const schemas = schemaPaths.map(p => new SchemaValidator(p, allowUnknownKinds));
  const violations = await checkPodSecurity(manifests);
  return {
    schemas: schemas.map(s => s.label),
    files: yamlFiles(paths).length,
    objects: manifests.filter(m => !m.embeddedIn).length,
    podTemplates: manifests.filter(m => m.embeddedIn).length,
    podSpecsChecked: manifests.filter(m => POD_KINDS.includes(m.object.kind ?? '')).length,
    unknownKindsSkipped: allowUnknownKinds ? manifests.filter(m => schemas.some(s => !s.knows(m))).length : 0,
    newerKinds: manifests.filter(m => schemas.some(s => s.knows(m)) && !schemas[0].knows(m))
      .map(m => `${m.source} (${m.object.kind} ${m.object.metadata?.name}): not a ${schemas[0].label} kind; checked against ${schemas.filter(s => s.knows(m)).map(s => s.label).join(', ')}`),
    // an object is judged by every schema that has its kind; a kind none has is an error (unless allowed)
    schemaErrors: manifests.flatMap(m => (schemas.some(s => s.knows(m)) ? schemas.filter(s => s.knows(m)) : schemas).flatMap(s => s.validate(m))),
    policyViolations: violations.map(v => `${v.object}: ${v.ruleId} ${v.path}: ${v.message}`),
    hygieneProblems: manifests.flatMap(hygieneProblems),
  };
}

/** `npm run check` and `cdk8s-airflow check`: prints the findings and a summary; resolves to the exit code (0 clean, 1 findings). */
export async function main(args = process.argv.slice(2)): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      'json': { type: 'boolean', default: false },
      'schema': { type: 'string', multiple: true, default: K8S_SCHEMAS },
      'allow-unknown-kinds': { type: 'boolean', default: false },
    },
    allowPositionals: true,
  });
  const report = await check(positionals.length ? positionals : ['dist'], values.schema, values['allow-unknown-kinds']);
  const findings = report.schemaErrors.length + report.policyViolations.length + report.hygieneProblems.length;
  if (values.json) {
    process.stdout.write(JSON.stringify(report, null, 1) + '\n');
  } else {
    for (const line of [...report.schemaErrors, ...report.policyViolations, ...report.hygieneProblems]) console.error(line);
    console.log(`check: ${report.objects} objects in ${report.files} files, plus ${report.podTemplates} pod templates; ` +
      `schema (${report.schemas.join(', ')}; strict): ${report.schemaErrors.length} errors` +
      (report.unknownKindsSkipped ? ` (${report.unknownKindsSkipped} objects of unknown kinds skipped)` : '') +
      (report.newerKinds.length ? ` (${report.newerKinds.length} objects of kinds only ${report.schemas.slice(1).join(', ')} ${report.schemas.length > 2 ? 'have' : 'has'}, checked there)` : '') + '; ' +
      `Pod Security "restricted" (@monokle/validation, ${report.podSpecsChecked} pod specs): ${report.policyViolations.length} violations; ` +
      `hygiene: ${report.hygieneProblems.length} problems`);
  }
  return findings ? 1 : 0;
}

if (require.main === module) {
  main().then(code => process.exit(code), err => {
    console.error(`check: ${err instanceof Error ? err.message : err}`);
    process.exit(2);
  });
}
