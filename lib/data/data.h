/*
 * data — a language-modelling dataset: training files turned into packed
 * windows of token ids with a loss mask.
 *
 * A dataset owns its windows; the batches of a training step are chosen by
 * train/batch.h. Loading reads a file whole, checks and walks it with
 * train/data_format.h, encodes every record once through a caller-supplied
 * encoder (the data layer knows no tokenizer), and packs:
 *
 *   - text framing: every {"text"} line or plain-text document becomes
 *     BOS + tokens + EOS (an id of -1 is skipped) and is predicted whole
 *     (every token after BOS, EOS included); {"prompt", "completion"}
 *     lines only on the completion and EOS (the completion is encoded as a
 *     continuation, TOK_NO_PREFIX_SPACE). With the encoder's bos_only
 *     (llama2.c's models, trained on BOS + story with no EOS) no EOS is
 *     appended and the next record's BOS is the target that ends a record.
 *     That EOS (or BOS) is the record's framing token: its mask byte
 *     carries DATA_FRAMING too, so a loss can be reported with and without
 *     it (a model's published loss counts what its training counted);
 *   - chat lines ({"messages"}) are rendered with the encoder's chat
 *     format (data/chat.h): the template's own tokens, loss on the
 *     assistant turns (their end-of-turn token included) unless a turn has
 *     "weight": 0; no framing tokens are added;
 *   - all sequences are concatenated into one stream with a parallel mask
 *     (DATA_TARGET = this token is a prediction target) and cut into
 *     windows of seq_len + 1 tokens, window i covering stream[i*seq_len ..
 *     i*seq_len + seq_len]: consecutive windows share one token, so every
 *     stream token after the first is a target in exactly one window;
 *   - a conversation is never split across windows: one that does not fit
 *     in what is left of the current window starts the next one (the rest
 *     padded: pad id, mask 0), so each assistant turn sees its whole
 *     conversation; one longer than a window (seq_len + 1 tokens) is cut to
 *     its first seq_len + 1 tokens, and counted (n_truncated). Text records
 *     pack without gaps across window edges, as before;
 *   - the last, partial window is padded (pad id, mask 0); a window with no
 *     target at all (the end of the stream, a long stretch of prompt, a
 *     conversation whose trained turns were cut away) is dropped, so every
 *     window, and so every batch, has a target.
 *
 * Classification files are recognised but refused here with an error
 * naming the line: they need a classifier head.
 */
#ifndef ADA_DATA_DATA_H
#define ADA_DATA_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "adalora.h"
#include "util/ivec.h"
#include "util/strbuf.h"

struct chat_format;

#define DATA_MAX_SEQ_LEN (1 << 20)

/* Bits of a mask byte. */
#define DATA_TARGET  1u     /* the token is a prediction target */
#define DATA_FRAMING 2u     /* ... and it is the framing token that ends a text
                             * record (EOS, or the next BOS with bos_only) */

/* Text to ids, supplied by the caller (the tokenizer, or a test's toy), and
 * how records are framed. encode appends the ids of text[0..len) to out
 * without BOS/EOS; flags are TOK_* from tokenizer/tokenizer.h. bos, eos,
 * pad are ids or -1 for none. The members after pad may be left zero. */
struct text_encoder {
	void *ctx;
	int (*encode)(void *ctx, const char *text, size_t len, unsigned flags,
		      struct ivec *out, struct ada_err *err);
	int32_t bos, eos, pad;
	/* The special token spelled in text[from..len) that comes first
	 * (tokenizer_special_match): 1 with where, how long and its id, or 0.
	 * NULL: the encoder has none. Chat templates' text is cut at them;
	 * message contents never are. */
	int (*special)(void *ctx, const char *text, size_t len, size_t from, size_t *at,
		       size_t *mlen, int32_t *id);
	/* The spelling of a token id for renderings people read (NULL, or a
	 * NULL return: "<id N>"). */
	const char *(*spell)(void *ctx, int32_t id, size_t *len);
	/* Text framing: 1 for BOS + text with no EOS (above). */
	int bos_only;
	/* How chat lines are rendered (borrowed); NULL: chat data is refused,
	 * with param "chat_template" and chat_refusal (may be NULL) as the
	 * message. */
	const struct chat_format *chat;
	const char *chat_refusal;
};

/* A token sequence with a mask byte (DATA_*) per token. */
struct tok_seq {
	struct ivec tok;
	uint8_t *mask;          /* tok.n bytes used; mask_cap allocated */
	size_t mask_cap;
};

/* Append id with mask m / set the mask of tokens [from, tok.n) to m. */
int tok_seq_push(struct tok_seq *s, int32_t id, uint8_t m, struct ada_err *err);
int tok_seq_mark(struct tok_seq *s, size_t from, uint8_t m, struct ada_err *err);
void tok_seq_release(struct tok_seq *s);

struct data_record;

/* One record as training sees it, appended to out: its tokens and mask
 * (above). shown (may be NULL) receives the text the tokens spell, special
 * tokens written out: what `adalora render` prints. Errors name the field,
 * without the line. */
int data_encode_record(const struct text_encoder *enc, const struct data_record *rec,
		       struct tok_seq *out, struct strbuf *shown, struct ada_err *err);

struct dataset {
	int seq_len;
	int64_t n_windows;
	int32_t *tokens;        /* n_windows x (seq_len + 1), owned */
	uint8_t *mask;          /* n_windows x seq_len, owned: mask[w * seq_len + p]
	                         * holds the DATA_* bits of token p + 1 of window w */
	int64_t n_targets;      /* tokens with DATA_TARGET */
	int64_t n_framing;      /* ... of which DATA_FRAMING */
	int64_t n_truncated;    /* conversations cut to a window */
	int shape;              /* enum ada_data_shape of the file's records */
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

/* The DATA_* bits of window w's targets: seq_len bytes (borrowed). */
static inline const uint8_t *dataset_window_mask(const struct dataset *ds, int64_t w)
{
	return ds->mask + (size_t)w * (size_t)ds->seq_len;
}

/* The number of targets in window w. */
int dataset_window_targets(const struct dataset *ds, int64_t w);

#endif
