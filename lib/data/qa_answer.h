/*
 * qa_answer — from a question's windows' start and end logits to its
 * answers: the n-best spans, the choice between the best span and no
 * answer, their probabilities, and the answer as the public struct
 * ada_qa_answer (adalora.h) that serving (POST /v1/question_answering) and
 * `adalora eval --predictions` report.
 *
 * One code path for every prediction: qa_predict() (qa_data.h: training's
 * validation, `adalora eval`) takes its texts from qa_nbest_build() and
 * qa_nbest_choice(), so a served answer is the one eval predicts.
 *
 * The n-best follows Hugging Face's postprocess_qa_predictions (utils_qa.py):
 * over every window of a question, the n_best_size highest start and end
 * logits pair into candidate spans (inside the context, end >= start, at
 * most max_answer_length tokens) scored start + end. They are ordered by
 * score (ties: the first found, window by window, as qa_predict always
 * took the first maximum). Unlike utils_qa, a span that two overlapping
 * windows both hold is listed once, with its first (best) score. The
 * probabilities are utils_qa's: a softmax over the n_best_size best scores
 * and, under SQuAD v2 rules, the null score (the lowest start[0] + end[0]
 * over the windows) in the place its score gives it.
 */
#ifndef ADA_DATA_QA_ANSWER_H
#define ADA_DATA_QA_ANSWER_H

#include <stdint.h>

#include "adalora.h"
#include "data/qa_data.h"

struct qa_span {
	double score;              /* start logit + end logit */
	int64_t a, b;              /* the byte range [a, b) of the context */
};

struct qa_nbest {
	struct qa_span *spans;     /* owned [n], best first, distinct byte ranges */
	int n;                     /* at most n_best_size */
	double null_score;         /* the lowest start[0] + end[0] (INFINITY: no window) */
};

/* The n-best of every question of set: nb[set->n] (the caller's, filled;
 * release with qa_nbest_release even after an error). The windows of a
 * question must be consecutive (qa_features_build makes them so). */
int qa_nbest_build(const struct qa_set *set, const struct qa_features *f, const float *start,
		   const float *end, const struct qa_predict_opts *o, struct qa_nbest *nb,
		   struct ada_err *err);
void qa_nbest_release(struct qa_nbest *nb, int64_t n);

/* The predicted span: 0 (the best), or -1 for no answer: no span fits, or
 * v2 (SQuAD v2 rules) and null score - best score > threshold. */
int qa_nbest_choice(const struct qa_nbest *nb, int v2, double threshold);

/* The answer to a question over context (NUL-terminated) from its n-best:
 * the choice, the first top_k spans with character offsets and
 * probabilities (n_best_size: the softmax's span count). out is filled
 * (release with ada_qa_answer_release); ADA_ENOMEM. */
int qa_answer_make(const char *context, const struct qa_nbest *nb, int v2, double threshold,
		   int n_best_size, int top_k, struct ada_qa_answer *out, struct ada_err *err);

#endif
