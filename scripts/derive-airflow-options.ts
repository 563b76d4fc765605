// Derives lib/airflow-options.json, the part of Airflow's configuration reference the library needs at synth
// (which options exist, their type, how Airflow's code reads them, which are sensitive, which were renamed), from
// scripts/reference/airflow-<version>-config.json, which scripts/reference/derive-airflow-reference.py derives from
// the released wheels of apache-airflow-core and of every provider the official image ships (see
// scripts/reference/README.md). The library ships the derived file because the reference is not installed with the
// package. `__tests__/airflow-options.test.ts` fails when the shipped file and the reference disagree.
//
//   node -r ./scripts/register.js scripts/derive-airflow-options.ts [reference.json] > lib/airflow-options.json
import { readFileSync } from 'fs';
import { join } from 'path';
import { AIRFLOW_VERSION } from '../lib/names';

export const REFERENCE = join(__dirname, 'reference', `airflow-${AIRFLOW_VERSION}-config.json`);

interface Reference {
  source: unknown;
  airflowVersion: string;
  providers: Record<string, string>;
  sections: Record<string, Record<string, { type: string; sensitive?: boolean; readAs?: string[] }>>;
  deprecatedOptions: Record<string, { replacedBy: string; since: string }>;
}

/** The literal kind each of Airflow's readers takes: conf.getboolean, getint (CPython's int()), getfloat (float()). */
const READERS: Record<string, string> = { getboolean: 'boolean', getint: 'integer', getfloat: 'float' };

export function deriveAirflowOptions(referencePath = REFERENCE): string {
  const ref = JSON.parse(readFileSync(referencePath, 'utf8')) as Reference;
  const sections: Record<string, Record<string, { type: string; readAs?: string[]; sensitive?: true }>> = {};
  for (const section of Object.keys(ref.sections).sort()) {
    sections[section] = {};
    for (const option of Object.keys(ref.sections[section]).sort()) {
      const o = ref.sections[section][option];
      sections[section][option] = {
        type: o.type,
        ...(o.readAs ? { readAs: o.readAs.map(r => READERS[r]) } : {}),
        ...(o.sensitive ? { sensitive: true as const } : {}),
      };
    }
  }
  const renamed: Record<string, string> = {};
  for (const old of Object.keys(ref.deprecatedOptions).sort()) renamed[old] = ref.deprecatedOptions[old].replacedBy;
  const derived = {
    source: `Derived by scripts/derive-airflow-options.ts from scripts/reference/airflow-${ref.airflowVersion}-config.json`,
    reference: ref.source,
    airflowVersion: ref.airflowVersion,
    providers: ref.providers,
    sections,
    renamed,
  };
  return JSON.stringify(derived, null, 1) + '\n';
}

if (require.main === module) process.stdout.write(deriveAirflowOptions(process.argv[2]));
