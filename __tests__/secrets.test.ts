import { Construct } from 'constructs';
import { AirflowConfig, AirflowSecrets, AirflowValidationError, SecretKeyRef } from '../lib';
import { testChart } from './helpers';

test('SecretKeyRef.toEnv reads the env var from the Secret key, with no literal value', () => {
  expect(SecretKeyRef.of('db', 'url').toEnv('DATABASE_URL')).toEqual({
    name: 'DATABASE_URL',
    valueFrom: { secretKeyRef: { name: 'db', key: 'url' } },
  });
  const ref = SecretKeyRef.of('db', 'url');
  expect([ref.secretName, ref.key]).toEqual(['db', 'url']);
});

test('AirflowSecrets defaults to four keys of one Secret', () => {
  const s = new AirflowSecrets(new Construct(testChart(), 'x'), 'airflow-secrets');
  expect([s.fernetKey, s.jwtSecret, s.apiSecretKey, s.sqlAlchemyConn].map(r => [r.secretName, r.key])).toEqual([
    ['airflow-secrets', 'fernet-key'],
    ['airflow-secrets', 'jwt-secret'],
    ['airflow-secrets', 'api-secret-key'],
    ['airflow-secrets', 'sql-alchemy-conn'],
  ]);
});

test('AirflowConfig uses <instance>-secrets by default, and explicit references where given', () => {
  const a = new AirflowConfig(testChart(), 'c', { instanceName: 'etl' }).secrets;
  expect(a.fernetKey.secretName).toBe('etl-secrets');
  expect(a.sqlAlchemyConn.secretName).toBe('etl-secrets');
  const b = new AirflowConfig(testChart(), 'c', { secrets: { sqlAlchemyConn: SecretKeyRef.of('managed-db', 'uri') } }).secrets;
  expect([b.sqlAlchemyConn.secretName, b.sqlAlchemyConn.key]).toEqual(['managed-db', 'uri']);
  expect(b.fernetKey.secretName).toBe('airflow-secrets');
});

describe('invalid references', () => {
  const scope = () => new Construct(testChart(), 'x');

  test('a Secret name that is not a DNS-1123 subdomain is rejected', () => {
    expect(() => new AirflowSecrets(scope(), 'Bad_Name')).toThrow(AirflowValidationError);
    expect(() => new AirflowSecrets(scope(), 'ok', { jwtSecret: SecretKeyRef.of('Bad_Name', 'k') })).toThrow(/secrets\.jwtSecret\.secretName/);
    expect(() => SecretKeyRef.of('Bad_Name', 'k').validate(scope(), 'p')).toThrow(/p\.secretName: got "Bad_Name"/);
  });

  test('an invalid Secret key is rejected', () => {
    expect(() => SecretKeyRef.of('ok', 'a/b').validate(scope(), 'p')).toThrow(/p\.key/);
    expect(() => SecretKeyRef.of('ok', '').validate(scope(), 'p')).toThrow(AirflowValidationError);
    expect(() => SecretKeyRef.of('ok', 'Key_1.x-y').validate(scope(), 'p')).not.toThrow();
  });
});
