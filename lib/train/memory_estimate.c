/* memory_estimate — a job's peak memory from shapes; see memory_estimate.h. */
#include "train/memory_estimate.h"

#include <stdio.h>
#include <string.h>

#include "nn/attention.h"
#include "nn/bert.h"
#include "nn/bart.h"
#include "nn/frozen.h"
#include "nn/bart_decode.h"
#include "nn/parallel.h"
#include "net/model_bind.h"
#include "util/err.h"

/* llama.c and bert.c carve their activation arenas in 64-byte steps. */
static int64_t carve(int64_t n_reals)
{
	return (n_reals * (int64_t)sizeof(float) + 63) & ~(int64_t)63;
}

static int64_t attention_scratch(int B, int T, int H, int KV, int hd, int threads)
{
	struct attention_shape s = { B, T, H, KV, hd };

	return carve((int64_t)threads * (int64_t)attention_scratch_per_thread(&s));
}

/* llama_acts_init (lm_head) or llama_acts_init_hidden, as nn/llama.c lays
 * them out; with checkpointing every per-block buffer but x_in holds one
 * block. */
static int64_t llama_acts(const struct model_config *c, int B, int T, int threads, int lm_head,
			  int checkpointing)
{
	const int64_t L = checkpointing ? 1 : c->n_layers, N = (int64_t)B * T, D = c->dim;
	const int64_t F = c->hidden_dim;
	const int64_t V = c->vocab_size, QD = (int64_t)c->n_heads * c->head_dim;
	const int64_t KD = (int64_t)c->n_kv_heads * c->head_dim, TT = (int64_t)T * T;
	int64_t b = 0;

	b += carve((int64_t)c->n_layers * N * D);        /* x_in, every block's */
	b += carve(L * N * D);                           /* xn1 */
	b += carve(L * N);                               /* rstd1 */
	b += carve(L * N * QD) + 2 * carve(L * N * KD);  /* q, k, v */
	b += carve(L * B * c->n_heads * TT);             /* att */
	b += carve(L * N * QD);                          /* y */
	b += 2 * carve(L * N * D) + carve(L * N);        /* x_mid, xn2, rstd2 */
	b += 3 * carve(L * N * F);                       /* gate, up, h */
	b += 2 * carve(N * D) + carve(N);                /* x_out, xf, rstdf */
	if (lm_head)
		b += carve(N * V) + carve(N * 2);        /* logits, row_loss (double) */
	else
		b += carve(N * D);                       /* dhidden */
	b += 2 * carve(N * D) + carve(N * QD) + 2 * carve(N * KD) + carve(N * QD);
	b += 3 * carve(N * F);                           /* dgate, dup, dh */
	b += attention_scratch(B, T, c->n_heads, c->n_kv_heads, c->head_dim, threads);
	b += 2 * carve((int64_t)T * (c->head_dim / 2)); /* rope tables */
	return b;
}

/* bert_acts_init, as nn/bert.c lays it out (its own count, DeBERTa's
 * table rows and attention scratch included; this formula for BERT when
 * the shape is one bert_acts_init refuses). */
static int64_t bert_acts(const struct model_config *c, int B, int T, int threads)
{
	const int64_t L = c->n_layers, N = (int64_t)B * T, D = c->dim, F = c->hidden_dim;
	struct bert_dims d;
	int64_t b = 0;

	bert_dims_from_config(&d, c);
	if ((b = (int64_t)bert_acts_bytes(&d, B, T, threads)) > 0)
		return b;

	b += carve(N * D) + 2 * carve(N);                /* emb, mean_e, rstd_e */
	b += carve((L + 1) * N * D);                     /* x */
	b += 3 * carve(L * N * D);                       /* q, k, v */
	b += carve(L * B * c->n_heads * (int64_t)T * T); /* att */
	b += 2 * carve(L * N * D) + 2 * carve(L * N);    /* ctx, s1, mean1, rstd1 */
	b += carve(L * N * D) + 2 * carve(L * N * F);    /* x_mid, u, g */
	b += carve(L * N * D) + 2 * carve(L * N);        /* s2, mean2, rstd2 */
	b += 6 * carve(N * D) + 2 * carve(N * F);        /* dx ds dctx dq dk dv, du dg */
	b += attention_scratch(B, T, c->n_heads, c->n_heads, c->head_dim, threads);
	b += carve(N * D) + carve(N);                    /* dhidden, zero_types */
	return b;
}

static int has_adapters(const struct ada_method *m)
{
	return m->type == ADA_METHOD_LORA || m->type == ADA_METHOD_ADALORA ||
	       m->type == ADA_METHOD_LORA_PRUNE;
}

static int adapter_rank(const struct ada_method *m)
{
	return m->type == ADA_METHOD_LORA ? m->hp.r : m->hp.init_r;
}

/* The head of ...ForSequenceClassification (net_build.c register_head). */
static int64_t head_params(const struct model_config *c, int n_labels)
{
	const int64_t D = c->dim, C = n_labels;

	if (c->family != ADA_FAMILY_BERT)
		return C * D;
	if (strcmp(c->arch, "roberta") && !model_is_deberta(c))
		return C * D + C;
	return D * D + D + C * D + C;   /* RoBERTa's dense, DeBERTa's ContextPooler: new */
}

/* The model's own weights a method trains (net_slots.c, net_build.c
 * slot_trains): everything (full), the biases (bitfit), the layers' norms
 * (adapter). */
static int64_t slot_params(const struct model_config *c, enum ada_method_type t, int classify)
{
	const int64_t L = c->n_layers, D = c->dim;
	int64_t weights = 0, biases = 0, norms = 0, norm_biases = 0, layer_norms = 0;

	for (int mod = 0; mod < model_n_modules(c); mod++) {
		int out, in;
		model_module_shape(c, mod, &out, &in);
		weights += L * out * (int64_t)in;
		if (c->family == ADA_FAMILY_BERT || (c->qkv_bias && mod <= MOD_V))
			biases += L * out;
	}
	if (c->family == ADA_FAMILY_BERT) {
		const struct deberta_config *db = &c->deberta;

		weights += (int64_t)(c->vocab_size + (bert_has_pos_emb(c) ? c->max_positions : 0) +
				     c->type_vocab_size) * D;
		norms = D * (2 * L + 1);
		norm_biases = norms;
		layer_norms = 2 * D * 2 * L;
		if (strcmp(c->arch, "roberta") && !model_is_deberta(c) && classify) {   /* BERT's pooler */
			weights += D * D;
			biases += D;
		}
		if (model_is_deberta(c) && db->relative_attention) {
			/* the relative table, its LayerNorm, pos_key_proj / pos_query_proj */
			const int proj = db->share_att_key ? 0 : ((db->pos_att & DEBERTA_C2P) != 0) +
								  ((db->pos_att & DEBERTA_P2C) != 0);
			weights += 2 * (int64_t)db->att_span * D + L * proj * D * D;
			biases += L * proj * D;
			if (db->norm_rel_ebd) {
				norms += D;
				norm_biases += D;
			}
		}
	} else {
		weights += (int64_t)c->vocab_size * D;
		if (!classify && !c->tied_output)
			weights += (int64_t)c->vocab_size * D;
		norms = D * (2 * L + 1);
		layer_norms = 2 * D * L;
	}
	switch (t) {
	case ADA_METHOD_FULL:
		return weights + biases + norms + norm_biases;
	case ADA_METHOD_BITFIT:
		return biases + norm_biases;
	case ADA_METHOD_ADAPTER:
		return layer_norms;
	default:
		return 0;
	}
}

int64_t memory_trainable_params(const struct model_config *c, const struct ada_method *m,
				int task, int n_labels)
{
	const int classify = task == ADA_TASK_CLASSIFICATION;
	int64_t n = slot_params(c, m->type, classify);

	if (m->type == ADA_METHOD_ADAPTER) {
		const int64_t D = c->dim, S = m->hp.adapter_size;
		n += 2 * (int64_t)c->n_layers * (S * D + S + D * S + D);
	}
	if (has_adapters(m)) {
		const int64_t r = adapter_rank(m);
		for (int l = 0; l < c->n_layers; l++)
			for (int mod = 0; mod < model_n_modules(c); mod++) {
				int out, in;
				if (!(m->hp.target_modules & model_module_bit(c, mod)) ||
				    !model_layer_has_module(c, l, mod))
					continue;
				model_module_shape(c, mod, &out, &in);
				n += r * (in + out) + (m->type == ADA_METHOD_ADALORA ? r : 0);
			}
	}
	if (classify)
		n += head_params(c, n_labels > 0 ? n_labels : 2);
	return n;
}

/* Rows an adapter of (layer, mod) sees in a step: N, or an encoder-
 * decoder's source rows Ns (its encoder, the decoder's cross keys and
 * values) and target rows Nt. */
static int64_t module_rows(const struct model_config *c, int layer, int mod, int64_t N,
			   int64_t Ns, int64_t Nt)
{
	if (c->family != ADA_FAMILY_BART)
		return N;
	if (!model_is_decoder_layer(c, layer) || mod == BART_CROSS_K || mod == BART_CROSS_V)
		return Ns;
	return Nt;
}

/* Beyond the arena: what the method's own objects allocate per step. */
static int64_t method_bytes(const struct model_config *c, const struct ada_method *m, int64_t N,
			    int64_t Ns, int64_t Nt)
{
	const int64_t f = sizeof(float);
	int64_t b = 0;

	if (has_adapters(m)) {
		const int64_t r = adapter_rank(m);
		int64_t elems = 0;
		int n_bufs = 0;
		for (int l = 0; l < c->n_layers; l++)
			for (int mod = 0; mod < model_n_modules(c); mod++) {
				int out, in;
				int64_t rows = module_rows(c, l, mod, N, Ns, Nt);
				if (!(m->hp.target_modules & model_module_bit(c, mod)) ||
				    !model_layer_has_module(c, l, mod))
					continue;
				model_module_shape(c, mod, &out, &in);
				/* lowrank.c: xq and t [N][r], drop(x) [N][in] with dropout */
				b += (2 * rows * r + (m->hp.lora_dropout > 0 ? rows * in : 0)) * f;
				elems += r * (out + in) + (m->type == ADA_METHOD_ADALORA ? r : 0);
			}
		/* rank_allocator.c: Ibar (and Ubar) per adapter element */
		if (m->type == ADA_METHOD_ADALORA || m->type == ADA_METHOD_LORA_PRUNE)
			n_bufs = m->hp.importance == ADA_IMPORTANCE_SENSITIVITY_UNCERTAINTY ? 2
				 : m->hp.importance == ADA_IMPORTANCE_SENSITIVITY ? 1 : 0;
		b += n_bufs * elems * f;
	}
	if (m->type == ADA_METHOD_ADAPTER)   /* bottleneck.c: h_in [N][D], a z dz [N][S] */
		b += 2 * (int64_t)c->n_layers * (N * c->dim + 3 * N * m->hp.adapter_size) * f;
	return b;
}

void memory_estimate_config(const struct model_config *c, int64_t params,
			    const struct ada_method *m, int task, int n_labels, int threads,
			    int64_t windows, struct ada_memory *out)
{
	const struct ada_hparams *hp = &m->hp;
	const int classify = task == ADA_TASK_CLASSIFICATION;
	const int T = hp->seq_len > 0 ? hp->seq_len : 1;
	const int B = hp->micro_batch_size > 0 && hp->micro_batch_size < hp->batch_size
			      ? hp->micro_batch_size : (hp->batch_size > 0 ? hp->batch_size : 1);
	const int64_t N = (int64_t)B * T, C = n_labels > 0 ? n_labels : 2;
	const int ctx = c->context_length > 0 ? c->context_length : 1;
	/* an encoder-decoder's source and target lengths (net/s2s_eval.c's rule) */
	const int S2 = hp->max_source_length ? hp->max_source_length : ctx < 1024 ? ctx : 1024;
	const int T2 = hp->max_target_length ? hp->max_target_length : ctx < 128 ? ctx : 128;
	const int64_t Ns = (int64_t)B * S2, Nt = (int64_t)B * T2;

	memset(out, 0, sizeof(*out));
	if (threads <= 0)
		threads = nn_threads();
	out->weights = params * (int64_t)sizeof(float);
	if (c->family == ADA_FAMILY_BART) {
		struct bart_dims d;
		bart_dims_of(c, &d);
		/* the arena, then the micro-batch's src, src_len, dec_in, labels, idx */
		out->activations = (int64_t)bart_acts_bytes(&d, B, S2, T2, threads) +
				   (Ns + 2 * Nt) * 4 + B * 12;
		if (hp->valid_generate_examples) {
			/* validation's decoder beside them (trainer_s2s.c), of
			 * generation_num_beams (auto: 4, as summarization
			 * checkpoints say) hypotheses, and beam search's two
			 * rows of scores per hypothesis */
			const int nb = hp->generation_num_beams ? hp->generation_num_beams : 4;
			const int L = hp->generation_max_length ? hp->generation_max_length - 1 : T2;
			out->activations += (int64_t)bart_decoder_bytes(&d, S2, nb, L < 1 ? 1 : L,
									threads) +
					    2 * (int64_t)nb * c->vocab_size * 4;
		}
	} else if (!classify) {
		out->activations = llama_acts(c, B, T, threads, 1, hp->gradient_checkpointing) +
				   2 * N * 4;   /* + inputs, targets */
	} else {
		out->activations = c->family == ADA_FAMILY_BERT ? bert_acts(c, B, T, threads)
								   : llama_acts(c, B, T, threads, 0,
										hp->gradient_checkpointing);
		/* the head's rows, token types, and the micro-batch's ids, types,
		 * lengths, labels, targets (trainer_cls.c) */
		out->activations += (6 * B * (int64_t)c->dim + 2 * B * C) * 4 + N * 4 + N * 4 + N * 4 +
				    3 * (int64_t)B * 4;
	}
	if (ada_compute_dtype_resolve(hp->compute_dtype, c->family) == ADA_COMPUTE_BF16) {
		/* trainer_setup.c build_bf16: the widest block operand as bf16 */
		int width = c->dim > c->hidden_dim ? c->dim : c->hidden_dim;
		if (c->n_heads * c->head_dim > width)
			width = c->n_heads * c->head_dim;
		out->activations += 2 * (int64_t)frozen_bf16_need((int)N, width);
	}
	out->trainable = 4 * memory_trainable_params(c, m, task, (int)C) * (int64_t)sizeof(float);
	out->method = method_bytes(c, m, N, Ns, Nt);
	if (c->family == ADA_FAMILY_BART && windows > 0)
		/* s2s_data.c at its longest: tokens, offsets, lengths, line, the
		 * target text (about 4 bytes a token) */
		out->data = windows * (((int64_t)S2 + T2) * 4 + (int64_t)T2 * 4 + 41);
	else if (windows > 0)   /* data.c: windows of T + 1 ids and T mask bytes; class_data.c */
		out->data = classify ? windows * ((int64_t)T * 5 + 17)
				     : windows * (((int64_t)T + 1) * 4 + T);
	out->runtime = MEMORY_RUNTIME_BASE + MEMORY_RUNTIME_PER_THREAD * threads;
	out->total = out->weights + out->activations + out->trainable + out->method + out->data +
		     out->runtime;
}

/* A model_config of the shape ada_model_probe() describes. What the probe
 * does not report is inferred: the family from the architecture, q/k/v
 * biases for qwen2, a tied output from the parameter count, BERT's tables
 * from the context, DeBERTa's attention as v3's. */
static void config_from_info(const struct ada_model_info *info, struct model_config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->arch, sizeof(c->arch), "%s", info->architecture);
	c->family = !strcmp(info->architecture, "bert") || !strcmp(info->architecture, "roberta") ||
		    !strcmp(info->architecture, "deberta-v2") ? ADA_FAMILY_BERT : ADA_FAMILY_LLAMA;
	if (info->family == ADA_FAMILY_BART || info->n_decoder_layers > 0)
		c->family = ADA_FAMILY_BART;
	c->dim = info->dim;
	c->hidden_dim = info->hidden_dim;
	c->n_layers = info->n_layers;
	c->n_heads = info->n_heads > 0 ? info->n_heads : 1;
	c->n_kv_heads = info->n_kv_heads > 0 ? info->n_kv_heads : c->n_heads;
	c->head_dim = info->dim / c->n_heads;
	c->vocab_size = info->vocab_size;
	c->context_length = info->context_length;
	c->qkv_bias = !strcmp(info->architecture, "qwen2");
	c->max_positions = info->context_length;
	c->type_vocab_size = !strcmp(info->architecture, "roberta") ? 1 : 2;
	c->has_pooler = 1;
	c->tied_output = c->family == ADA_FAMILY_LLAMA &&
			 info->parameters == model_param_count(c) - (int64_t)c->vocab_size * c->dim;
	if (model_is_deberta(c)) {
		/* the probe does not say: DeBERTa-v3's attention (deberta-v3-base's
		 * table of 2 x 256 rows through shared keys, c2p and p2c) */
		struct deberta_config *db = &c->deberta;

		c->has_pooler = 0;
		c->type_vocab_size = 0;
		db->relative_attention = 1;
		db->pos_att = DEBERTA_C2P | DEBERTA_P2C;
		db->max_relative_positions = c->max_positions;
		db->position_buckets = c->max_positions > 258 ? 256 : 0;
		db->att_span = db->position_buckets ? db->position_buckets : db->max_relative_positions;
		db->share_att_key = 1;
		db->norm_rel_ebd = 1;
		db->pooler_act = HEAD_ACT_GELU;
	}
	if (c->family == ADA_FAMILY_BART) {
		c->n_dec_layers = info->n_decoder_layers;
		c->position_offset = 2;
		c->max_positions = info->context_length + 2;
		c->embed_scale = 1;
		c->norm_eps = 1e-5f;
		c->tied_output = 1;
	}
}

int ada_memory_estimate(const struct ada_model_info *info, const struct ada_method *m, int task,
			int num_labels, int threads, int64_t windows, struct ada_memory *out)
{
	struct model_config c;

	config_from_info(info, &c);
	if (task != ADA_TASK_CAUSAL_LM && task != ADA_TASK_CLASSIFICATION && task != ADA_TASK_SEQ2SEQ)
		task = c.family == ADA_FAMILY_BERT ? ADA_TASK_CLASSIFICATION :
		       c.family == ADA_FAMILY_BART ? ADA_TASK_SEQ2SEQ : ADA_TASK_CAUSAL_LM;
	memory_estimate_config(&c, info->parameters > 0 ? info->parameters : model_param_count(&c),
			       m, task, num_labels, threads, windows, out);
	/* Matrices stay in their file's type (mapped): a BF16 model costs its
	 * BF16 bytes, a Q4_K one its blocks; the norms are widened to f32. */
	if (info->weight_bytes > 0 && info->dtype[0] && strcmp(info->dtype, "F32")) {
		out->total -= out->weights;
		out->weights = info->weight_bytes + (int64_t)c.dim * (2 * c.n_layers + 1) * 4;
		out->total += out->weights;
	}
	return ADA_OK;
}

static void human(char *buf, size_t cap, int64_t bytes)
{
	if (bytes >= (int64_t)1 << 30)
		snprintf(buf, cap, "%.1f GiB", (double)bytes / (1 << 30));
	else
		snprintf(buf, cap, "%.0f MiB", (double)bytes / (1 << 20) + 0.5);
}

int ada_memory_check(const struct ada_model_info *info, const struct ada_method *m, int task,
		     int num_labels, int threads, int64_t windows, int64_t limit,
		     struct ada_memory *out, struct ada_err *err)
{
	const struct ada_hparams *hp = &m->hp;
	const char *type = ada_method_name(m->type);
	const int micro = hp->micro_batch_size > 0 && hp->micro_batch_size < hp->batch_size
				  ? hp->micro_batch_size : hp->batch_size;
	struct ada_memory e, half;
	int64_t fixed;
	char need[32], cap[32], acts[32], param[160];
	const char *what;

	ada_memory_estimate(info, m, task, num_labels, threads, windows, &e);
	if (out)
		*out = e;
	if (limit <= 0 || e.total <= limit)
		return ADA_OK;
	human(need, sizeof(need), e.total);
	human(cap, sizeof(cap), limit);
	human(acts, sizeof(acts), e.activations + e.method);
	/* What no batch shape changes: the model, and what the method keeps. */
	ada_memory_estimate(info, m, task, num_labels, threads, 0, &half);
	fixed = half.weights + half.trainable + half.runtime;
	if (fixed + e.data >= limit) {
		char w[32], t[32];
		human(w, sizeof(w), e.weights);
		human(t, sizeof(t), e.trainable);
		if (m->type == ADA_METHOD_FULL && e.trainable > e.weights)
			return ada_fail_param(err, ADA_EINVAL, "method.type",
					      "method.type: full fine-tuning of this model needs about %s before any activation (weights %s, trained copies with gradients and AdamW moments %s); the memory limit is %s: use an adapter method",
					      need, w, t, cap);
		return ada_fail_param(err, ADA_EINVAL, "model",
				      "model: this model needs about %s (weights %s, trainable state %s) before any activation; the memory limit is %s",
				      need, w, t, cap);
	}
	/* The activations scale with the micro-batch: fewer sequences per
	 * forward pass train the same (the gradient accumulates), so that is
	 * the field to name; a micro-batch of one leaves seq_len. */
	what = micro <= 1 ? "seq_len" : micro < hp->batch_size ? "micro_batch_size" : "batch_size";
	if (info->n_decoder_layers > 0 && micro <= 1) {   /* an encoder-decoder's sequences */
		snprintf(param, sizeof(param), "method.%s.hyperparameters.max_source_length", type);
		return ada_fail_param(err, ADA_EINVAL, param,
				      "%s: the job would need about %s at its peak, %s of it for one source and target; the memory limit is %s: lower max_source_length or max_target_length",
				      param, need, acts, cap);
	}
	snprintf(param, sizeof(param), "method.%s.hyperparameters.%s", type, what);
	return ada_fail_param(err, ADA_EINVAL, param,
			      "%s: the job would need about %s at its peak, %s of it for micro-batches of %d x %d tokens; the memory limit is %s: %s",
			      param, need, acts, micro, hp->seq_len, cap,
			      !strcmp(what, "batch_size")
				      ? "set micro_batch_size below batch_size (the gradient accumulates, the result is the same) or lower seq_len"
			      : !strcmp(what, "micro_batch_size") ? "lower micro_batch_size or seq_len"
								 : "lower seq_len");
}
