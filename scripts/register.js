// Runs the project's TypeScript in Node without type-checking: `node -r ./scripts/register.js file.ts`.
//
// sucrase (the transform of `sucrase/register/ts`: imports + typescript, line numbers kept, so stack
// traces point at the .ts lines) transpiles each file the first time; the result is cached under
// node_modules/.cache/cdk8s-airflow, keyed by the file's path and content and sucrase's version, so later
// runs only read it. ts-node, tsx and sucrase's own hook transpile on every run: 0.15 to 0.3 s of the
// 0.3 s a synth takes otherwise (`npm run bench`). Type errors are `npm test`'s job (`tsc --noEmit`).
'use strict';
const { createHash } = require('crypto');
const { mkdirSync, readFileSync, renameSync, writeFileSync } = require('fs');
const { join } = require('path');
const { addHook } = require('pirates');

const CACHE = join(__dirname, '..', 'node_modules', '.cache', 'cdk8s-airflow');
const SUCRASE = require('sucrase/package.json').version;
const OPTIONS = { transforms: ['imports', 'typescript'] };

addHook((code, filePath) => {
  const key = createHash('sha256').update(JSON.stringify([SUCRASE, OPTIONS, filePath])).update(code).digest('hex');
  const cached = join(CACHE, `${key}.js`);
  try {
    return readFileSync(cached, 'utf8');
  } catch {
    const js = require('sucrase').transform(code, { ...OPTIONS, filePath }).code;
    mkdirSync(CACHE, { recursive: true });
    const partial = `${cached}.${process.pid}`;
    writeFileSync(partial, js);
    renameSync(partial, cached); // whole or absent, also when two synths run at once
    return js;
  }
}, { exts: ['.ts'] });
