/* served — bases loaded once, adapters applied unmerged; see served.h. */
#include "infer/served.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/model_bind.h"
#include "nn/ops.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/fpenv.h"

/* ---- bases ---------------------------------------------------------------- */

static int64_t mat_bytes(const struct frozen_mat *w)
{
	return (int64_t)w->rows * (int64_t)w->row_bytes;
}

static int64_t weight_bytes(const struct model *m)
{
	int64_t n = mat_bytes(&m->tok_emb);

	if (!m->cfg.tied_output && m->output.data != m->tok_emb.data)
		n += mat_bytes(&m->output);
	for (int l = 0; m->layers && l < m->cfg.n_layers; l++) {
		const struct model_layer *ly = &m->layers[l];
		n += mat_bytes(&ly->wq) + mat_bytes(&ly->wk) + mat_bytes(&ly->wv) +
		     mat_bytes(&ly->wo) + mat_bytes(&ly->w_gate) + mat_bytes(&ly->w_up) +
		     mat_bytes(&ly->w_down);
	}
	for (int l = 0; m->bert && l < m->cfg.n_layers; l++)
		for (int i = 0; i < N_BERT_MODULES; i++)
			n += mat_bytes(&m->bert->layers[l].w[i]);
	return n;
}

/* The end-of-turn token of a chat family whose turns end with one other
 * than EOS (the generation of a reply stops there). */
static int32_t end_of_turn(const struct served_base *b)
{
	static const struct {
		enum chat_family f;
		const char *s;
	} turns[] = {
		{ CHAT_CHATML, "<|im_end|>" }, { CHAT_LLAMA3, "<|eot_id|>" },
		{ CHAT_LLAMA31, "<|eot_id|>" }, { CHAT_GEMMA, "<end_of_turn>" },
		{ CHAT_GEMMA3, "<end_of_turn>" }, { CHAT_PHI3, "<|end|>" },
	};

	if (!b->enc.has_chat)
		return -1;
	for (size_t i = 0; i < sizeof(turns) / sizeof(turns[0]); i++) {
		size_t n = strlen(turns[i].s), at, mlen;
		int32_t id;

		if (turns[i].f == b->enc.chat.family &&
		    tokenizer_special_match(b->tok, turns[i].s, n, 0, &at, &mlen, &id) && at == 0 &&
		    mlen == n)
			return id;
	}
	return -1;
}

static void served_base_destroy(struct served_base *b)
{
	free(b->blocks);
	free(b->bert_blocks);
	free(b->rope_cos);
	free(b->rope_sin);
	tokenizer_free(b->tok);
	model_free(b->model);
	free(b->name);
	free(b);
}

int served_base_open(const char *model, const char *tokenizer, struct served_base **out,
		     struct ada_err *err)
{
	struct served_base *b = xcalloc(1, sizeof(*b));
	const struct model_config *c;
	const char *slash;
	int rc;

	*out = NULL;
	if (!b)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	atomic_init(&b->refs, 1);
	fpenv_flush_subnormals();   /* the same arithmetic as training */
	slash = strrchr(model, '/');
	b->name = xstrdup(slash && slash[1] ? slash + 1 : model);
	if (!b->name) {
		rc = ada_fail(err, ADA_ENOMEM, "out of memory");
		goto out_free;
	}
	if ((rc = model_load(model, tokenizer, &b->model, err)) ||
	    (rc = model_open_tokenizer(b->model, tokenizer, &b->tok, err)))
		goto out_free;
	c = &b->model->cfg;
	if (c->family == ADA_FAMILY_BART) {
		/* its decoder reads an encoder output the serving decoder does
		 * not have: BART decodes through ada_generate (net/beam.h) */
		rc = ada_fail_param(err, ADA_EUNSUPPORTED, "model",
				    "%s is an encoder-decoder (BART): an encoder-decoder is not served yet (adalora generate decodes it)",
				    model);
		goto out_free;
	}
	b->bos = tokenizer_bos(b->tok);
	b->eos = tokenizer_eos(b->tok);
	b->end_of_turn = -1;
	b->weight_bytes = weight_bytes(b->model);
	if (c->family == ADA_FAMILY_BERT) {
		b->bert_blocks = xcalloc((size_t)c->n_layers, sizeof(*b->bert_blocks));
		if (!b->bert_blocks) {
			rc = ada_fail(err, ADA_ENOMEM, "out of memory");
			goto out_free;
		}
		bert_net_from_model(&b->bert, b->bert_blocks, b->model);
		*out = b;
		return ADA_OK;
	}
	b->blocks = xcalloc((size_t)c->n_layers, sizeof(*b->blocks));
	b->rope_cos = xalloc_aligned((size_t)c->context_length * (size_t)(c->head_dim / 2 + 1),
				     sizeof(float));
	b->rope_sin = xalloc_aligned((size_t)c->context_length * (size_t)(c->head_dim / 2 + 1),
				     sizeof(float));
	if (!b->blocks || !b->rope_cos || !b->rope_sin) {
		rc = ada_fail(err, ADA_ENOMEM, "out of memory");
		goto out_free;
	}
	llama_net_from_model(&b->net, b->blocks, b->model);
	rope_tables(b->rope_cos, b->rope_sin, c->context_length, c->head_dim, c->rope_theta);
	/* The chat framing of the model's own template; without one (or one
	 * we do not render) chat is refused, with enc.chat_refusal saying why. */
	if ((rc = lm_encoder_init(&b->enc, b->tok, NULL, -1, 1, b->name, err)))
		goto out_free;
	b->end_of_turn = end_of_turn(b);
	*out = b;
	return ADA_OK;
out_free:
	served_base_destroy(b);
	return rc;
}

struct served_base *served_base_ref(struct served_base *b)
{
	atomic_fetch_add(&b->refs, 1);
	return b;
}

void served_base_unref(struct served_base *b)
{
	if (b && atomic_fetch_sub(&b->refs, 1) == 1)
		served_base_destroy(b);
}

/* ---- adapters -------------------------------------------------------------- */

static int64_t adapter_bytes(const struct peft_adapter *pa)
{
	int64_t n = 0;

	for (int i = 0; i < pa->n_mods; i++) {
		const struct lowrank *lr = pa->mods[i].lr;
		n += ((int64_t)lr->r * (lr->base.in + lr->base.out + 1) + 16) * (int64_t)sizeof(float);
		if (lr->Pt)
			n += (int64_t)lr->r * lr->base.out * (int64_t)sizeof(float);
	}
	for (int i = 0; i < pa->n_tensors; i++)
		n += (int64_t)(pa->tensors[i].rows * pa->tensors[i].cols * sizeof(float));
	return n + (int64_t)sizeof(*pa) + (int64_t)pa->n_mods * (int64_t)sizeof(*pa->mods);
}

static void served_adapter_destroy(struct served_adapter *a)
{
	for (int i = 0; a->label_names && i < a->pa.n_labels; i++)
		free(a->label_names[i]);
	free(a->label_names);
	peft_adapter_release(&a->pa);
	free(a->blocks);
	free(a->bert_blocks);
	pthread_mutex_destroy(&a->lock);
	served_base_unref(a->base);
	free(a);
}

static int label_names(struct served_adapter *a, struct ada_err *err)
{
	const struct label_map *lm = &a->pa.labels;

	a->label_names = xcalloc((size_t)a->pa.n_labels, sizeof(*a->label_names));
	if (!a->label_names)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	for (int i = 0; i < a->pa.n_labels; i++) {
		char num[24];

		snprintf(num, sizeof(num), "%d", i);
		a->label_names[i] = xstrdup(lm->names && lm->names[i] ? lm->names[i] : num);
		if (!a->label_names[i])
			return ada_fail(err, ADA_ENOMEM, "out of memory");
	}
	return ADA_OK;
}

int served_adapter_open(struct served_base *b, const char *dir, struct served_adapter **out,
			struct ada_err *err)
{
	const struct model_config *c = &b->model->cfg;
	const int bert = c->family == ADA_FAMILY_BERT;
	struct served_adapter *a = xcalloc(1, sizeof(*a));
	int rc;

	*out = NULL;
	if (!a)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	atomic_init(&a->refs, 1);
	pthread_mutex_init(&a->lock, NULL);
	a->base = served_base_ref(b);
	/* A copy of the base's descriptors: the adapter attaches to the copy. */
	if (bert) {
		a->bert_blocks = xcalloc((size_t)c->n_layers, sizeof(*a->bert_blocks));
		if (a->bert_blocks) {
			memcpy(a->bert_blocks, b->bert_blocks, sizeof(*a->bert_blocks) * (size_t)c->n_layers);
			a->bert = b->bert;
			a->bert.blocks = a->bert_blocks;
		}
	} else {
		a->blocks = xcalloc((size_t)c->n_layers, sizeof(*a->blocks));
		if (a->blocks) {
			memcpy(a->blocks, b->blocks, sizeof(*a->blocks) * (size_t)c->n_layers);
			a->net = b->net;
			a->net.blocks = a->blocks;
		}
	}
	if (!a->blocks && !a->bert_blocks) {
		rc = ada_fail(err, ADA_ENOMEM, "out of memory");
		goto out_free;
	}
	if ((rc = peft_adapter_load(dir, c, &a->pa, err)))
		goto out_free;
	if (a->pa.classifier)
		seq_head_from_model(&a->head, b->model, a->pa.n_labels);
	if (a->pa.question_answering && !bert) {
		rc = ada_fail(err, ADA_EUNSUPPORTED, "%s: a question answering adapter on a decoder",
			      dir);
		goto out_free;
	}
	if (a->pa.question_answering && (rc = peft_adapter_attach_qa(&a->pa, c, &a->qa, err))) {
		ada_err_prefix(err, rc, "%s", dir);
		goto out_free;
	}
	rc = peft_adapter_attach(&a->pa, c, bert ? NULL : &a->net, bert ? &a->bert : NULL,
				 a->pa.classifier ? &a->head : NULL, err);
	if (rc) {
		ada_err_prefix(err, rc, "%s", dir);
		goto out_free;
	}
	if (a->pa.question_answering) {
		a->is_qa = 1;
		a->span = (struct span_net){ .enc = { .family = c->family, .bert = &a->bert },
					     .qa = &a->qa };
	}
	if (a->pa.classifier) {
		if ((rc = label_names(a, err)))
			goto out_free;
		a->is_classifier = 1;
		a->cls = (struct classifier){
			.family = c->family,
			.llama = bert ? NULL : &a->net,
			.bert = bert ? &a->bert : NULL,
			.head = &a->head,
			.n_labels = a->pa.n_labels,
			.regression = a->pa.labels.kind == ADA_LABEL_FLOAT,
		};
	}
	a->bytes = adapter_bytes(&a->pa);
	*out = a;
	return ADA_OK;
out_free:
	served_adapter_destroy(a);
	return rc;
}

struct served_adapter *served_adapter_ref(struct served_adapter *a)
{
	atomic_fetch_add(&a->refs, 1);
	return a;
}

void served_adapter_unref(struct served_adapter *a)
{
	if (a && atomic_fetch_sub(&a->refs, 1) == 1)
		served_adapter_destroy(a);
}

/* ---- handles -------------------------------------------------------------- */

int served_handle(struct served_base *b, struct served_adapter *a, struct ada_served **out,
		  struct ada_err *err)
{
	struct ada_served *m = xcalloc(1, sizeof(*m));

	*out = NULL;
	if (!m)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	m->base = served_base_ref(b);
	m->ad = a ? served_adapter_ref(a) : NULL;
	m->net = a ? &a->net : &b->net;
	*out = m;
	return ADA_OK;
}

int ada_served_open(const char *model, const char *tokenizer, const char *adapter,
		    struct ada_served **out, struct ada_err *err)
{
	struct served_base *b;
	struct served_adapter *a = NULL;
	int rc;

	*out = NULL;
	if ((rc = served_base_open(model, tokenizer, &b, err)))
		return rc;
	if (adapter && (rc = served_adapter_open(b, adapter, &a, err))) {
		served_base_unref(b);
		return rc;
	}
	rc = served_handle(b, a, out, err);
	served_adapter_unref(a);
	served_base_unref(b);
	return rc;
}

struct ada_served *ada_served_dup(struct ada_served *m)
{
	struct ada_served *d = NULL;
	struct ada_err err;

	if (served_handle(m->base, m->ad, &d, &err))
		return NULL;
	return d;
}

void ada_served_free(struct ada_served *m)
{
	if (!m)
		return;
	served_adapter_unref(m->ad);
	served_base_unref(m->base);
	free(m);
}

void ada_served_describe(const struct ada_served *m, struct ada_served_info *info)
{
	const struct served_base *b = m->base;
	const struct model_config *c = &b->model->cfg;

	memset(info, 0, sizeof(*info));
	info->family = c->family;
	info->context_length = c->context_length;
	info->vocab_size = c->vocab_size;
	info->classifier = m->ad && m->ad->is_classifier;
	info->generates = c->family == ADA_FAMILY_LLAMA && !info->classifier;
	if (info->classifier) {
		info->num_labels = m->ad->pa.n_labels;
		info->label_kind = m->ad->pa.labels.kind;
		info->seq_len = m->ad->pa.seq_len;
	}
	info->question_answering = m->ad && m->ad->is_qa;
	if (info->question_answering) {
		info->seq_len = m->ad->pa.seq_len;
		info->qa_version_2 = m->ad->pa.qa_version_2;
		info->qa_n_best_size = m->ad->pa.qa_hp.n_best_size;
	}
	info->has_chat = info->generates && b->enc.has_chat;
	if (info->has_chat)
		snprintf(info->chat_template, sizeof(info->chat_template), "%s",
			 chat_family_name(b->enc.chat.family));
	if (m->ad)
		snprintf(info->peft_type, sizeof(info->peft_type), "%s", m->ad->pa.peft_type);
	info->weight_bytes = b->weight_bytes;
	info->adapter_bytes = m->ad ? m->ad->bytes : 0;
}

const char *ada_served_label(const struct ada_served *m, int i)
{
	if (!m->ad || !m->ad->is_classifier || i < 0 || i >= m->ad->pa.n_labels)
		return NULL;
	return m->ad->label_names[i];
}

const char *ada_served_chat_refusal(const struct ada_served *m)
{
	const struct served_base *b = m->base;

	if (b->model->cfg.family != ADA_FAMILY_LLAMA)
		return "an encoder generates no text";
	if (b->enc.has_chat)
		return "";
	return b->enc.chat_refusal[0] ? b->enc.chat_refusal : "the model has no chat template";
}
