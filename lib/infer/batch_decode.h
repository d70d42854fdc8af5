/*
 * batch_decode — decoding many sequences of one base in one step
 * (struct ada_seq, struct ada_decoder, ada_decode_step: adalora.h).
 *
 * A step runs base by base. For a base, it gathers rows: each sequence contributes the tokens it has still to
 * read (a new one's prompt, as many as the step has rows for; one in
 * generation, the token it chose last), each at its own position. Layer by
 * layer, the rows go through the base's matrices together (rowdot.h: the
 * weight is read, or dequantized, once per step for all of them, and each
 * row's result does not depend on the others); each row then gets its own
 * sequence's adapter (biases and norms it replaces, LoRA / AdaLoRA factors,
 * bottlenecks), computed here with the decoder's scratch so that adapters
 * stay read-only and shareable. Keys and values go to each sequence's own
 * cache before attention, so a prompt's rows attend to each other within
 * the step. A sequence whose reading is done gets logits for its last row
 * only, and chooses its next token (sample.h; log-probabilities on request).
 *
 * Row buffers have strides rounded up to 16 floats so that every row
 * starts on the same alignment: the vectorised elementwise loops then do
 * the same thing to a row wherever it sits in the batch.
 */
#ifndef ADA_INFER_BATCH_DECODE_H
#define ADA_INFER_BATCH_DECODE_H

#include <stdint.h>

#include "adalora.h"
#include "infer/sample.h"
#include "infer/served.h"

struct ada_seq {
	struct ada_served *m;         /* owned handle */
	const struct llama_net *net;  /* m's network (borrowed from it) */
	int32_t *prompt;              /* owned copy [n_prompt] */
	int n_prompt, n_read;         /* prompt tokens, and how many were read */
	int pos;                      /* positions in the cache */
	int cap;                      /* positions the cache holds now (grown on demand) */
	int max_pos;                  /* positions it may come to hold: prompt + max_new - 1 */
	float *kc, *vc;               /* owned [n_layers][cap][n_kv_heads * head_dim] */
	int max_new, n_chosen;
	int32_t last;                 /* the token chosen last (read at the next step) */
	struct sampler smp;
	int logprobs, top_logprobs;
	int has_token;                /* the last step chose tok */
	struct ada_token tok;
	const float *logits;          /* its logits then ([vocab], in the decoder's
	                               * buffer: valid until its next step) */
};

struct ada_decoder {
	int max_rows;
	/* the rows of the current step */
	int n_rows;
	struct ada_seq **row_seq;     /* [max_rows] */
	const struct llama_net **row_net;
	int32_t *row_tok, *row_pos;
	/* activations, [max_rows][stride] each (strides padded to 16 floats) */
	void *arena;
	size_t arena_bytes;
	int dim, qd, kd, hidden;      /* the shapes the arena was cut for */
	int sd, sq, sk, sf;           /* strides of dim, q, kv and hidden rows */
	float *x, *xn, *q, *k, *v, *att, *tmp, *g, *u, *h;
	/* scratch grown on demand */
	float *scratch;               /* rowdot's, per pool thread */
	size_t scratch_n;
	float *scores;                /* attention, per pool thread: [threads][context] */
	size_t scores_n;
	float *small;                 /* adapter bottlenecks: [rows][rank or size] x 2 */
	size_t small_n;
	float *logits;                /* [sequences finishing][vocab] */
	size_t logits_n;
	float *last;                  /* their final-norm rows [sequences][sd] */
	size_t last_n;
};

#endif
