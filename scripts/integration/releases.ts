// The synthesized dist/ of this checkout and its earlier versions in git history: what the upgrade tests apply
// over (in CI, the release a new dist/ goes over).
import { execFileSync } from 'child_process';
import { readFileSync } from 'fs';
import { join } from 'path';
import { parseManifests } from '../manifests';
import { REPO } from './host';

/** The path of dist/<tier>.k8s.yaml in this checkout. */
export const distFile = (tier: string): string => join(REPO, 'dist', `${tier}.k8s.yaml`);

/** The objects of a dist/ file's text (the checkout's when `yaml` is not given). */
export function distObjects(tier: string, yaml = readFileSync(distFile(tier), 'utf8')): any[] {
  return parseManifests(distFile(tier), yaml).map(m => m.object as any);
}

/**
 * The newest version of dist/<tier>.k8s.yaml in git history that differs from the checkout's and for which
 * `wanted` holds (by default any), as its commit and text.
 * @throws when there is none (a shallow clone: fetch the history)
 */
export function earlierDist(tier: string, wanted: (yaml: string) => boolean = () => true): { rev: string; yaml: string } {
  const file = `dist/${tier}.k8s.yaml`;
  const current = readFileSync(distFile(tier), 'utf8');
  const git = (...args: string[]) => execFileSync('git', ['-C', REPO, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  for (const rev of git('log', '--format=%H', '--', file).split('\n').filter(Boolean)) {
    const yaml = git('show', `${rev}:${file}`);
    if (yaml !== current && wanted(yaml)) return { rev, yaml };
  }
  throw new Error(`no earlier version of ${file} in git history that fits (a shallow clone? fetch the history)`);
}
