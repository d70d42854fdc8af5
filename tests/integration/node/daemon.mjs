// daemon.mjs — start the adalorad built in this tree for a Node test.
//
// Started by tests/node_common/spawn_daemon.mjs with a random model made
// offline by `adalora create-model` (shape stories260K: small and quick to
// train) and the demo corpus from the repository. Exits 77 (meson's "skipped") when
// the npm packages are not installed (scripts/setup-node installs them).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnDaemon } from '../../node_common/spawn_daemon.mjs';

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
  const cli = process.env.ADALORA_BIN;
  if (!cli) throw new Error('ADALORA_BIN must be set (run with meson)');
  return spawnDaemon(name, (models) => execFileSync(cli, [
    'create-model', '--shape', 'stories260K', '--seed', '5', '--out', join(models, 'demo.gguf')]),
  { args, key });
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
