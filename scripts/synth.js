#!/usr/bin/env node
// `npm run synth`: what `cdk8s synth` does for this app, without the CLI's start-up.
//
// `cdk8s synth` (cdk8s-cli lib/cli/cmds/synth.js) empties the output folder, runs the `app` command of
// cdk8s.yaml with CDK8S_OUTDIR set to it, and lists the manifests the app wrote. This does the same in
// one process: the same main.ts, the same output folder, the same bytes (`__tests__/dist.test.ts`
// compares both). cdk8s.yaml's `app` is this script too, so `cdk8s synth` works as before; run by the
// CLI, it writes where CDK8S_OUTDIR says. TypeScript runs through scripts/register.js (transpiled once,
// then cached; no type-check: `npm test` runs `tsc --noEmit`).
//
// Usage: npm run synth [-- --output <dir>]   (default: CDK8S_OUTDIR, else dist, the `output` of cdk8s.yaml)
'use strict';
const { readdirSync, rmSync } = require('fs');
const { join, relative, resolve, sep } = require('path');
const { parseArgs } = require('util');

const ROOT = join(__dirname, '..');
const { values } = parseArgs({ options: { output: { type: 'string', short: 'o' } } });
const outdir = resolve(values.output ?? (process.env.CDK8S_OUTDIR || 'dist'));

// like `cdk8s synth`, start from an empty folder; but never remove the project or a folder holding it
if (outdir === ROOT || ROOT.startsWith(outdir + sep)) {
  console.error(`synth: --output ${values.output ?? outdir} would remove the project itself; name a folder of its own, e.g. dist`);
  process.exit(2);
}
rmSync(outdir, { recursive: true, force: true });
process.env.CDK8S_OUTDIR = outdir;
require('./register');
require(join(ROOT, 'main.ts'));
for (const file of readdirSync(outdir).sort()) console.log(relative(process.cwd(), join(outdir, file)));
