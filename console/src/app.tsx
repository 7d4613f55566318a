/** The shell: sign-in gate, navigation, language switch and the routes of every page. */
import { LocationProvider, Route, Router } from 'preact-iso';
import { useEffect, useState } from 'preact/hooks';
import { disconnect, signIn, storedKey } from './api';
import type { ViewerQuery } from './gql';
import { LangProvider, useLang, useT } from './i18n';
import { ComparePage } from './pages/compare';
import { DatasetPage, DatasetsPage } from './pages/datasets';
import { EvaluationComparePage, EvaluationPage, EvaluationsPage } from './pages/evaluations';
import { JobPage, prefetchJobPage } from './pages/job';
import { JobsPage } from './pages/jobs';
import { LoginPage } from './pages/login';
import { ModelsPage } from './pages/models';
import { NewJobPage } from './pages/new-job';
import { PlaygroundPage } from './pages/playground';
import { ProjectPage } from './pages/project';

export const VIEWER = /* GraphQL */ `
  query Viewer {
    viewer {
      apiKey {
        id
        name
        role
        keyPrefix
      }
      project {
        id
        name
        isDefault
        createdAt
      }
    }
  }
`;

export type Viewer = ViewerQuery['viewer'];

function Shell({ viewer, onSignOut }: { viewer: Viewer; onSignOut: () => void }) {
  const t = useT();
  const [lang, setLang] = useLang();
  const links: [string, string][] = [
    ['/', t('navProject')],
    ['/models', t('navModels')],
    ['/datasets', t('navDatasets')],
    ['/jobs', t('navJobs')],
    ['/evaluations', t('navEvaluations')],
    ['/playground', t('navPlayground')],
  ];
  return (
    <div class="layout">
      <nav>
        <strong class="brand">Whetstone</strong>
        {links.map(([href, label]) => (
          <a href={href} key={href}>
            {label}
          </a>
        ))}
        <span class="spacer" />
        <span class="muted">
          {viewer.project.name} · {viewer.apiKey.name} ({viewer.apiKey.role})
        </span>
        <button class="link" onClick={() => setLang(lang === 'en' ? 'zh' : 'en')} data-testid="lang">
          {lang === 'en' ? '中文' : 'English'}
        </button>
        <button class="link" onClick={onSignOut}>
          {t('signOut')}
        </button>
      </nav>
      <main>
        <Router>
          <Route path="/" component={() => <ProjectPage viewer={viewer} />} />
          <Route path="/models" component={ModelsPage} />
          <Route path="/datasets" component={DatasetsPage} />
          <Route path="/datasets/:id" component={DatasetPage} />
          <Route path="/jobs" component={JobsPage} />
          <Route path="/jobs/new" component={NewJobPage} />
          <Route path="/jobs/compare" component={ComparePage} />
          <Route path="/jobs/:id" component={JobPage} />
          <Route path="/evaluations" component={EvaluationsPage} />
          <Route path="/evaluations/compare" component={EvaluationComparePage} />
          <Route path="/evaluations/:id" component={EvaluationPage} />
          <Route path="/playground" component={PlaygroundPage} />
          <Route default component={() => <p>{t('notFound')}</p>} />
        </Router>
      </main>
    </div>
  );
}

function Gate() {
  const [viewer, setViewer] = useState<Viewer | null>(null);
  const [resuming, setResuming] = useState(storedKey() !== null);
  useEffect(() => {
    const key = storedKey();
    if (!key) return;
    signIn<ViewerQuery>(key, VIEWER).then(
      (v) => setViewer(v.viewer),
      () => setResuming(false),
    );
    // Opened at a job: its first reads go out beside the sign-in's instead of after it.
    prefetchJobPage(location.pathname);
  }, []);
  if (viewer)
    return <Shell viewer={viewer} onSignOut={() => (disconnect(), setViewer(null), setResuming(false))} />;
  if (resuming) return null;
  return <LoginPage onSignedIn={setViewer} />;
}

export function App() {
  return (
    <LangProvider>
      <LocationProvider>
        <Gate />
      </LocationProvider>
    </LangProvider>
  );
}
