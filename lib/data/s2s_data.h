/*
 * s2s_data — sequence-to-sequence examples: {"source","target"} JSONL
 * (also XSum's {"document","summary"} and CNN/DailyMail's
 * {"article","highlights"}; data_format.h checks the lines) encoded for an
 * encoder-decoder, and the batches teacher forcing trains on.
 *
 * Each text is framed by the tokenizer as one sequence (BART: <s> text
 * </s>, what transformers' tokenizer(text) and tokenizer(text_target=...)
 * give) and cut to its own maximum, max_source_length or
 * max_target_length, keeping the framing (the text loses its tail). The
 * target's tokens are the labels; the decoder's input is the labels
 * shifted right behind decoder_start_token_id (shift_tokens_right), so
 * position t predicts label t from the labels before it. Labels past a
 * target's end are -1: padding counts for nothing.
 *
 * Examples are stored ragged (source then target tokens, one array), and a
 * batch is padded only to its own longest source and target, so short
 * examples do not pay for the longest one. The target texts are kept for
 * scoring generated summaries against (ROUGE).
 */
#ifndef ADA_DATA_S2S_DATA_H
#define ADA_DATA_S2S_DATA_H

#include <stdint.h>

#include "adalora.h"
#include "tokenizer/tokenizer.h"

struct s2s_dataset {
	int64_t n;                 /* examples */
	int32_t *tokens;           /* every example's source then target tokens (owned) */
	int64_t *offset;           /* [n] where example i starts in tokens (owned) */
	int32_t *src_len, *tgt_len;   /* [n] (owned) */
	int64_t *line;             /* [n] its line in the file (owned) */
	char **target_text;        /* [n] the target as written (owned), for ROUGE */
	uint8_t *cut;              /* [n] bit 0: the source was cut, bit 1: the target (owned) */
	int max_src, max_tgt;      /* the longest source and target */
	int64_t n_truncated_src, n_truncated_tgt;   /* examples cut to fit */
	int64_t target_tokens;     /* sum of tgt_len: the loss's tokens per epoch */
};

static inline const int32_t *s2s_source(const struct s2s_dataset *ds, int64_t i)
{
	return ds->tokens + ds->offset[i];
}

static inline const int32_t *s2s_target(const struct s2s_dataset *ds, int64_t i)
{
	return ds->tokens + ds->offset[i] + ds->src_len[i];
}

/* Read path (JSONL of seq2seq lines) with tok, each source cut to max_src
 * tokens and each target to max_tgt (both >= the framing + 1). Errors name
 * the file and line; params "max_source_length", "max_target_length". */
int s2s_data_load(const char *path, const struct tokenizer *tok, int max_src, int max_tgt,
		  struct s2s_dataset *ds, struct ada_err *err);
void s2s_dataset_release(struct s2s_dataset *ds);

/* Move the last round(fraction * n) examples into valid (at least 1,
 * leaving at least 1); fraction 0 leaves valid empty. File order is kept. */
int s2s_data_split_tail(struct s2s_dataset *train, double fraction, struct s2s_dataset *valid,
			struct ada_err *err);

/* A teacher-forcing batch of the examples idx[0..n): src [n][*S] padded
 * with pad, src_len [n], dec_in [n][*T] (start, then the labels but the
 * last; padded with pad) and labels [n][*T] (-1 past each target), where
 * *S and *T are the longest source and target among them. The buffers hold
 * n * ds->max_src and n * ds->max_tgt. Returns the number of labels. */
int64_t s2s_batch(const struct s2s_dataset *ds, const int64_t *idx, int n, int32_t pad,
		  int32_t start, int32_t *src, int32_t *src_len, int32_t *dec_in, int32_t *labels,
		  int *S, int *T);

#endif
