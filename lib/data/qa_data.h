/*
 * qa_data — extractive question answering data: questions over contexts
 * (SQuAD JSON v1.1/v2.0, or JSONL {"question","context","answers"}), cut
 * into the windows ("features") a network reads, and the way back from a
 * network's start/end logits to answer text.
 *
 * Windows follow Hugging Face's run_qa.py (prepare_train_features,
 * prepare_validation_features): the question first (its leading white
 * space stripped; at most max_query_length tokens), the context second,
 * framed by the tokenizer's pair template ([CLS] q [SEP] c [SEP], <s> q
 * </s></s> c </s>); only the context is cut: a context longer than what
 * is left of seq_len becomes several windows, each overlapping the one
 * before by doc_stride tokens (Hugging Face's stride: the overlap, not
 * the step; clamped so a window always moves on). Every context token
 * keeps the byte range of the context it came from (tokenizer offsets,
 * white space trimmed), so a predicted span maps back to the context's
 * own characters.
 *
 * Training labels: the first answer's start and end token in the window,
 * or 0 ([CLS], position 0) for both when the window does not hold the
 * whole answer or the question has none.
 *
 * Prediction (postprocess_qa_predictions in Hugging Face's utils_qa.py):
 * over every window of a question, the n_best_size highest start and end
 * logits make candidate spans (inside the context, end >= start, at most
 * max_answer_length tokens), scored start + end; the best one's text is
 * the context bytes from its first token's start to its last token's end.
 * With no-answer questions in the data (SQuAD v2) the null score is the
 * lowest start[0] + end[0] over the windows, and the prediction is ""
 * when null score - best span score > null_score_diff_threshold.
 */
#ifndef ADA_DATA_QA_DATA_H
#define ADA_DATA_QA_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "adalora.h"
#include "util/strbuf.h"

struct tokenizer;

struct qa_example {
	char *id;                  /* owned; the file's id, or its 1-based number */
	char *question;            /* owned, NUL-terminated */
	int32_t context;           /* index into qa_set.contexts */
	int32_t n_answers;         /* 0: no answer */
	char **answers;            /* owned [n_answers] gold texts */
	int64_t *answer_byte;      /* owned [n_answers] byte offsets of answer_start */
	int64_t *answer_byte_end;  /* owned [n_answers] end byte (start + the text's chars) */
};

struct qa_set {
	char **contexts;           /* owned, NUL-terminated */
	int32_t n_contexts;
	struct qa_example *ex;     /* owned [n] */
	int64_t n;
	int has_no_answer;         /* some question has no answer: SQuAD v2 rules */
};

/* Read path (SQuAD JSON or QA JSONL, told by content; the rules of
 * data_format.c, so what an upload accepted trains). Consecutive questions
 * over the same context share it. */
int qa_set_load(const char *path, struct qa_set *set, struct ada_err *err);
void qa_set_release(struct qa_set *set);
/* A set of one question over one context, without answers (serving): the
 * question's leading white space stripped as a file's is; v2: SQuAD v2's
 * null rule applies to its prediction (has_no_answer). */
int qa_set_single(struct qa_set *set, const char *question, const char *context, int v2,
		  struct ada_err *err);
/* Move the last round(fraction * n) questions (at least 1, leaving at least
 * 1) into valid, which gets copies of their contexts; fraction 0: none. */
int qa_set_split_tail(struct qa_set *train, double fraction, struct qa_set *valid,
		      struct ada_err *err);

struct qa_window_opts {
	int seq_len;               /* tokens per window, specials included */
	int doc_stride;            /* overlap of consecutive windows (tokens) */
	int max_query_length;      /* question tokens kept */
};

struct qa_features {
	int seq_len;
	int64_t n;                 /* windows */
	int32_t *ids;              /* [n][seq_len], padded */
	uint8_t *types;            /* [n][seq_len] */
	int32_t *lengths;          /* [n] */
	int32_t *example;          /* [n] the question */
	int32_t *start_pos, *end_pos;   /* [n] training labels (0: [CLS]) */
	int32_t *ctx_first;        /* [n] index in the window of the first context token */
	int32_t *ctx_count;        /* [n] context tokens in the window */
	int64_t *ctx_tok;          /* [n] index into tok_offs of that first token */
	int32_t *tok_offs;         /* [2 * all context tokens] byte ranges in the context */
	int64_t n_tok;
	int64_t n_truncated_q;     /* questions cut to max_query_length */
};

/* Windows of every question of set, tokenized by t, a question's windows
 * consecutive and in order. ADA_EINVAL naming "seq_len" when a window has
 * no room for context. */
int qa_features_build(const struct qa_set *set, const struct tokenizer *t,
		      const struct qa_window_opts *o, struct qa_features *f, struct ada_err *err);
void qa_features_release(struct qa_features *f);

struct qa_predict_opts {
	int n_best_size;
	int max_answer_length;
	double null_score_diff_threshold;
};

/* The answer text of every question (texts[i] for set->ex[i], malloc'ed,
 * "" for no answer) from the logits of every window: start and end
 * [f->n][f->seq_len]; the n-best and choice of qa_answer.h, with SQuAD v2's
 * null rule when set->has_no_answer. ADA_ENOMEM. */
int qa_predict(const struct qa_set *set, const struct qa_features *f, const float *start,
	       const float *end, const struct qa_predict_opts *o, char **texts,
	       struct ada_err *err);

/* The official metrics of texts against the gold answers of set. */
int qa_score(const struct qa_set *set, char *const *texts, struct ada_qa_metrics *m,
	     struct ada_err *err);

#endif
