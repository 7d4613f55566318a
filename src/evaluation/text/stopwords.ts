/**
 * Stop-word lists of the metrics text pipeline (metrics.md section 1.4).
 */
import { eng, zho } from 'stopword';
import { normalize } from './normalize';

/** `default`: the Chinese and English lists of the `stopword` package; `none`; or the words given. */
export type StopwordsOption = 'default' | 'none' | readonly string[];

const NONE: ReadonlySet<string> = new Set();
let defaultSet: ReadonlySet<string> | undefined;
// A user list is usually passed once per evaluation but looked up per text: resolve each array once.
const userSets = new WeakMap<readonly string[], ReadonlySet<string>>();

/** Words are normalised like the text they are compared with, so a user's `The` removes the token `the`. */
function toSet(words: readonly string[]): ReadonlySet<string> {
  return new Set(words.map((w) => normalize(w).trim()).filter((w) => w.length > 0));
}

export function stopwordSet(option: StopwordsOption): ReadonlySet<string> {
  if (option === 'none') return NONE;
  if (option === 'default') {
    defaultSet ??= toSet([...zho, ...eng]);
    return defaultSet;
  }
  let set = userSets.get(option);
  if (!set) {
    set = toSet(option);
    userSets.set(option, set);
  }
  return set;
}
