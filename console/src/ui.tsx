/** Small shared pieces of the pages: a query hook, error text, cursor paging, formatting, a select. */
import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { ApiError, request } from './api';
import { useT } from './i18n';

export interface QueryState<T> {
  data: T | null;
  error: ApiError | null;
  reload(): void;
}

/** Runs a query now and whenever `variables` change (compared as JSON). */
export function useQuery<T>(
  query: string,
  variables: Record<string, unknown> = {},
  skip = false,
): QueryState<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [version, setVersion] = useState(0);
  const key = JSON.stringify(variables);
  useEffect(() => {
    if (skip) return;
    let live = true;
    request<T>(query, variables).then(
      (d) => live && (setData(d), setError(null)),
      (e: ApiError) => live && setError(e),
    );
    return () => {
      live = false;
    };
  }, [query, key, version, skip]);
  return { data, error, reload: useCallback(() => setVersion((v) => v + 1), []) };
}

export function ErrorText({ error }: { error: ApiError | Error | null | undefined }) {
  if (!error) return null;
  const code = error instanceof ApiError && error.code ? `${error.code}: ` : '';
  return (
    <p class="error" role="alert">
      {code}
      {error.message}
    </p>
  );
}

export function Loading({ children }: { children?: ComponentChildren }) {
  const t = useT();
  return <p class="muted">{children ?? t('loading')}</p>;
}

/** Cursor paging: the cursors of the pages before this one, so Back needs no server support. */
export function usePager() {
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const after = cursors[cursors.length - 1];
  return {
    after,
    page: cursors.length,
    next: (endCursor: string | null | undefined) => endCursor && setCursors([...cursors, endCursor]),
    back: () => cursors.length > 1 && setCursors(cursors.slice(0, -1)),
    reset: () => setCursors([null]),
  };
}

export function Pager({
  pager,
  pageInfo,
}: {
  pager: ReturnType<typeof usePager>;
  pageInfo: { hasNextPage: boolean; endCursor: string | null } | undefined;
}) {
  const t = useT();
  return (
    <div class="pager">
      <button disabled={pager.page === 1} onClick={pager.back}>
        {t('previous')}
      </button>
      <span>{t('page', { n: pager.page })}</span>
      <button disabled={!pageInfo?.hasNextPage} onClick={() => pager.next(pageInfo?.endCursor)}>
        {t('next')}
      </button>
    </div>
  );
}

export function Status({ status }: { status: string }) {
  const t = useT();
  return (
    <span class={`status status-${status.toLowerCase()}`}>{t(`status_${status}` as 'status_QUEUED')}</span>
  );
}

export function ProgressBar({ value, label }: { value: number; label?: string }) {
  return (
    <div
      class="progress"
      role="progressbar"
      aria-valuenow={Math.round(value * 100)}
      aria-valuemin={0}
      aria-valuemax={100}
    >
      <div class="progress-fill" style={{ width: `${Math.min(100, Math.max(0, value * 100))}%` }} />
      <span>{label ?? `${(value * 100).toFixed(1)}%`}</span>
    </div>
  );
}

export const fmt = {
  number: (n: number | null | undefined, digits = 4) =>
    n === null || n === undefined ? '—' : Number.isInteger(n) ? n.toLocaleString() : n.toPrecision(digits),
  date: (iso: string | null | undefined) => (iso ? new Date(iso).toLocaleString() : '—'),
  duration(seconds: number | null | undefined): string {
    if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '—';
    const s = Math.round(seconds);
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    return h ? `${h}h ${m}m` : m ? `${m}m ${s % 60}s` : `${s}s`;
  },
  params: (n: number) =>
    n >= 1e9
      ? `${(n / 1e9).toFixed(1)}B`
      : n >= 1e6
        ? `${(n / 1e6).toFixed(1)}M`
        : n >= 1e3
          ? `${(n / 1e3).toFixed(1)}K`
          : String(n),
};

/** The value of a form field as the event carries it. */
export const valueOf = (e: Event) => (e.currentTarget as HTMLInputElement).value;

/** A labelled select of [value, label] options; `all`, when given, labels a first option "" (no filter). */
export function Select<V extends string>({
  label,
  value,
  onChange,
  options,
  name,
  all,
}: {
  label: string;
  value: V;
  onChange: (value: V) => void;
  options: [string, string][];
  name?: string;
  all?: string;
}) {
  return (
    <label>
      {label}
      <select name={name} value={value} onChange={(e) => onChange(valueOf(e) as V)}>
        {all !== undefined && <option value="">{all}</option>}
        {options.map(([v, l]) => (
          <option key={v} value={v}>
            {l}
          </option>
        ))}
      </select>
    </label>
  );
}
