/*
 * data — a language-modelling dataset: training files turned into packed
 * windows of token ids with a loss mask.
 *
 * A dataset owns its windows; the batches of a training step are chosen by
 * train/batch.h. Loading reads a file whole, checks and walks it with
 * train/data_format.h, encodes every record once through a caller-supplied
 * encoder (the data layer knows no tokenizer), and packs:
 *
 *   - every record becomes BOS + tokens + EOS (an id of -1 is skipped);
 *     {"text"} lines and plain-text documents are predicted whole (every
 *     token after BOS, EOS included), {"prompt", "completion"} lines only
 *     on the completion and EOS (the completion is encoded as a
 *     continuation, TOK_NO_PREFIX_SPACE);
 *   - all sequences are concatenated into one stream with a parallel mask
 *     (1 = this token is a prediction target) and cut into windows of
 *     seq_len + 1 tokens, window i covering stream[i*seq_len ..
 *     i*seq_len + seq_len]: consecutive windows share one token, so every
 *     stream token after the first is a target in exactly one window;
 *   - the last, partial window is padded (pad id, mask 0); a window with no
 *     target at all (the end of the stream, or a long stretch of prompt) is
 *     dropped, so every window, and so every batch, has a target.
 *
 * Chat and classification files are recognised but refused here with an
 * error naming the line: they need a chat template or a classifier head.
 */
#ifndef ADA_DATA_DATA_H
#define ADA_DATA_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "adalora.h"
#include "util/ivec.h"

#define DATA_MAX_SEQ_LEN (1 << 20)

/* Text to ids, supplied by the caller (the tokenizer, or a test's toy).
 * encode appends the ids of text[0..len) to out without BOS/EOS; flags are
 * TOK_* from tokenizer/tokenizer.h. bos, eos, pad are ids or -1 for none. */
struct text_encoder {
	void *ctx;
	int (*encode)(void *ctx, const char *text, size_t len, unsigned flags,
		      struct ivec *out, struct ada_err *err);
	int32_t bos, eos, pad;
};

struct dataset {
	int seq_len;
	int64_t n_windows;
	int32_t *tokens;        /* n_windows x (seq_len + 1), owned */
	uint8_t *mask;          /* n_windows x seq_len, owned: mask[w * seq_len + p]
	                         * is 1 when token p + 1 of window w is a target */
	int64_t n_targets;      /* ones in mask */
};

/* Load the training file at path (errors name it). ds is the caller's and
 * is overwritten; release it with dataset_release(). */
int dataset_load(const char *path, int seq_len, const struct text_encoder *enc,
		 struct dataset *ds, struct ada_err *err);

/* The same over a buffer the caller owns; name is used in errors. */
int dataset_load_buffer(const char *buf, size_t len, const char *name, int seq_len,
			const struct text_encoder *enc, struct dataset *ds,
			struct ada_err *err);

/* Move the last windows of train into valid (a new dataset the caller
 * releases): the end of the stream, contiguous, so the held-out text was
 * never trained on. valid_fraction < 0 asks for the default: 0.05 when
 * train has at least 20 windows, else no split. 0 means no split (valid
 * comes back empty). Otherwise round(fraction * n_windows) windows, at
 * least 1 and leaving at least 1; fewer than 2 windows is an error. */
int dataset_split_tail(struct dataset *train, double valid_fraction,
		       struct dataset *valid, struct ada_err *err);

/* Training and validation sets for a job: valid_path (may be NULL) is
 * loaded like train_path and then valid_fraction is ignored; without it
 * the tail of the training data is held out as dataset_split_tail() says. */
int dataset_load_split(const char *train_path, const char *valid_path,
		       double valid_fraction, int seq_len, const struct text_encoder *enc,
		       struct dataset *train, struct dataset *valid, struct ada_err *err);

void dataset_release(struct dataset *ds);

/* Model inputs and targets of window w: inputs[p] = token p, targets[p] =
 * token p + 1 where it is a target, else -1 (the loss's ignore index); both
 * seq_len long, caller-owned. Returns the number of targets. */
int dataset_window(const struct dataset *ds, int64_t w, int32_t *inputs, int32_t *targets);

/* The number of targets in window w. */
int dataset_window_targets(const struct dataset *ds, int64_t w);

#endif
