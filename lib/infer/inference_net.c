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

int inference_net_open(struct inference_net *in, const struct ada_infer_opts *o,
		       struct ada_err *err)
{
	int rc;

	memset(in, 0, sizeof(*in));
	fpenv_flush_subnormals();   /* the same arithmetic as training */
	if ((rc = model_load(o->model, o->tokenizer, &in->model, err)))
		return rc;
	if (in->model->cfg.family != MODEL_FAMILY_LLAMA) {
		rc = ada_fail(err, ADA_EUNSUPPORTED, "%s: not a Llama-family model", o->model);
		goto out_close;
	}
	if ((rc = model_open_tokenizer(in->model, o->tokenizer, &in->tok, err)))
		goto out_close;
	in->blocks = xcalloc((size_t)in->model->cfg.n_layers, sizeof(*in->blocks));
	if (!in->blocks) {
		rc = ada_fail(err, ADA_ENOMEM, "out of memory");
		goto out_close;
	}
	llama_net_from_model(&in->net, in->blocks, in->model);
	if (o->adapter) {
		if ((rc = peft_adapter_load(o->adapter, &in->model->cfg, &in->adapter, err)))
			goto out_close;
		peft_adapter_attach(&in->adapter, &in->net);
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
	tokenizer_free(in->tok);
	model_free(in->model);
	memset(in, 0, sizeof(*in));
}
