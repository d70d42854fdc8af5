/* inference_net — model + tokenizer + adapter, frozen; see inference_net.h. */
#include "inference_net.h"

#include <stdlib.h>
#include <string.h>

#include "../util/alloc.h"
#include "../util/err.h"
#include "../util/fpenv.h"

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
	net->tok_emb = m->tok_emb;
	net->final_norm = m->final_norm;
	net->output = m->output;
	for (int l = 0; l < c->n_layers; l++) {
		const struct model_layer *ly = &m->layers[l];
		const float *w[N_LLAMA_MODULES] = { ly->wq, ly->wk, ly->wv, ly->wo,
						    ly->w_gate, ly->w_up, ly->w_down };
		const float *b[N_LLAMA_MODULES] = { ly->bq, ly->bk, ly->bv };

		memset(&blocks[l], 0, sizeof(blocks[l]));
		blocks[l].attn_norm = ly->attn_norm;
		blocks[l].ffn_norm = ly->ffn_norm;
		for (int mod = 0; mod < N_LLAMA_MODULES; mod++) {
			struct linear *lin = &blocks[l].lin[mod];
			llama_module_shape(c, mod, &lin->out, &lin->in);
			lin->w = w[mod];
			lin->b = b[mod];
		}
	}
}

void bert_net_from_model(struct bert_net *net, struct bert_block *blocks, const struct model *m)
{
	const struct model_config *c = &m->cfg;
	const struct bert_weights *w = m->bert;

	memset(net, 0, sizeof(*net));
	net->d = (struct bert_dims){
		.dim = c->dim, .hidden = c->hidden_dim, .n_layers = c->n_layers,
		.n_heads = c->n_heads, .head_dim = c->head_dim, .vocab = c->vocab_size,
		.max_positions = c->max_positions, .type_vocab = c->type_vocab_size,
		.position_offset = c->position_offset, .norm_eps = c->norm_eps,
	};
	net->blocks = blocks;
	net->word_emb = w->word_emb;
	net->pos_emb = w->pos_emb;
	net->type_emb = w->type_emb;
	net->ln_emb = (struct bert_ln){ .w = w->emb_ln_w, .b = w->emb_ln_b };
	for (int l = 0; l < c->n_layers; l++) {
		const struct bert_layer *ly = &w->layers[l];
		struct bert_block *b = &blocks[l];

		memset(b, 0, sizeof(*b));
		for (int mod = 0; mod < N_BERT_MODULES; mod++) {
			struct linear *lin = &b->lin[mod];
			model_module_shape(c, mod, &lin->out, &lin->in);
			lin->w = ly->w[mod];
			lin->b = ly->b[mod];
		}
		b->ln_attn = (struct bert_ln){ .w = ly->ln_attn_w, .b = ly->ln_attn_b };
		b->ln_out = (struct bert_ln){ .w = ly->ln_out_w, .b = ly->ln_out_b };
	}
}

void seq_head_from_model(struct seq_head *head, const struct model *m, int n_labels)
{
	const int D = m->cfg.dim;

	memset(head, 0, sizeof(*head));
	head->out = (struct linear){ .in = D, .out = n_labels };
	if (m->cfg.family != MODEL_FAMILY_BERT) {
		head->pool = SEQ_POOL_LAST;
		return;
	}
	head->pool = SEQ_POOL_FIRST;
	head->dense = (struct linear){ .in = D, .out = D };
	/* RobertaForSequenceClassification has no pooler (its checkpoints may
	 * still carry one): its head brings a dense layer of its own. */
	if (strcmp(m->cfg.arch, "roberta") && m->cfg.has_pooler) {
		head->dense.w = m->bert->pooler_w;
		head->dense.b = m->bert->pooler_b;
	}
}

int inference_net_open(struct inference_net *in, const struct ada_infer_opts *o,
		       struct ada_err *err)
{
	const struct model_config *c;
	int rc, bert;

	memset(in, 0, sizeof(*in));
	fpenv_flush_subnormals();   /* the same arithmetic as training */
	if ((rc = model_load(o->model, o->tokenizer, &in->model, err)))
		return rc;
	c = &in->model->cfg;
	bert = c->family == MODEL_FAMILY_BERT;
	if ((rc = model_open_tokenizer(in->model, o->tokenizer, &in->tok, err)))
		goto out_close;
	if (bert)
		in->bert_blocks = xcalloc((size_t)c->n_layers, sizeof(*in->bert_blocks));
	else
		in->blocks = xcalloc((size_t)c->n_layers, sizeof(*in->blocks));
	if (!in->blocks && !in->bert_blocks) {
		rc = ada_fail(err, ADA_ENOMEM, "out of memory");
		goto out_close;
	}
	if (bert)
		bert_net_from_model(&in->bert, in->bert_blocks, in->model);
	else
		llama_net_from_model(&in->net, in->blocks, in->model);
	if (!o->adapter)
		return ADA_OK;
	if ((rc = peft_adapter_load(o->adapter, c, &in->adapter, err)))
		goto out_close;
	if (in->adapter.classifier)
		seq_head_from_model(&in->head, in->model, in->adapter.n_labels);
	rc = peft_adapter_attach(&in->adapter, c, bert ? NULL : &in->net, bert ? &in->bert : NULL,
				 in->adapter.classifier ? &in->head : NULL, err);
	if (rc) {
		ada_err_prefix(err, "%s", o->adapter);
		goto out_close;
	}
	if (in->adapter.classifier) {
		in->is_classifier = 1;
		in->cls = (struct classifier){
			.family = c->family,
			.llama = bert ? NULL : &in->net,
			.bert = bert ? &in->bert : NULL,
			.head = &in->head,
			.n_labels = in->adapter.n_labels,
			.regression = in->adapter.labels.kind == ADA_LABEL_FLOAT,
		};
	}
	return ADA_OK;
out_close:
	inference_net_close(in);
	return rc;
}

void inference_net_close(struct inference_net *in)
{
	peft_adapter_release(&in->adapter);
	free(in->blocks);
	free(in->bert_blocks);
	tokenizer_free(in->tok);
	model_free(in->model);
	memset(in, 0, sizeof(*in));
}
