/** The first step of the metrics text pipeline (metrics.md section 1.1): NFKC, then lower case. */
export function normalize(text: string): string {
  return text.normalize('NFKC').toLowerCase();
}
