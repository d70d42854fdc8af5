/*
 * qa_metrics — the official SQuAD evaluation (evaluate-v2.0.py, whose
 * definitions v1.1's script shares for questions with an answer).
 *
 *   normalize_answer(s): lower-case (Python's str.lower), remove ASCII
 *     punctuation (string.punctuation), remove the articles a, an, the
 *     (the regex \b(a|an|the)\b: a run of word characters that is one of
 *     them), and collapse white space (str.split / join).
 *   exact: normalized prediction == normalized gold.
 *   f1: over the normalized tokens (split at white space): common tokens
 *     counted with multiplicity (Counter &), precision = common / pred,
 *     recall = common / gold, 2PR / (P + R); 0 when nothing is common; when
 *     either side has no tokens, 1 if both have none, else 0.
 *   Gold answers whose normalization is empty are dropped; a question left
 *   with none has the gold answer "" (SQuAD v2's no-answer questions).
 *   Each question scores its best over its gold answers; the totals are
 *   100 x means, over all questions and, for v2, the HasAns / NoAns splits.
 */
#ifndef ADA_DATA_QA_METRICS_H
#define ADA_DATA_QA_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "adalora.h"
#include "util/strbuf.h"

/* normalize_answer(s[0..n)) into out (replaced); 0 or -1 on OOM. */
int qa_normalize_answer(const char *s, size_t n, struct strbuf *out);

/* The two scores of one prediction against one gold answer (NUL-terminated,
 * valid UTF-8); -1 on OOM. */
int qa_exact(const char *pred, const char *gold);
double qa_f1(const char *pred, const char *gold);

/* Accumulate one question: its best exact and F1 over golds[0..n) (n 0:
 * a question without an answer, gold ""). Returns 0 or -1 (OOM). */
struct qa_totals {
	double exact, f1;               /* sums (0/1 and 0..1) */
	double has_exact, has_f1, no_exact, no_f1;
	int64_t n, has_n, no_n;
};
int qa_totals_add(struct qa_totals *t, const char *pred, const char *const *golds, size_t n);
/* The 100 x means into m (HasAns / NoAns NAN when their split is empty). */
void qa_totals_finish(const struct qa_totals *t, struct ada_qa_metrics *m);

void qa_metrics_clear(struct ada_qa_metrics *m);

#endif
