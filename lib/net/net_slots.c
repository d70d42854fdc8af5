/* net_slots — a network's weights by Hugging Face name; see net_slots.h. */
#include "net/net_slots.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adalora.h"
#include "util/alloc.h"

static void add(struct net_slots *s, enum slot_kind kind, int layer, int rows, int cols,
		const real **w, real **g, const char *fmt, ...)
{
	struct net_slot *sl = &s->v[s->n++];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sl->name, sizeof(sl->name), fmt, ap);
	va_end(ap);
	sl->kind = kind;
	sl->layer = layer;
	sl->rows = rows;
	sl->cols = cols;
	sl->rope_heads = 0;
	sl->w = w;
	sl->g = g;
	sl->fw = NULL;
}

int net_slots_llama(struct net_slots *s, struct llama_net *net, const struct model_config *c,
		    int lm_head)
{
	char path[128];

	s->n = 0;
	s->v = xcalloc((size_t)c->n_layers * (2 + 2 * N_LLAMA_MODULES) + 3, sizeof(*s->v));
	if (!s->v)
		return ADA_ENOMEM;
	add(s, SLOT_EMBEDDING, -1, c->vocab_size, c->dim, &net->tok_emb, &net->d_tok_emb,
	    "model.embed_tokens.weight");
	s->v[s->n - 1].fw = &net->tok_emb_fw;
	for (int l = 0; l < c->n_layers; l++) {
		struct llama_block *b = &net->blocks[l];

		add(s, SLOT_NORM, l, c->dim, 1, &b->attn_norm, &b->d_attn_norm,
		    "model.layers.%d.input_layernorm.weight", l);
		for (int m = 0; m < N_LLAMA_MODULES; m++) {
			struct linear *lin = &b->lin[m];
			int heads = m == MOD_Q ? c->n_heads : m == MOD_K ? c->n_kv_heads : 0;

			llama_module_hf_path(l, m, path, sizeof(path));
			add(s, SLOT_WEIGHT, l, lin->out, lin->in, &lin->w, &lin->dw, "%s.weight", path);
			s->v[s->n - 1].rope_heads = heads;
			s->v[s->n - 1].fw = &lin->fw;
			if (lin->b) {
				add(s, SLOT_BIAS, l, lin->out, 1, &lin->b, &lin->db, "%s.bias", path);
				s->v[s->n - 1].rope_heads = heads;
			}
		}
		add(s, SLOT_NORM, l, c->dim, 1, &b->ffn_norm, &b->d_ffn_norm,
		    "model.layers.%d.post_attention_layernorm.weight", l);
	}
	add(s, SLOT_NORM, -1, c->dim, 1, &net->final_norm, &net->d_final_norm, "model.norm.weight");
	if (lm_head && !c->tied_output)
		add(s, SLOT_WEIGHT, -1, c->vocab_size, c->dim, &net->output, &net->d_output,
		    "lm_head.weight");
	if (lm_head && !c->tied_output)
		s->v[s->n - 1].fw = &net->output_fw;
	return ADA_OK;
}

static void add_ln(struct net_slots *s, struct bert_ln *ln, int layer, int dim, const char *path)
{
	add(s, SLOT_NORM, layer, dim, 1, &ln->w, &ln->dw, "%s.weight", path);
	add(s, SLOT_NORM_BIAS, layer, dim, 1, &ln->b, &ln->db, "%s.bias", path);
}

/* DeBERTa's attention.self.<leaf> of a layer (pos_key_proj, pos_query_proj):
 * weight and bias. */
static void add_pos_proj(struct net_slots *s, struct linear *lin, int layer, const char *pre,
			 const char *leaf)
{
	char path[160];

	snprintf(path, sizeof(path), "%s.encoder.layer.%d.attention.self.%s", pre, layer, leaf);
	add(s, SLOT_WEIGHT, layer, lin->out, lin->in, &lin->w, &lin->dw, "%s.weight", path);
	s->v[s->n - 1].fw = &lin->fw;
	add(s, SLOT_BIAS, layer, lin->out, 1, &lin->b, &lin->db, "%s.bias", path);
}

int net_slots_bert(struct net_slots *s, struct bert_net *net, struct linear *pooler,
		   const struct model_config *c)
{
	const char *pre = bert_model_prefix(c);
	const struct deberta_config *db = &c->deberta;
	const int rel = model_is_deberta(c) && db->relative_attention;
	const int pos_proj = rel && !db->share_att_key;
	char path[160];

	s->n = 0;
	s->v = xcalloc((size_t)c->n_layers * (8 + 2 * N_BERT_MODULES) + 10, sizeof(*s->v));
	if (!s->v)
		return ADA_ENOMEM;
	add(s, SLOT_EMBEDDING, -1, c->vocab_size, c->dim, &net->word_emb, &net->d_word_emb,
	    "%s.embeddings.word_embeddings.weight", pre);
	if (bert_has_pos_emb(c))
		add(s, SLOT_EMBEDDING, -1, c->max_positions, c->dim, &net->pos_emb, &net->d_pos_emb,
		    "%s.embeddings.position_embeddings.weight", pre);
	if (c->type_vocab_size > 0)
		add(s, SLOT_EMBEDDING, -1, c->type_vocab_size, c->dim, &net->type_emb,
		    &net->d_type_emb, "%s.embeddings.token_type_embeddings.weight", pre);
	snprintf(path, sizeof(path), "%s.embeddings.LayerNorm", pre);
	add_ln(s, &net->ln_emb, -1, c->dim, path);
	if (rel) {   /* DeBERTa's relative table and its LayerNorm */
		add(s, SLOT_EMBEDDING, -1, 2 * db->att_span, c->dim, &net->rel_emb, &net->d_rel_emb,
		    "%s.encoder.rel_embeddings.weight", pre);
		if (db->norm_rel_ebd) {
			snprintf(path, sizeof(path), "%s.encoder.LayerNorm", pre);
			add_ln(s, &net->ln_rel, -1, c->dim, path);
		}
	}
	for (int l = 0; l < c->n_layers; l++) {
		struct bert_block *b = &net->blocks[l];

		for (int m = 0; m < N_BERT_MODULES; m++) {
			struct linear *lin = &b->lin[m];

			model_module_hf_path(c, l, m, path, sizeof(path));
			add(s, SLOT_WEIGHT, l, lin->out, lin->in, &lin->w, &lin->dw, "%s.weight", path);
			s->v[s->n - 1].fw = &lin->fw;
			add(s, SLOT_BIAS, l, lin->out, 1, &lin->b, &lin->db, "%s.bias", path);
		}
		/* DeBERTa without share_att_key: the table's own projections */
		if (pos_proj && (db->pos_att & DEBERTA_C2P))
			add_pos_proj(s, &b->pos_key, l, pre, "pos_key_proj");
		if (pos_proj && (db->pos_att & DEBERTA_P2C))
			add_pos_proj(s, &b->pos_query, l, pre, "pos_query_proj");
		snprintf(path, sizeof(path), "%s.encoder.layer.%d.attention.output.LayerNorm", pre, l);
		add_ln(s, &b->ln_attn, l, c->dim, path);
		snprintf(path, sizeof(path), "%s.encoder.layer.%d.output.LayerNorm", pre, l);
		add_ln(s, &b->ln_out, l, c->dim, path);
	}
	if (pooler) {
		add(s, SLOT_WEIGHT, -1, c->dim, c->dim, &pooler->w, &pooler->dw,
		    "%s.pooler.dense.weight", pre);
		add(s, SLOT_BIAS, -1, c->dim, 1, &pooler->b, &pooler->db, "%s.pooler.dense.bias", pre);
	}
	return ADA_OK;
}

void net_slots_release(struct net_slots *s)
{
	free(s->v);
	memset(s, 0, sizeof(*s));
}

const struct net_slot *net_slots_find(const struct net_slots *s, const char *name)
{
	for (int i = 0; i < s->n; i++)
		if (!strcmp(s->v[i].name, name))
			return &s->v[i];
	return NULL;
}

void net_bottleneck_path(const struct model_config *cfg, int layer, int ffn, char *buf,
			 size_t cap)
{
	if (cfg->family == ADA_FAMILY_BERT)
		snprintf(buf, cap, "%s.encoder.layer.%d.%s.adapter", bert_model_prefix(cfg), layer,
			 ffn ? "output" : "attention.output");
	else
		snprintf(buf, cap, "model.layers.%d.%s.adapter", layer, ffn ? "mlp" : "self_attn");
}
