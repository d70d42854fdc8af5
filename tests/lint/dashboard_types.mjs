// The dashboard's type check: tsc --checkJs over api/dashboard/*.js
// (tsconfig.json beside this file), so a call of a method that does not
// exist — job.js once called this.refreshCheckpoints(), which no class
// defined, and every checkpoint event threw inside the event stream —
// fails the test suite instead of the browser. TypeScript is pinned in
// package.json / package-lock.json and installed by scripts/setup-node;
// without it the test skips (exit 77).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const tsc = join(here, 'node_modules', 'typescript', 'bin', 'tsc');
if (!existsSync(tsc)) {
  console.error(`skip: ${tsc} is missing (scripts/setup-node installs it)`);
  process.exit(77);
}
const r = spawnSync(process.execPath, [tsc, '-p', join(here, 'tsconfig.json'), '--pretty', 'false'],
                    { stdio: 'inherit' });
if (r.error) throw r.error;
if (r.status === 0) console.log('dashboard: no type errors');
process.exit(r.status ?? 1);
