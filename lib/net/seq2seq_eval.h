/*
 * seq2seq_eval — scoring generated texts against references with ROUGE,
 * for `adalora eval` and the validation of sequence-to-sequence jobs, and
 * the files `adalora rouge` reads.
 *
 * A struct seq2seq_eval collects (prediction, reference) pairs as the
 * decoder produces them (copies: the caller's buffers may go), then
 * scores them all at once (data/rouge.c: rouge-score's four types, the
 * plain mean over pairs). Its JSON is what an evaluation reports:
 *   {"examples": n, "use_stemmer": b,
 *    "rouge1": {"precision", "recall", "fmeasure"}, "rouge2", "rougeL",
 *    "rougeLsum"}
 * and ada_rouge_json() gives the flat "valid_rouge1", ... F-measures of a
 * validation event.
 */
#ifndef ADA_NET_SEQ2SEQ_EVAL_H
#define ADA_NET_SEQ2SEQ_EVAL_H

#include <stddef.h>

#include "adalora.h"

struct seq2seq_eval {
	char **preds, **refs;   /* owned NUL-terminated copies */
	size_t n, cap;
	int use_stemmer;
};

void seq2seq_eval_init(struct seq2seq_eval *e, int use_stemmer);
void seq2seq_eval_release(struct seq2seq_eval *e);

/* Add one pair (pred[0..pred_len), ref[0..ref_len), copied). */
int seq2seq_eval_add(struct seq2seq_eval *e, const char *pred, size_t pred_len, const char *ref,
		     size_t ref_len, struct ada_err *err);

/* The mean ROUGE of the pairs so far (NAN scores when there are none). */
int seq2seq_eval_rouge(const struct seq2seq_eval *e, struct ada_rouge *out, struct ada_err *err);

/* The evaluation's JSON object above (a new reference in *out). */
int seq2seq_eval_json(const struct seq2seq_eval *e, json_t **out, struct ada_err *err);

/*
 * The texts of a file, in order, into a malloc'ed array of malloc'ed
 * strings (*texts, *n; free with seq2seq_texts_free). A file whose first
 * non-blank line starts with '{' or '"' is JSONL: every non-blank line a
 * JSON string, or an object whose text is its "prediction", "target",
 * "summary" or "text" field (the first of these it has). Any other file
 * is plain text, one text per line (an empty line is an empty text; a
 * trailing "\r" is dropped). Errors name the file and the 1-based line.
 */
int seq2seq_texts_read(const char *path, char ***texts, size_t *n, struct ada_err *err);
void seq2seq_texts_free(char **texts, size_t n);

#endif
