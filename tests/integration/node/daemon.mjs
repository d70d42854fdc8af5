// daemon.mjs — start the adalorad built in this tree for a Node test.
//
// Like the C harness: a scratch directory under ADALORA_TEST_TMP, a
// random model made offline with `adalora create-model` (shape
// stories260K: small and quick to train), the demo corpus from the
// repository, and `--listen 127.0.0.1:0` with the port read from the
// first line of the daemon's stderr. Exits 77 (meson's "skipped") when
// the npm packages are not installed (scripts/setup-node installs them).
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

export function requirePackages(...names) {
  for (const n of names) {
    if (!existsSync(join(here, 'node_modules', n))) {
      console.error(`SKIP: the npm package ${n} is not installed (run scripts/setup-node)`);
      process.exit(77);
    }
  }
}

export const corpus = join(here, '..', '..', '..', 'docs', 'demo', 'corpus.jsonl');

// options: { args: [...more flags], key: 'bearer key to require' }
export async function startDaemon(name, { args = [], key } = {}) {
  const bin = process.env.ADALORAD_BIN, cli = process.env.ADALORA_BIN;
  if (!bin || !cli) throw new Error('ADALORAD_BIN and ADALORA_BIN must be set (run with meson)');
  const dir = mkdtempSync(join(process.env.ADALORA_TEST_TMP || '/tmp', `${name}-`));
  mkdirSync(join(dir, 'models'));
  execFileSync(cli, ['create-model', '--shape', 'stories260K', '--seed', '5',
                     '--out', join(dir, 'models', 'demo.gguf')]);
  const extraArgs = [...args];
  if (key) {
    writeFileSync(join(dir, 'keys'), `${key}\n`);
    extraArgs.push('--api-key-file', join(dir, 'keys'));
  }
  const log = join(dir, 'daemon.log');
  const child = spawn(bin, ['--listen', '127.0.0.1:0', '--db', join(dir, 'adalorad.db'),
                            '--data-dir', join(dir, 'data'), '--models-dir', join(dir, 'models'),
                            ...extraArgs],
                      { stdio: ['ignore', 'ignore', openSync(log, 'w')] });
  const t0 = Date.now();
  for (;;) {
    const text = existsSync(log) ? readFileSync(log, 'utf8') : '';
    const nl = text.indexOf('\n');
    if (nl >= 0) {
      const m = /^listening on (\S+)$/.exec(text.slice(0, nl));
      if (!m) throw new Error(`unexpected first line: ${text.slice(0, nl)}`);
      return {
        dir, child, base: `http://${m[1]}`,
        stop() {
          return new Promise((resolve) => {
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

// A short AdaLoRA job on the demo model.
export function jobBody(fileId, extra = {}) {
  return {
    model: 'demo', training_file: fileId, seed: 3, suffix: 'node',
    method: { type: 'adalora', adalora: { hyperparameters: {
      max_steps: 30, seq_len: 64, batch_size: 4, learning_rate: 0.01,
      init_r: 4, target_r: 2, tinit: 3, tfinal: 6, deltaT: 3, log_every: 3,
      checkpoint_every: 10,
    } } },
    ...extra,
  };
}
