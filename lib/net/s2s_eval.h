/*
 * s2s_eval — what the trainer's seq2seq task and `adalora eval` share
 * about an encoder-decoder and its data: the source and target lengths a
 * job resolves to, and the teacher-forced evaluation of a dataset (the
 * mean NLL of its target tokens and their token accuracy), so a job's
 * validation figures and the evaluation of its exported adapter come from
 * the same code.
 */
#ifndef ADA_NET_S2S_EVAL_H
#define ADA_NET_S2S_EVAL_H

#include <stdint.h>

#include "adalora.h"
#include "data/s2s_data.h"
#include "model/model.h"
#include "nn/bart.h"

/* max_source_length / max_target_length, 0 = auto: min(1024, context) and
 * min(128, context) (transformers' run_summarization defaults). A length
 * over the context is an error naming the field. */
int s2s_lengths(const struct ada_hparams *hp, const struct model_config *c, int *src, int *tgt,
		struct ada_err *err);

/* Buffers for batches of up to B examples of ds (s2s_batch's). */
struct s2s_batch_buf {
	int B;
	int32_t *src, *src_len, *dec_in, *labels;
	int64_t *idx;
};

int s2s_batch_buf_init(struct s2s_batch_buf *b, int B, int max_src, int max_tgt);
void s2s_batch_buf_release(struct s2s_batch_buf *b);

/* Every example of ds through the network, teacher-forced (no dropout,
 * no smoothing), in batches of acts->B: *mean_nll over the target tokens
 * and *accuracy, the share whose argmax is the label. The acts must hold
 * ds's longest source and target. ADA_EINVAL for an example the network
 * refuses, ADA_ENOMEM. */
int s2s_teacher_forced(const struct bart_net *net, struct bart_acts *acts,
		       const struct s2s_dataset *ds, const struct model_config *c,
		       struct s2s_batch_buf *buf, double *mean_nll, double *accuracy);

#endif
