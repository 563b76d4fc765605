import { AirflowApp } from './airflow-app';
import { AirflowChart } from './airflow-chart';
import { AirflowTeamChart } from './airflow-team-chart';
import { ENVIRONMENTS, TEAMS } from './environments';

/**
 * The project's app: one chart per environment preset, written to `<outdir>/<tier>.k8s.yaml`, and one per team
 * (TEAMS), written to `<outdir>/<team>.k8s.yaml`.
 * @param outdir @default CDK8S_OUTDIR, else 'dist'
 */
export function buildApp(outdir?: string): AirflowApp {
  const app = new AirflowApp({ outdir });
  for (const [tier, environment] of Object.entries(ENVIRONMENTS)) new AirflowChart(app, tier, environment);
  for (const [name, team] of Object.entries(TEAMS)) new AirflowTeamChart(app, name, team);
  return app;
}
