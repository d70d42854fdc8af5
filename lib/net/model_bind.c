/* model_bind — a frozen model's weights bound to a network; see model_bind.h. */
#include "net/model_bind.h"

#include <string.h>

void llama_net_from_model(struct llama_net *net, struct llama_block *blocks,
			  const struct model *m)
{
	const struct model_config *c = &m->cfg;

	memset(net, 0, sizeof(*net));
	net->d = (struct llama_dims){
		.dim = c->dim, .hidden = c->hidden_dim, .n_layers = c->n_layers,
		.n_heads = c->n_heads, .n_kv_heads = c->n_kv_heads, .head_dim = c->head_dim,
		.vocab = c->vocab_size, .rope_theta = c->rope_theta, .norm_eps = c->norm_eps,
	};
	net->blocks = blocks;
	/* F32 matrices are multiplied in place; others through nn/frozen.h. */
	net->tok_emb = frozen_mat_f32(&m->tok_emb);
	net->tok_emb_fw = &m->tok_emb;
	net->final_norm = m->final_norm;
	net->output = frozen_mat_f32(&m->output);
	net->output_fw = &m->output;
	for (int l = 0; l < c->n_layers; l++) {
		const struct model_layer *ly = &m->layers[l];
		const struct frozen_mat *w[N_LLAMA_MODULES] = { &ly->wq, &ly->wk, &ly->wv, &ly->wo,
								 &ly->w_gate, &ly->w_up, &ly->w_down };
		const float *b[N_LLAMA_MODULES] = { ly->bq, ly->bk, ly->bv };

		memset(&blocks[l], 0, sizeof(blocks[l]));
		blocks[l].attn_norm = ly->attn_norm;
		blocks[l].ffn_norm = ly->ffn_norm;
		for (int mod = 0; mod < N_LLAMA_MODULES; mod++) {
			struct linear *lin = &blocks[l].lin[mod];
			llama_module_shape(c, mod, &lin->out, &lin->in);
			lin->w = frozen_mat_f32(w[mod]);
			lin->fw = w[mod];
			lin->b = b[mod];
		}
	}
}

void bert_dims_from_config(struct bert_dims *d, const struct model_config *c)
{
	const struct deberta_config *db = &c->deberta;

	*d = (struct bert_dims){
		.dim = c->dim, .hidden = c->hidden_dim, .n_layers = c->n_layers,
		.n_heads = c->n_heads, .head_dim = c->head_dim, .vocab = c->vocab_size,
		.max_positions = c->max_positions, .type_vocab = c->type_vocab_size,
		.position_offset = c->position_offset, .norm_eps = c->norm_eps,
	};
	if (!model_is_deberta(c))
		return;
	/* transformers counts the named terms in the scale even without the table */
	d->disentangled = 1;
	d->scale_terms = 1 + ((db->pos_att & DEBERTA_C2P) != 0) + ((db->pos_att & DEBERTA_P2C) != 0);
	if (!db->relative_attention)
		return;
	d->rel_span = db->att_span;
	d->rel_buckets = db->position_buckets;
	d->rel_max = db->max_relative_positions;
	d->c2p = (db->pos_att & DEBERTA_C2P) != 0;
	d->p2c = (db->pos_att & DEBERTA_P2C) != 0;
	d->share_att_key = db->share_att_key;
}

void bert_net_from_model(struct bert_net *net, struct bert_block *blocks, const struct model *m)
{
	const struct model_config *c = &m->cfg;
	const struct bert_weights *w = m->bert;

	memset(net, 0, sizeof(*net));
	bert_dims_from_config(&net->d, c);
	net->blocks = blocks;
	net->word_emb = w->word_emb;
	net->pos_emb = w->pos_emb;
	net->type_emb = w->type_emb;
	net->ln_emb = (struct bert_ln){ .w = w->emb_ln_w, .b = w->emb_ln_b };
	net->rel_emb = w->rel_emb;   /* DeBERTa's relative table */
	net->ln_rel = (struct bert_ln){ .w = w->rel_ln_w, .b = w->rel_ln_b };
	for (int l = 0; l < c->n_layers; l++) {
		const struct bert_layer *ly = &w->layers[l];
		struct bert_block *b = &blocks[l];

		memset(b, 0, sizeof(*b));
		for (int mod = 0; mod < N_BERT_MODULES; mod++) {
			struct linear *lin = &b->lin[mod];
			model_module_shape(c, mod, &lin->out, &lin->in);
			lin->w = frozen_mat_f32(&ly->w[mod]);
			lin->fw = &ly->w[mod];
			lin->b = ly->b[mod];
		}
		b->ln_attn = (struct bert_ln){ .w = ly->ln_attn_w, .b = ly->ln_attn_b };
		b->ln_out = (struct bert_ln){ .w = ly->ln_out_w, .b = ly->ln_out_b };
		if (ly->pos_key.data)
			b->pos_key = (struct linear){ .w = frozen_mat_f32(&ly->pos_key),
						      .fw = &ly->pos_key, .b = ly->pos_key_b,
						      .in = c->dim, .out = c->dim };
		if (ly->pos_query.data)
			b->pos_query = (struct linear){ .w = frozen_mat_f32(&ly->pos_query),
							.fw = &ly->pos_query, .b = ly->pos_query_b,
							.in = c->dim, .out = c->dim };
	}
}

void bart_net_from_model(struct bart_net *net, struct bart_block *blocks, const struct model *m)
{
	const struct model_config *c = &m->cfg;
	const struct bart_weights *w = m->bart;

	memset(net, 0, sizeof(*net));
	bart_dims_of(c, &net->d);
	net->blocks = blocks;
	/* F32 matrices are multiplied in place; others through nn/frozen.h. */
	net->tok_emb = frozen_mat_f32(&m->tok_emb);
	net->tok_emb_fw = &m->tok_emb;
	net->output = frozen_mat_f32(&m->output);
	net->output_fw = &m->output;
	net->enc_pos = w->enc_pos;
	net->dec_pos = w->dec_pos;
	net->enc_ln_emb = (struct bart_ln){ .w = w->enc_ln_emb_w, .b = w->enc_ln_emb_b };
	net->dec_ln_emb = (struct bart_ln){ .w = w->dec_ln_emb_w, .b = w->dec_ln_emb_b };
	net->logits_bias = w->final_logits_bias;
	for (int l = 0; l < c->n_layers; l++) {
		const struct bart_layer *ly = &w->layers[l];
		struct bart_block *b = &blocks[l];

		memset(b, 0, sizeof(*b));
		for (int mod = 0; mod < N_BART_MODULES; mod++) {
			struct linear *lin = &b->lin[mod];

			if (!model_layer_has_module(c, l, mod))
				continue;
			model_module_shape(c, mod, &lin->out, &lin->in);
			lin->w = frozen_mat_f32(&ly->w[mod]);
			lin->fw = &ly->w[mod];
			lin->b = ly->b[mod];
		}
		b->ln_self = (struct bart_ln){ .w = ly->ln_self_w, .b = ly->ln_self_b };
		b->ln_cross = (struct bart_ln){ .w = ly->ln_cross_w, .b = ly->ln_cross_b };
		b->ln_ffn = (struct bart_ln){ .w = ly->ln_ffn_w, .b = ly->ln_ffn_b };
	}
}

void seq_head_from_model(struct seq_head *head, const struct model *m, int n_labels)
{
	const int D = m->cfg.dim;

	memset(head, 0, sizeof(*head));
	head->out = (struct linear){ .in = D, .out = n_labels };
	if (m->cfg.family != ADA_FAMILY_BERT) {
		head->pool = SEQ_POOL_LAST;
		return;
	}
	head->pool = SEQ_POOL_FIRST;
	head->dense = (struct linear){ .in = D, .out = D };
	/* DebertaV2ForSequenceClassification's ContextPooler is new, as
	 * RoBERTa's dense layer: shape only, its activation from the config. */
	if (model_is_deberta(&m->cfg)) {
		head->act = m->cfg.deberta.pooler_act;
		return;
	}
	/* RobertaForSequenceClassification has no pooler (its checkpoints may
	 * still carry one): its head brings a dense layer of its own. */
	if (strcmp(m->cfg.arch, "roberta") && m->cfg.has_pooler) {
		head->dense.w = m->bert->pooler_w;
		head->dense.b = m->bert->pooler_b;
	}
}
