#!/usr/bin/env python3
"""Cross-check `adalora rouge` against rouge-score's definition, pair by pair.

Optional, never a test dependency: it needs nltk (Debian: python3-nltk) for
the Porter stemmer rouge-score uses. When Google's rouge_score package is
importable it is the reference; otherwise the reference is the few lines
below, which follow rouge_score/rouge_scorer.py and tokenize.py (lower(),
[^a-z0-9]+ -> " ", split, stem tokens longer than 3 characters with
nltk's PorterStemmer(), Counter n-grams, the LCS table and its backtrack,
the summary-level union LCS over "\\n"-split sentences).

    scripts/rouge_crosscheck.py build/cli/adalora [N_PAIRS] [SEED]

Random pairs are drawn from a small vocabulary with inflected forms (so the
stemmer and repeated n-grams matter), punctuation, capitals, newlines,
blank lines, and the characters Python lowercases to ASCII (KELVIN SIGN,
U+0130). Exit status 0 when every number agrees to 1e-12.
"""
import collections
import json
import os
import random
import re
import subprocess
import sys
import tempfile

try:
    from nltk.stem import porter
except ImportError:
    print("rouge_crosscheck: nltk is not installed (apt-get install python3-nltk)")
    sys.exit(77)

try:
    from rouge_score import rouge_scorer as _rs  # the real thing, when present
except ImportError:
    _rs = None

TYPES = ["rouge1", "rouge2", "rougeL", "rougeLsum"]
_stemmer = porter.PorterStemmer()


def tokenize(text, stem):
    text = re.sub(r"[^a-z0-9]+", " ", text.lower())
    toks = re.split(r"\s+", text)
    if stem:
        toks = [_stemmer.stem(t) if len(t) > 3 else t for t in toks]
    return [t for t in toks if re.match(r"^[a-z0-9]+$", t)]


def prf(hits, n_pred, n_ref):
    p = hits / max(n_pred, 1)
    r = hits / max(n_ref, 1)
    return (p, r, 2 * p * r / (p + r) if p + r > 0 else 0.0)


def ngram_score(ref, pred, n):
    cr = collections.Counter(tuple(ref[i:i + n]) for i in range(len(ref) - n + 1))
    cp = collections.Counter(tuple(pred[i:i + n]) for i in range(len(pred) - n + 1))
    inter = sum(min(c, cp[g]) for g, c in cr.items())
    return prf(inter, sum(cp.values()), sum(cr.values()))


def lcs_table(ref, can):
    t = [[0] * (len(can) + 1) for _ in range(len(ref) + 1)]
    for i in range(1, len(ref) + 1):
        for j in range(1, len(can) + 1):
            t[i][j] = t[i - 1][j - 1] + 1 if ref[i - 1] == can[j - 1] else max(t[i - 1][j], t[i][j - 1])
    return t


def lcs_indices(ref, can):
    t = lcs_table(ref, can)
    i, j, out = len(ref), len(can), []
    while i > 0 and j > 0:
        if ref[i - 1] == can[j - 1]:
            out.insert(0, i - 1)
            i, j = i - 1, j - 1
        elif t[i][j - 1] > t[i - 1][j]:
            j -= 1
        else:
            i -= 1
    return out


def score(ref_text, pred_text, stem):
    if _rs is not None:
        s = _rs.RougeScorer(TYPES, use_stemmer=stem).score(ref_text, pred_text)
        return {k: (v.precision, v.recall, v.fmeasure) for k, v in s.items()}
    ref, pred = tokenize(ref_text, stem), tokenize(pred_text, stem)
    out = {"rouge1": ngram_score(ref, pred, 1), "rouge2": ngram_score(ref, pred, 2)}
    if ref and pred:
        lcs = lcs_table(ref, pred)[-1][-1]
        p, r = lcs / len(pred), lcs / len(ref)
        out["rougeL"] = (p, r, 2 * p * r / (p + r) if p + r > 0 else 0.0)
    else:
        out["rougeL"] = (0, 0, 0)
    rs = [tokenize(s, stem) for s in ref_text.split("\n") if len(s)]
    cs = [tokenize(s, stem) for s in pred_text.split("\n") if len(s)]
    m, n = sum(map(len, rs)), sum(map(len, cs))
    if not rs or not cs or not m or not n:
        out["rougeLsum"] = (0, 0, 0)
        return out
    cr, cc = collections.Counter(), collections.Counter()
    for s in rs:
        cr.update(s)
    for s in cs:
        cc.update(s)
    hits = 0
    for r in rs:
        union = sorted(set().union(*[lcs_indices(r, c) for c in cs]))
        for t in (r[i] for i in union):
            if cc[t] > 0 and cr[t] > 0:
                hits += 1
                cc[t] -= 1
                cr[t] -= 1
    p, r = hits / n, hits / m
    out["rougeLsum"] = (p, r, 2 * p * r / (p + r) if p + r > 0 else 0.0)
    return out


WORDS = ("run running runs ran runner cat cats happy happiness happier generalization general "
         "generate agreed agree feed dies died spied sky skies news the a of to in on jump jumps "
         "jumped quick brown fox dog dogs lazy relational conditional hopping hop falling fall "
         "sing singing sung proceed exceed 1990s 42 x y it is").split()
EXTRA = [",", ".", "!", "'s", " - ", "\n", "\n\n", " \u212a", "\u0130", "\u00e9", "\t", "  "]


def random_text(rng):
    parts = []
    for _ in range(rng.randint(0, 25)):
        w = rng.choice(WORDS)
        if rng.random() < 0.2:
            w = w.capitalize()
        parts.append(w)
        if rng.random() < 0.25:
            parts.append(rng.choice(EXTRA))
        parts.append(" ")
    return "".join(parts)


def run(adalora, pred, ref, stem):
    with tempfile.TemporaryDirectory() as d:
        pf, rf = os.path.join(d, "p.jsonl"), os.path.join(d, "r.jsonl")
        with open(pf, "w", encoding="utf-8") as f:
            f.write(json.dumps(pred) + "\n")
        with open(rf, "w", encoding="utf-8") as f:
            f.write(json.dumps(ref) + "\n")
        args = [adalora, "rouge", "--pred", pf, "--ref", rf] + (["--stemmer"] if stem else [])
        return json.loads(subprocess.run(args, check=True, capture_output=True, text=True).stdout)


def main():
    adalora = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 1)
    bad = 0
    for k in range(n):
        pred, ref, stem = random_text(rng), random_text(rng), k % 2 == 1
        got, want = run(adalora, pred, ref, stem), score(ref, pred, stem)
        for t in TYPES:
            g = (got[t]["precision"], got[t]["recall"], got[t]["fmeasure"])
            if any(abs(a - b) > 1e-12 for a, b in zip(g, want[t])):
                bad += 1
                print(f"pair {k} {t} stem={stem}: adalora {g} reference {want[t]}\n"
                      f"  pred={pred!r}\n  ref={ref!r}")
    print(f"rouge_crosscheck: {n} pairs, {bad} disagreements "
          f"(reference: {'rouge_score' if _rs else 'the transcription here'} + nltk)")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
