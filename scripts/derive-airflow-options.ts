// Derives lib/config/airflow-options.json, the part of Airflow's configuration reference the library needs at synth
// (which options exist, their type, how Airflow's code reads them, which are sensitive, which were renamed; the
// tables `airflow db clean` knows), for
// each supported Airflow series, from scripts/reference/airflow-<version>-config.json of that series' newest release
// (AIRFLOW_RELEASES in lib/core/names.ts), which scripts/reference/derive-airflow-reference.py derives from the released
// wheels of apache-airflow-core and of every provider the official image ships (see scripts/reference/README.md).
// The library ships the derived file because the reference is not installed with the package.
// `__tests__/airflow-options.test.ts` fails when the shipped file and the references disagree.
//
//   node -r ./scripts/register.js scripts/derive-airflow-options.ts > lib/config/airflow-options.json
import { readFileSync } from 'fs';
import { join } from 'path';
import { AIRFLOW_RELEASES } from '../lib/core/names';

/** The reference of one Airflow release, as derive-airflow-reference.py writes it. */
export const referencePath = (version: string) => join(__dirname, 'reference', `airflow-${version}-config.json`);

interface Reference {
  source: unknown;
  airflowVersion: string;
  providers: Record<string, string>;
  sections: Record<string, Record<string, { type: string; sensitive?: boolean; readAs?: string[] }>>;
  deprecatedOptions: Record<string, { replacedBy: string; since: string }>;
  dbCleanTables: Record<string, { skipIfReferenced: boolean }>;
}

/** The literal kind each of Airflow's readers takes: conf.getboolean, getint (CPython's int()), getfloat (float()). */
const READERS: Record<string, string> = { getboolean: 'boolean', getint: 'integer', getfloat: 'float' };

function deriveSeries(ref: Reference) {
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
  return { airflowVersion: ref.airflowVersion, reference: ref.source, providers: ref.providers, sections, renamed, dbCleanTables: ref.dbCleanTables };
}

/** The shipped file's text, from the references of `releases` (series → X.Y.Z). */
export function deriveAirflowOptions(releases: Record<string, string> = AIRFLOW_RELEASES): string {
  const series: Record<string, ReturnType<typeof deriveSeries>> = {};
  for (const [s, version] of Object.entries(releases)) {
    const ref = JSON.parse(readFileSync(referencePath(version), 'utf8')) as Reference;
    if (ref.airflowVersion !== version) throw new Error(`${referencePath(version)} is the reference of ${ref.airflowVersion}, not ${version}`);
    series[s] = deriveSeries(ref);
  }
  const derived = {
    source: `Derived by scripts/derive-airflow-options.ts from scripts/reference/airflow-{${Object.values(releases).join(',')}}-config.json`,
    series,
  };
  return JSON.stringify(derived, null, 1) + '\n';
}

if (require.main === module) process.stdout.write(deriveAirflowOptions());
