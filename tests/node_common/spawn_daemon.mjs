// spawn_daemon.mjs — start the adalorad built in this tree for a Node test,
// as the C integration harness does: a scratch directory under
// ADALORA_TEST_TMP, `--listen 127.0.0.1:0` with the port read from the first
// line of the daemon's stderr, the database and data directory inside the
// scratch directory. Shared by tests/integration/node and tests/e2e; needs
// no npm package.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

// name: the scratch directory's prefix.
// addModels(modelsDir): puts the models in place before the daemon starts.
// args: more flags; key: a bearer key the daemon requires.
// Returns {dir, child, base, log, stop()}.
export async function spawnDaemon(name, addModels, { args = [], key } = {}) {
  const bin = process.env.ADALORAD_BIN;
  if (!bin) throw new Error('ADALORAD_BIN must be set (run with meson)');
  const dir = mkdtempSync(join(process.env.ADALORA_TEST_TMP || '/tmp', `${name}-`));
  const models = join(dir, 'models');
  mkdirSync(models);
  addModels(models);
  const extra = [...args];
  if (key) {
    writeFileSync(join(dir, 'keys'), `# test key\n${key}\n`);
    extra.push('--api-key-file', join(dir, 'keys'));
  }
  const log = join(dir, 'daemon.log');
  const child = spawn(bin, ['--listen', '127.0.0.1:0', '--db', join(dir, 'adalorad.db'),
                            '--data-dir', join(dir, 'data'), '--models-dir', models, ...extra],
                      { stdio: ['ignore', 'ignore', openSync(log, 'w')] });
  const t0 = Date.now();
  for (;;) {
    const text = existsSync(log) ? readFileSync(log, 'utf8') : '';
    const nl = text.indexOf('\n');
    if (nl >= 0) {
      const m = /^listening on (\S+)$/.exec(text.slice(0, nl));
      if (!m) throw new Error(`unexpected first line: ${text.slice(0, nl)}`);
      return {
        dir, child, log, base: `http://${m[1]}`,
        stop() {
          return new Promise((resolve) => {
            if (child.exitCode !== null) resolve(child.exitCode);
            child.on('exit', (code) => resolve(code));
            child.kill('SIGTERM');
          });
        },
      };
    }
    if (child.exitCode !== null) throw new Error(`adalorad exited: ${text}`);
    if (Date.now() - t0 > 30000) throw new Error('adalorad did not start');
    await new Promise((r) => setTimeout(r, 10));
  }
}
