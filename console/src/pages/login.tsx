import { useState } from 'preact/hooks';
import { ApiError, signIn } from '../api';
import { VIEWER, type Viewer } from '../app';
import type { ViewerQuery } from '../gql';
import { useLang, useT } from '../i18n';
import { ErrorText, valueOf } from '../ui';

export function LoginPage({ onSignedIn }: { onSignedIn: (v: Viewer) => void }) {
  const t = useT();
  const [lang, setLang] = useLang();
  const [key, setKey] = useState('');
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onSignedIn((await signIn<ViewerQuery>(key.trim(), VIEWER)).viewer);
    } catch (err) {
      setError(err as ApiError);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="login card" onSubmit={submit}>
      <h1>Whetstone</h1>
      <p class="muted">{t('signInHint')}</p>
      <label>
        {t('apiKey')}
        <input
          name="apiKey"
          type="password"
          autoComplete="off"
          value={key}
          onInput={(e) => setKey(valueOf(e))}
        />
      </label>
      <button type="submit" disabled={busy || !key.trim()}>
        {t('signIn')}
      </button>
      <ErrorText error={error} />
      <button type="button" class="link" onClick={() => setLang(lang === 'en' ? 'zh' : 'en')}>
        {lang === 'en' ? '中文' : 'English'}
      </button>
    </form>
  );
}
