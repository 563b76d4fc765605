// The README's restore procedure for the in-cluster PostgreSQL, as the shell commands a reader copies: the
// one ```sh block of its section. The e2e run executes exactly these lines and the unit tests check them
// against the constructs' names, so the README cannot drift from what works.
import { readFileSync } from 'fs';
import { join } from 'path';

/** The README heading of the section. */
export const RESTORE_HEADING = '### Back up and restore the in-cluster PostgreSQL';

/** The section's one ```sh block; throws when the heading or the block is missing, or there are several. */
export function restoreProcedure(readme = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8')): string {
  const lines = readme.split('\n');
  const start = lines.indexOf(RESTORE_HEADING);
  if (start < 0) throw new Error(`README.md has no heading "${RESTORE_HEADING}"`);
  let fenced = false; // a `# comment` in a code block is no heading
  const next = lines.findIndex((l, i) => {
    if (l.startsWith('```')) fenced = !fenced;
    return i > start && !fenced && /^#{1,3} /.test(l);
  });
  const section = lines.slice(start + 1, next < 0 ? undefined : next).join('\n');
  const blocks = [...section.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map(m => m[1]);
  if (blocks.length !== 1) throw new Error(`README.md "${RESTORE_HEADING}": expected one \`\`\`sh block, found ${blocks.length}`);
  return blocks[0];
}
