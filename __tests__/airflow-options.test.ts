// lib/airflow-options.json is shipped (../shared/ is not installed with the package); it must stay
// exactly what scripts/derive-airflow-options.ts derives from Airflow's configuration reference
// (scripts/reference/airflow-config.json, a copy of the shared reference).
import { readFileSync } from 'fs';
import { join } from 'path';
import { deriveAirflowOptions } from '../scripts/derive-airflow-options';
import { airflowReference, REFERENCE } from './helpers';

const SHIPPED_TEXT = readFileSync(join(__dirname, '..', 'lib', 'airflow-options.json'), 'utf8');
const shipped = JSON.parse(SHIPPED_TEXT) as {
  sections: Record<string, Record<string, { type: string; sensitive?: boolean }>>;
  renamed: Record<string, string>;
};
const ref = airflowReference();

test('the shipped file is byte for byte what the derivation produces from the reference (no drift)', () => {
  expect(SHIPPED_TEXT).toBe(deriveAirflowOptions(join(REFERENCE, 'airflow-config.json')));
  expect(deriveAirflowOptions()).toBe(SHIPPED_TEXT); // the script's default input is that reference
});

test('every option of the reference is in the shipped file with its type, and no other', () => {
  const keys = (s: Record<string, Record<string, unknown>>) => Object.entries(s).flatMap(([sec, o]) => Object.keys(o).map(k => `${sec}.${k}`)).sort();
  expect(keys(shipped.sections)).toEqual(keys(ref.sections));
  for (const [section, options] of Object.entries(ref.sections)) {
    for (const [option, info] of Object.entries(options)) expect(shipped.sections[section][option].type).toBe(info.type);
  }
});

test('every sensitive option of the reference is marked sensitive in the shipped file, and only those', () => {
  const sensitive = (s: Record<string, Record<string, { sensitive?: boolean }>>) =>
    Object.entries(s).flatMap(([sec, o]) => Object.entries(o).filter(([, v]) => v.sensitive).map(([k]) => `${sec}.${k}`)).sort();
  expect(sensitive(ref.sections).length).toBeGreaterThanOrEqual(4);
  expect(sensitive(shipped.sections)).toEqual(sensitive(ref.sections));
  for (const key of ['core.fernet_key', 'api_auth.jwt_secret', 'api.secret_key', 'database.sql_alchemy_conn']) {
    expect(sensitive(shipped.sections)).toContain(key);
  }
});

test('renamed options map each deprecated name to its replacement', () => {
  expect(shipped.renamed).toEqual(Object.fromEntries(Object.entries(ref.deprecatedOptions).map(([k, v]) => [k, v.replacedBy])));
  expect(shipped.renamed['webserver.secret_key']).toBe('api.secret_key');
});

test('Airflow 3 names: no [kubernetes] section and no [core] sql_alchemy_conn', () => {
  expect(shipped.sections.kubernetes).toBeUndefined();
  expect(shipped.sections.core.sql_alchemy_conn).toBeUndefined();
  expect(shipped.sections.database.sql_alchemy_conn).toBeDefined();
  expect(shipped.sections.kubernetes_executor.pod_template_file).toBeDefined();
});
