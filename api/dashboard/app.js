// app — the dashboard's entry point: the hash router (#/ is the job list,
// #/jobs/ID a job's page), the API-key dialog, and the daemon's health in
// the header.
//
// Routing by the URL's hash keeps the daemon's side to one page (GET /)
// and lets the back button and bookmarks work. Each view's mount function
// returns its teardown, which stops its polling and streams when the user
// moves on.
import { api } from './api.js';
import { mountJob } from './job.js';
import { mountJobs } from './jobs.js';

const HEALTH_MS = 10000;
const main = document.getElementById('main');
const dialog = /** @type {HTMLDialogElement} */ (document.getElementById('auth-dialog'));
const keyInput = /** @type {HTMLInputElement} */ (document.getElementById('auth-key'));
const keyError = document.getElementById('auth-error');
const forget = document.getElementById('forget-key');
let unmount = () => {};

// Shown by api.js when a request is refused for want of a key; resolves
// once the user has entered one.
api.askKey = (message) => new Promise((resolve) => {
  keyError.textContent = message;
  keyInput.value = '';
  const form = document.getElementById('auth-form');
  const onSubmit = (e) => {
    e.preventDefault();
    const key = keyInput.value.trim();
    if (!key) return;
    api.setKey(key);
    form.removeEventListener('submit', onSubmit);
    dialog.close();
    forget.hidden = false;
    resolve();
  };
  form.addEventListener('submit', onSubmit);
  if (!dialog.open) dialog.showModal();
  keyInput.focus();
});
// Without a key the page cannot work: Escape does not dismiss the dialog.
dialog.addEventListener('cancel', (e) => e.preventDefault());

forget.hidden = !api.key();
forget.addEventListener('click', () => {
  api.forgetKey();
  forget.hidden = true;
  route();
});

function route() {
  unmount();
  const m = /^#\/jobs\/([^/]+)$/.exec(window.location.hash);
  if (m) {
    const id = decodeURIComponent(m[1]);
    document.title = `${id} · adalorad`;
    unmount = mountJob(main, id);
  } else {
    document.title = 'Jobs · adalorad';
    unmount = mountJobs(main);
  }
}

// The skip link focuses the content; following its href would change
// the hash, which is the route.
document.querySelector('.skip').addEventListener('click', (e) => {
  e.preventDefault();
  main.focus();
});

// Move focus to the new view, as a page load would (screen readers and
// keyboard users start at its top). Not on the first load.
window.addEventListener('hashchange', () => {
  route();
  main.focus({ preventScroll: false });
});

// /healthz is open (no key): version, queue and workers in the header.
async function health() {
  const out = document.getElementById('health');
  try {
    const res = await fetch('/healthz', { cache: 'no-store' });
    const hz = await res.json();
    out.textContent = `v${hz.version} · ${hz.queue.running} running, ${hz.queue.queued} queued · ` +
                      `${hz.workers} worker${hz.workers === 1 ? '' : 's'}`;
    out.classList.remove('error');
  } catch {
    out.textContent = 'daemon unreachable';
    out.classList.add('error');
  }
}

route();
health();
setInterval(health, HEALTH_MS);
