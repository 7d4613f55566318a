/** Longest common subsequence length for ROUGE-L. */

let row = new Int32Array(64);

/** O(|a| * |b|) time with one rolling row over the shorter sequence. */
export function lcsLength(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const [outer, inner] = a.length >= b.length ? [a, b] : [b, a];
  const m = inner.length;
  if (m === 0) return 0;
  if (row.length < m + 1) row = new Int32Array(2 * (m + 1));
  row.fill(0, 0, m + 1);
  // row[j] = LCS of outer[0..i) and inner[0..j); `diagonal` holds the previous row's row[j - 1].
  for (let i = 0; i < outer.length; i++) {
    const x = outer[i];
    let diagonal = 0;
    for (let j = 1; j <= m; j++) {
      const above = row[j];
      if (x === inner[j - 1]) row[j] = diagonal + 1;
      else if (row[j - 1] > above) row[j] = row[j - 1];
      diagonal = above;
    }
  }
  return row[m];
}
