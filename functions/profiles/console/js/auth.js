// Sign-in with the user pool's InitiateAuth (Cognito on AWS; the local host answers the same call),
// tokens kept for the browser tab only (sessionStorage), refreshed before they expire.

let config;
const store = window.sessionStorage;

export async function loadConfig() {
  if (!config) {
    const res = await fetch('config.json', { cache: 'no-store' });
    if (!res.ok) throw new Error(`the console's configuration could not be read (${res.status})`);
    config = await res.json();
  }
  return config;
}

// pool calls an action of the user pool's API (Cognito's JSON 1.1 protocol).
async function pool(action, request) {
  const cfg = await loadConfig();
  if (!cfg.authUrl) throw new Error('No user pool is configured for this deployment: ask an operator.');
  const res = await fetch(cfg.authUrl, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': `AWSCognitoIdentityProviderService.${action}` },
    body: JSON.stringify({ ClientId: cfg.clientId, ...request }),
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) {
    const why = body.message || body.Message || `sign-in failed (${res.status})`;
    throw new Error(res.status === 400 && /NotAuthorized/.test(body.__type || '') ? 'Wrong user name or password.' : why);
  }
  return body;
}

// NewPasswordRequired is a first sign-in with a temporary password: the user chooses their own
// (respond).
export class NewPasswordRequired extends Error {
  constructor(username, session) {
    super('Choose a new password: the one you were given is temporary.');
    this.username = username;
    this.session = session;
  }
}

async function initiateAuth(flow, params) {
  const body = await pool('InitiateAuth', { AuthFlow: flow, AuthParameters: params });
  if (body.ChallengeName === 'NEW_PASSWORD_REQUIRED') throw new NewPasswordRequired(params.USERNAME, body.Session);
  if (!body.AuthenticationResult) throw new Error('sign-in needs a step the console does not support (MFA): ask an operator');
  return body.AuthenticationResult;
}

// choosePassword answers a NewPasswordRequired with the user's new password, and signs them in.
export async function choosePassword(challenge, password) {
  const body = await pool('RespondToAuthChallenge', { ChallengeName: 'NEW_PASSWORD_REQUIRED', Session: challenge.session,
    ChallengeResponses: { USERNAME: challenge.username, NEW_PASSWORD: password } });
  if (!body.AuthenticationResult) throw new Error('the new password was not taken: ask an operator');
  keep(body.AuthenticationResult);
  store.setItem('dcrm.user', challenge.username);
}

function keep(result, refresh) {
  const now = Date.now();
  store.setItem('dcrm.access', result.AccessToken);
  store.setItem('dcrm.id', result.IdToken);
  store.setItem('dcrm.expires', String(now + (result.ExpiresIn || 3600) * 1000));
  if (result.RefreshToken || refresh) store.setItem('dcrm.refresh', result.RefreshToken || refresh);
}

export async function signIn(username, password) {
  keep(await initiateAuth('USER_PASSWORD_AUTH', { USERNAME: username, PASSWORD: password }));
  store.setItem('dcrm.user', username);
}

export function signOut() {
  for (const k of ['dcrm.access', 'dcrm.id', 'dcrm.expires', 'dcrm.refresh', 'dcrm.user']) store.removeItem(k);
}

// token is the access token, refreshed when it expires within a minute; null when signed out.
export async function token() {
  const access = store.getItem('dcrm.access');
  if (!access) return null;
  if (Number(store.getItem('dcrm.expires')) - Date.now() > 60_000) return access;
  const refresh = store.getItem('dcrm.refresh');
  if (!refresh) return null;
  try {
    keep(await initiateAuth('REFRESH_TOKEN_AUTH', { REFRESH_TOKEN: refresh }), refresh);
    return store.getItem('dcrm.access');
  } catch {
    signOut();
    return null;
  }
}

// user is who is signed in: name and roles (the user pool's groups), from the ID token.
export function user() {
  const id = store.getItem('dcrm.id');
  if (!id) return null;
  try {
    const claims = JSON.parse(atob(id.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
    return { name: claims['cognito:username'] || store.getItem('dcrm.user') || claims.sub, roles: claims['cognito:groups'] || [] };
  } catch {
    return null;
  }
}

// can tells whether the signed-in user's roles allow a scope of the profile API (the same table
// as the API's: viewer reads; marketer also defines audiences and exports; operator also records
// consent, splits and erases; admin does all).
export function can(scope) {
  const roles = (user() || { roles: [] }).roles;
  const scopes = { viewer: ['read'], marketer: ['read', 'audiences', 'export'], operator: ['read', 'consent', 'split', 'erase'] };
  return roles.includes('admin') || roles.some((r) => (scopes[r] || []).includes(scope));
}
