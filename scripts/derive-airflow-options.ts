// Derives lib/airflow-options.json, the part of Airflow's configuration reference the library
// needs at synth (which options exist, their type, which are sensitive, which were renamed), from
// scripts/reference/airflow-config.json (a copy of the developers' ../shared/reference/airflow-config.json;
// see scripts/reference/README.md). The library ships the derived file because the reference is not
// installed with the package. `__tests__/airflow-options.test.ts` fails when
// the shipped file and the reference disagree.
//
//   node -r ./scripts/register.js scripts/derive-airflow-options.ts [reference.json] > lib/airflow-options.json
import { readFileSync } from 'fs';
import { join } from 'path';

export const REFERENCE = join(__dirname, 'reference', 'airflow-config.json');

interface Reference {
  source: unknown;
  airflowVersion: string;
  sections: Record<string, Record<string, { type: string; sensitive?: boolean }>>;
  deprecatedOptions: Record<string, { replacedBy: string; since: string }>;
}

export function deriveAirflowOptions(referencePath = REFERENCE): string {
  const ref = JSON.parse(readFileSync(referencePath, 'utf8')) as Reference;
  const sections: Record<string, Record<string, { type: string; sensitive?: true }>> = {};
  for (const section of Object.keys(ref.sections).sort()) {
    sections[section] = {};
    for (const option of Object.keys(ref.sections[section]).sort()) {
      const o = ref.sections[section][option];
      sections[section][option] = o.sensitive ? { type: o.type, sensitive: true } : { type: o.type };
    }
  }
  const renamed: Record<string, string> = {};
  for (const old of Object.keys(ref.deprecatedOptions).sort()) renamed[old] = ref.deprecatedOptions[old].replacedBy;
  const derived = {
    source: 'Derived by scripts/derive-airflow-options.ts from scripts/reference/airflow-config.json',
    reference: ref.source,
    airflowVersion: ref.airflowVersion,
    sections,
    renamed,
  };
  return JSON.stringify(derived, null, 1) + '\n';
}

if (require.main === module) process.stdout.write(deriveAirflowOptions(process.argv[2]));
