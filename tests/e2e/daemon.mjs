// daemon.mjs — what the dashboard's end-to-end test stands on: a real
// adalorad, a browser, and the reasons to skip.
//
// The daemon is started by tests/node_common/spawn_daemon.mjs, with
// models/stories260K.gguf linked to the shared asset (and, asked, the
// tests' tiny BART written by tests/integration/make_tiny_bart.c, and their
// tiny BERT by tests/integration/make_tiny_encoder.c),
// and a JSONL file of tinyshakespeare speeches. The browser is Debian's
// chromium driven by playwright-core (Playwright's own browser download
// does not work offline), started with the flags that keep it off the
// network. Exits 77 (meson's "skipped") with the reason when chromium,
// the npm package or ../shared/assets is missing.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnDaemon } from '../node_common/spawn_daemon.mjs';

const here = dirname(fileURLToPath(import.meta.url));
export const chromiumPath = process.env.CHROMIUM_BIN || '/usr/bin/chromium';

function skip(why) {
  console.error(`SKIP: ${why}`);
  process.exit(77);
}

// Skip unless everything the test needs is there; returns the assets dir.
export function requireEverything() {
  if (!existsSync(join(here, 'node_modules', 'playwright-core'))) {
    skip('the npm package playwright-core is not installed (run scripts/setup-node)');
  }
  if (!existsSync(chromiumPath)) skip(`no browser at ${chromiumPath} (scripts/setup installs chromium)`);
  const assets = process.env.ADALORA_ASSETS;
  if (!assets || !existsSync(join(assets, 'models', 'stories260K', 'stories260K.gguf'))) {
    skip(`../shared/assets is absent (${assets || 'ADALORA_ASSETS unset'}): stories260K is needed`);
  }
  return assets;
}

export async function launchBrowser() {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: chromiumPath,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

// Where screenshots go (the build tree when run by meson).
export function artifactsDir() {
  const dir = process.env.ADALORA_E2E_ARTIFACTS ||
              join(process.env.ADALORA_TEST_TMP || '/tmp', 'e2e-artifacts');
  mkdirSync(dir, { recursive: true });
  return dir;
}

// One {"text"} line per speech of the first maxBytes of tinyshakespeare.
export function writeShakespeare(assets, path, maxBytes) {
  const text = readFileSync(join(assets, 'data', 'text', 'tinyshakespeare', 'input.txt'), 'utf8')
    .slice(0, maxBytes);
  const lines = text.split(/\n\n+/).filter((t) => t.trim()).map((t) => JSON.stringify({ text: t }));
  writeFileSync(path, `${lines.join('\n')}\n`);
}

// options: {key: a bearer key the daemon requires, bart: also models/bart-tiny, the
// tests' tiny random BART, with its reversal task's files (bartData.train, .valid)
// beside the models directory, encoder: also models/enc, the tests' tiny random
// BERT, with the zebra span task's question answering file (qaTrain)}
export async function startDaemon(name, assets, { key, bart, encoder } = {}) {
  const bartData = {};
  let qaTrain = null;
  const d = await spawnDaemon(name, (models) => {
    symlinkSync(join(assets, 'models', 'stories260K', 'stories260K.gguf'),
      join(models, 'stories260K.gguf'));
    if (bart) {
      const make = process.env.ADALORA_MAKE_TINY_BART;
      if (!make) throw new Error('ADALORA_MAKE_TINY_BART must be set (run with meson)');
      bartData.train = join(models, '..', 'bart-train.jsonl');
      bartData.valid = join(models, '..', 'bart-valid.jsonl');
      execFileSync(make, [join(models, 'bart-tiny'), bartData.train, bartData.valid]);
    }
    if (encoder) {
      const make = process.env.ADALORA_MAKE_TINY_ENCODER;
      if (!make) throw new Error('ADALORA_MAKE_TINY_ENCODER must be set (run with meson)');
      qaTrain = join(models, '..', 'qa-train.jsonl');
      execFileSync(make, [join(models, 'enc'), qaTrain]);
    }
  }, { args: ['--sse-keepalive', '1'], key });
  const { base } = d;
  const auth = key ? { Authorization: `Bearer ${key}` } : {};
  return {
    ...d,
    bartData,
    qaTrain,
    async api(method, path, body) {
      const res = await fetch(`${base}${path}`, {
        method, headers: { ...auth, ...(body ? { 'Content-Type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
      const json = await res.json();
      if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
      return json;
    },
    async upload(path, filename) {
      const form = new FormData();
      form.append('purpose', 'fine-tune');
      form.append('file', new Blob([readFileSync(path)]), filename);
      const res = await fetch(`${base}/v1/files`, { method: 'POST', headers: auth, body: form });
      const json = await res.json();
      if (!res.ok) throw new Error(`upload: ${res.status} ${JSON.stringify(json)}`);
      return json;
    },
  };
}
