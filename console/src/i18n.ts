/**
 * English and Chinese: one typed message table per language (the Chinese one must have every English key), the
 * choice kept in localStorage, `t(key, params)` with `{name}` placeholders.
 */
import { createContext, createElement, type ComponentChildren } from 'preact';
import { useContext, useState } from 'preact/hooks';
import { en, zh, type MessageKey } from './messages';

export type Lang = 'en' | 'zh';
const TABLES: Record<Lang, Record<MessageKey, string>> = { en, zh };
const STORAGE = 'whetstone.lang';

type Params = Record<string, string | number>;
export type Translate = (key: MessageKey, params?: Params) => string;

function translator(lang: Lang): Translate {
  const table = TABLES[lang];
  return (key, params) => {
    const text = table[key] ?? key;
    return params
      ? text.replace(/\{(\w+)\}/g, (_, name: string) => String(params[name] ?? `{${name}}`))
      : text;
  };
}

function initialLang(): Lang {
  const stored = localStorage.getItem(STORAGE);
  if (stored === 'en' || stored === 'zh') return stored;
  return navigator.language.startsWith('zh') ? 'zh' : 'en';
}

const LangContext = createContext<{ lang: Lang; setLang(l: Lang): void; t: Translate }>({
  lang: 'en',
  setLang: () => undefined,
  t: translator('en'),
});

export function LangProvider({ children }: { children: ComponentChildren }) {
  const [lang, setLangState] = useState<Lang>(initialLang);
  const setLang = (l: Lang) => {
    localStorage.setItem(STORAGE, l);
    document.documentElement.lang = l === 'zh' ? 'zh-CN' : 'en';
    setLangState(l);
  };
  return createElement(LangContext.Provider, { value: { lang, setLang, t: translator(lang) }, children });
}

export const useT = (): Translate => useContext(LangContext).t;
export const useLang = (): [Lang, (l: Lang) => void] => {
  const { lang, setLang } = useContext(LangContext);
  return [lang, setLang];
};
