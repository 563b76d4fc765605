#!/usr/bin/env node
// cdk8s-airflow: the project's command-line tool, for people who install the package as a library.
//
//   npx cdk8s-airflow check [--json] [--schema FILE]... [--allow-unknown-kinds] [paths...]
//       the gate `npm run check` runs on this repository's dist/: strict Kubernetes 1.28 and 1.36 schemas,
//       Pod Security "restricted", hygiene (scripts/check.ts); default path: dist
//   npx cdk8s-airflow secrets [--dry-run] [--context NAME] [paths...]
//       creates the Secrets and keys synthesized YAML references, with fresh values in the formats their
//       consumers need, never overwriting a key (scripts/secrets.ts); default path: dist
//
// Exit codes: 0 done, 1 findings (check) or inputs you must provide first (secrets), 2 usage or runtime error.
import { main as check } from './check';
import { main as secrets } from './secrets';

const COMMANDS: Record<string, { run: (args: string[]) => Promise<number>; summary: string }> = {
  check: { run: check, summary: 'validate Kubernetes YAML (default: dist/) as this project validates its own output' },
  secrets: { run: secrets, summary: 'create the Secrets that YAML references, fresh values, no key overwritten (--dry-run: list them)' },
};

function usage(): string {
  return 'usage: cdk8s-airflow <command> [options]\n\ncommands:\n' +
    Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(8)} ${c.summary}`).join('\n') + '\n';
}

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === '--help' || name === '-h') {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    process.stderr.write(`cdk8s-airflow: unknown command "${name}"\n${usage()}`);
    return 2;
  }
  return command.run(args);
}

main(process.argv.slice(2)).then(code => process.exit(code), err => {
  console.error(`cdk8s-airflow: ${err instanceof Error ? err.message : err}`);
  process.exit(2);
});
