"""Python peer of bench/metrics.ts (`npm run bench:metrics`).

Scores pre-segmented token lists the way a Python service would without jieba: nltk's sentence_bleu with
method3 smoothing for BLEU-4, and plain Python for accuracy, bag-of-tokens F1, ROUGE-1/2 (Counter multisets)
and ROUGE-L (LCS with one rolling row), as defined in ../shared/docs/metrics.md.

usage: metrics_peer.py PAIRS.json, where the file is {"pairs": [[prediction_tokens, reference_tokens], ...]}.
Prints one JSON line: {"samplesPerSecond", "seconds", "count", "means": {...}} (only scoring is timed).
"""

import json
import sys
import time
from collections import Counter

from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

METHOD3 = SmoothingFunction().method3


def prf(overlap, predicted, referenced):
    if predicted == 0 or referenced == 0:
        return (0.0, 0.0, 0.0)
    p, r = overlap / predicted, overlap / referenced
    return (p, r, 2 * p * r / (p + r) if p + r > 0 else 0.0)


def rouge_n(p, r, n):
    pg = Counter(zip(*(p[i:] for i in range(n))))
    rg = Counter(zip(*(r[i:] for i in range(n))))
    return prf(sum((pg & rg).values()), max(0, len(p) - n + 1), max(0, len(r) - n + 1))


def lcs(a, b):
    if len(a) < len(b):
        a, b = b, a
    row = [0] * (len(b) + 1)
    for x in a:
        diagonal = 0
        for j, y in enumerate(b, 1):
            above = row[j]
            row[j] = diagonal + 1 if x == y else max(above, row[j - 1])
            diagonal = above
    return row[-1]


def score(p, r):
    rouge1 = rouge_n(p, r, 1)
    return {
        "accuracy": 1.0 if p == r else 0.0,
        "f1": 1.0 if not p and not r else rouge1[2],
        "rouge1": rouge1,
        "rouge2": rouge_n(p, r, 2),
        "rougeL": prf(lcs(p, r), len(p), len(r)),
        "bleu4": sentence_bleu([r], p, smoothing_function=METHOD3),
    }


def means(samples):
    n = len(samples)
    out = {}
    for key in ("accuracy", "f1", "bleu4"):
        out[key] = sum(s[key] for s in samples) / n
    for key in ("rouge1", "rouge2", "rougeL"):
        out[key] = {name: sum(s[key][i] for s in samples) / n for i, name in enumerate(("precision", "recall", "f"))}
    return out


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        pairs = json.load(f)["pairs"]
    start = time.perf_counter()
    samples = [score(p, r) for p, r in pairs]
    result = means(samples)
    seconds = time.perf_counter() - start
    print(json.dumps({"samplesPerSecond": len(pairs) / seconds, "seconds": seconds, "count": len(pairs), "means": result}))


main()
