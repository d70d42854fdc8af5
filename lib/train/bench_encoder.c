/*
 * bench_encoder — the speed of an encoder classifier's training steps; see
 * bench_encoder.h.
 *
 * The shapes are real checkpoints' (model_random_bert.c): "bert-base" and
 * "deberta-v3-base" have the same width, depth, heads and FFN, so their
 * ratio is the cost of DeBERTa's disentangled attention (the table's rows
 * through query/key, the c2p and p2c products and gathers) over BERT's
 * (their vocabularies differ, but a frozen embedding is a gather). Every
 * example is seq tokens long ([CLS] then random ids), so the attention
 * does its full work.
 *
 * FLOPs are counted from the shapes as bench.c counts a decoder's: the six
 * matrices of every layer (DeBERTa's query and key over the table's 2 span
 * rows too), the attention products (QK^T and PV; DeBERTa's Q PK^T and
 * K PQ^T over the table rows one sequence reaches), the head; forward,
 * input gradients everywhere, weight gradients only where something trains.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/err.h"
#include "util/rng.h"
#include "train/bench_encoder.h"
#include "train/trainer.h"

static double encoder_flops(const struct model_config *c, const struct ada_method *m, int B,
			    int T)
{
	const struct deberta_config *db = &c->deberta;
	const double N = (double)B * T, D = c->dim, hd = c->head_dim;
	const int full = m->type == ADA_METHOD_FULL;
	const int r = m->type == ADA_METHOD_LORA ? m->hp.r : m->hp.init_r;
	const int rel = model_is_deberta(c) && db->relative_attention;
	const int c2p = rel && (db->pos_att & DEBERTA_C2P), p2c = rel && (db->pos_att & DEBERTA_P2C);
	const double R = rel ? 2.0 * db->att_span : 0;
	const double W = rel ? fmin(2.0 * T - 1, R) : 0;
	double lin = 0, adapters = 0, attn, total;

	for (int mod = 0; mod < N_BERT_MODULES; mod++) {
		int out, in;
		double rows = N;
		model_module_shape(c, mod, &out, &in);
		/* the table through query_proj (p2c) and key_proj (c2p), or the
		 * layer's own projections when not shared */
		if ((mod == BMOD_QUERY && p2c) || (mod == BMOD_KEY && c2p))
			rows += R;
		lin += 2.0 * rows * in * out;
		if (!full && (m->hp.target_modules & model_module_bit(c, mod)))
			adapters += 2.0 * (db->share_att_key ? rows : N) * r * (in + out);
	}
	lin *= c->n_layers;
	adapters *= c->n_layers;
	attn = (double)c->n_layers * B * c->n_heads * 2.0 * hd * T * T * 2;   /* QK^T, PV */
	attn += (double)c->n_layers * B * c->n_heads * 2.0 * hd * T * W * (c2p + p2c);
	lin += 2.0 * B * D * (D + 2);                                       /* the head */
	total = lin * (full ? 3 : 2) + attn * 3 + adapters * 3;
	return total;
}

/* One batch of random examples, all seq long, labels 0/1 (seed 1). */
static int random_examples(const struct model *m, int batch, int seq, struct class_dataset *ds,
			   struct ada_err *err)
{
	const size_t n = (size_t)batch * seq;
	struct rng rng;

	memset(ds, 0, sizeof(*ds));
	ds->seq_len = seq;
	ds->n = batch;
	ds->ids = xcalloc(n, sizeof(*ds->ids));
	ds->types = xcalloc(n, sizeof(*ds->types));
	ds->lengths = xcalloc((size_t)batch, sizeof(*ds->lengths));
	ds->labels = xcalloc((size_t)batch, sizeof(*ds->labels));
	ds->targets = xcalloc((size_t)batch, sizeof(*ds->targets));
	ds->truncated = xcalloc((size_t)batch, sizeof(*ds->truncated));
	if (!ds->ids || !ds->types || !ds->lengths || !ds->labels || !ds->targets ||
	    !ds->truncated) {
		class_dataset_release(ds);
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	}
	rng_seed(&rng, 1);
	for (size_t i = 0; i < n; i++)
		ds->ids[i] = (int32_t)rng_below(&rng, (uint64_t)m->cfg.vocab_size);
	for (int b = 0; b < batch; b++) {
		ds->lengths[b] = seq;
		ds->labels[b] = (int32_t)rng_below(&rng, 2);
	}
	return ADA_OK;
}

int bench_encoder(const struct ada_bench_opts *o, const struct ada_job *job, struct model *model,
		  struct ada_bench_result *res, struct ada_err *err)
{
	struct label_map labels = { .kind = ADA_LABEL_INT, .n_labels = 2 };
	struct class_dataset train;
	struct trainer tr;
	int rc;

	memset(&tr, 0, sizeof(tr));
	if (o->seq > model->cfg.context_length) {
		rc = ada_fail_param(err, ADA_EINVAL, "seq", "--seq %d exceeds the context length %d",
				    o->seq, model->cfg.context_length);
		model_free(model);
		return rc;
	}
	if (o->gradient_checkpointing) {
		model_free(model);
		return ada_fail_param(err, ADA_EINVAL, "gradient_checkpointing",
				      "--gradient-checkpointing: encoders do not offer it");
	}
	if ((rc = random_examples(model, o->batch, o->seq, &train, err))) {
		model_free(model);
		return rc;
	}
	rc = trainer_setup_cls(&tr, job, model, &train, &labels, err);   /* takes them */
	if (rc || (rc = trainer_build(&tr, err)))
		goto out_release;
	res->flops_per_step = encoder_flops(&tr.model->cfg, &job->method, o->batch, o->seq);
	if ((rc = bench_time_steps(&tr, o, res, err)))
		goto out_release;
	res->activation_bytes = (int64_t)trainer_cls_activation_bytes(&tr);
out_release:
	trainer_release(&tr);
	return rc;
}
