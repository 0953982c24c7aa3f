// The console: sign-in, then a page per hash route (#/customer, #/audiences, #/attribution,
// #/journeys, #/alerts, #/activity, #/keys, #/health).
import { loadConfig, signIn, signOut, token, user, can, choosePassword, NewPasswordRequired } from './auth.js';
import { h, failure } from './dom.js';
import { customerPage } from './customer.js';
import { audiencesPage, audiencePage } from './audiences.js';
import { attributionPage } from './attribution.js';
import { journeysPage } from './journeys.js';
import { keysPage } from './keys.js';
import { healthPage } from './health.js';
import { alertsPage } from './alerts.js';
import { activityPage } from './activity.js';

const main = document.getElementById('main');

async function route() {
  if (!(await token())) {
    askSignIn();
    return;
  }
  const who = user();
  const el = document.getElementById('who');
  el.textContent = who ? `${who.name} · ${who.roles.join(', ') || 'no role'}` : '';
  el.hidden = !who;
  document.getElementById('signout').hidden = false;
  const [path, query] = (location.hash.slice(1) || '/customer').split('?');
  const params = new URLSearchParams(query || '');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  for (const a of document.querySelectorAll('nav a')) {
    if (a.dataset.scope) a.hidden = !can(a.dataset.scope); // a page the user's role may not read
    if (a.dataset.page === parts[0]) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  try {
    switch (parts[0]) {
      case 'audiences':
        if (parts[1]) audiencePage(main, parts[1]);
        else audiencesPage(main);
        break;
      case 'attribution':
        attributionPage(main, params);
        break;
      case 'journeys':
        journeysPage(main, params);
        break;
      case 'keys':
        keysPage(main);
        break;
      case 'health':
        healthPage(main);
        break;
      case 'alerts':
        alertsPage(main, params);
        break;
      case 'activity':
        activityPage(main, params);
        break;
      default:
        customerPage(main, params);
    }
  } catch (err) {
    main.replaceChildren(failure(err));
  }
  main.focus();
}

function askSignIn() {
  const dialog = document.getElementById('signin');
  const form = document.getElementById('signin-form');
  const error = document.getElementById('signin-error');
  const newPassword = document.getElementById('new-password');
  let challenge = null;
  // Nothing of the last user stays: who they were, and the links of their role.
  document.getElementById('who').hidden = true;
  document.getElementById('signout').hidden = true;
  for (const a of document.querySelectorAll('nav a[data-scope]')) a.hidden = true;
  main.replaceChildren(h('p', { class: 'muted' }, 'Sign in to see the customers.'));
  form.onsubmit = async (e) => {
    e.preventDefault();
    const f = new FormData(form);
    error.hidden = true;
    try {
      if (challenge) await choosePassword(challenge, f.get('newPassword'));
      else await signIn(f.get('username'), f.get('password'));
      challenge = null;
      newPassword.hidden = true;
      dialog.close();
      form.reset();
      route();
    } catch (err) {
      if (err instanceof NewPasswordRequired) {
        challenge = err;
        newPassword.hidden = false;
        newPassword.querySelector('input').required = true;
        newPassword.querySelector('input').focus();
      }
      error.textContent = err.message;
      error.hidden = false;
    }
  };
  if (!dialog.open) dialog.showModal();
}

document.getElementById('signout').addEventListener('click', () => {
  signOut();
  location.hash = '#/customer';
  route();
});
window.addEventListener('hashchange', route);
loadConfig().then(route, (err) => main.replaceChildren(failure(err)));
