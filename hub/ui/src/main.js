// The Vigil console: sign-in, navigation and the pages. Routes are the URL's hash (#/agents), so the hub serves
// one page and the browser's back button works.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { html, call, setSession, getSession, whenSignedOut, may } from './api.js';
import { Problem } from './ui.js';
import { Overview } from './pages/overview.js';
import { Agents, AgentPage } from './pages/agents.js';
import { Pipeline } from './pages/pipeline.js';
import { DeadLetters, DeadLetter } from './pages/deadletters.js';
import { Events } from './pages/events.js';
import { Blocklists } from './pages/blocklists.js';
import { Audit } from './pages/audit.js';

const PAGES = [
  ['overview', 'Overview', Overview],
  ['agents', 'Agents', Agents],
  ['pipeline', 'Pipeline', Pipeline],
  ['deadletters', 'Dead letters', DeadLetters],
  ['events', 'Events', Events],
  ['blocklists', 'Block-lists', Blocklists],
  ['audit', 'Audit log', Audit, 'admin'],
];

const route = () => {
  const [page = 'overview', id] = location.hash.replace(/^#\/?/, '').split('/');
  return { page, id: id && decodeURIComponent(id) };
};

function SignIn({ onSignedIn }) {
  const [error, setError] = useState();
  const submit = async (e) => {
    e.preventDefault();
    const token = new FormData(e.target).get('token');
    try {
      onSignedIn(await call('POST', '/ui/session', { token }));
    } catch (err) {
      setError(err);
    }
  };
  return html`<main class="signin">
    <h1>Vigil</h1>
    <form onSubmit=${submit}>
      <label for="token">API token</label>
      <input id="token" name="token" type="password" autocomplete="current-password" required />
      <button type="submit">Sign in</button>
      <${Problem} error=${error} />
      <p class="hint">The token is exchanged for a session cookie; the console then shows what its role may do.</p>
    </form>
  </main>`;
}

function App() {
  const [session, set] = useState(undefined);
  const [where, setWhere] = useState(route());
  const signedIn = (s) => {
    setSession(s);
    set(s);
  };
  useEffect(() => {
    call('GET', '/ui/session').then(signedIn, () => signedIn(null));
    whenSignedOut(() => signedIn(null));
    const onHash = () => setWhere(route());
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);
  // A new page moves focus to its content, so a screen reader starts there rather than at the old link.
  useEffect(() => {
    const main = document.getElementById('main');
    if (main && document.activeElement && document.activeElement.closest('header nav')) main.focus();
  }, [where]);
  if (session === undefined) return html`<p class="loading">Loading…</p>`;
  if (!session) return html`<${SignIn} onSignedIn=${signedIn} />`;
  const signOut = async () => {
    await call('DELETE', '/ui/session').catch(() => {});
    signedIn(null);
  };
  const pages = PAGES.filter(([, , , role]) => !role || may(role));
  const entry = pages.find(([key]) => key === where.page) || pages[0];
  let body = html`<${entry[2]} />`;
  if (where.page === 'agents' && where.id) body = html`<${AgentPage} key=${where.id} id=${where.id} />`;
  if (where.page === 'deadletters' && where.id) body = html`<${DeadLetter} key=${where.id} id=${where.id} />`;
  return html`<div class="shell">
    <header>
      <span class="brand">Vigil</span>
      <nav aria-label="pages">
        ${pages.map(([key, title]) => html`<a href=${`#/${key}`} aria-current=${key === entry[0] ? 'page' : undefined}>${title}</a>`)}
      </nav>
      <span class="who">${getSession().name} (${getSession().role}) <button type="button" onClick=${signOut}>Sign out</button></span>
    </header>
    <main id="main" tabindex="-1">${body}</main>
  </div>`;
}

render(html`<${App} />`, document.getElementById('app'));
