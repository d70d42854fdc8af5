/*
 * serve_text — a served model's text in and out: prompts and chats to
 * tokens, tokens to pieces, stop tokens, and a classifier's outputs for a
 * text (ada_served_*, adalora.h).
 *
 * Prompts are encoded as `adalora generate` encodes them (BOS, then the
 * text), and chats as training encodes chat data (data/chat.h) with the
 * template's generation prompt after them, so a served model reads exactly
 * what it was trained on and what the CLI gives it.
 */
#include <string.h>

#include "data/chat.h"
#include "infer/served.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/pool.h"

static int take_ids(struct ivec *v, int32_t **ids, size_t *n, struct ada_err *err)
{
	*ids = xcalloc(v->n ? v->n : 1, sizeof(**ids));
	if (!*ids)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	memcpy(*ids, v->v, v->n * sizeof(**ids));
	*n = v->n;
	return ADA_OK;
}

static int needs_lm(const struct ada_served *m, const char *param, struct ada_err *err)
{
	if (m->base->model->cfg.family == ADA_FAMILY_LLAMA && !(m->ad && m->ad->is_classifier))
		return ADA_OK;
	return ada_fail_param(err, ADA_EINVAL, param, "%s generates no text",
			      m->ad && m->ad->is_classifier ? "a classification model" : "an encoder");
}

int ada_served_encode(const struct ada_served *m, const char *text, size_t len, int32_t **ids,
		      size_t *n, struct ada_err *err)
{
	struct ivec v = { 0 };
	int rc;

	*ids = NULL;
	*n = 0;
	if ((rc = needs_lm(m, "model", err)))
		return rc;
	rc = tokenizer_encode(m->base->tok, text ? text : "", text ? len : 0, TOK_ADD_BOS, &v, err);
	if (!rc && v.n == 0)
		rc = ada_fail_param(err, ADA_EINVAL, "prompt",
				    "the tokenizer has no BOS token: give a prompt");
	if (rc && !err->param[0])
		snprintf(err->param, sizeof(err->param), "prompt");
	if (!rc)
		rc = take_ids(&v, ids, n, err);
	ivec_release(&v);
	return rc;
}

int ada_served_chat(const struct ada_served *m, const json_t *messages, int32_t **ids,
		    size_t *n, struct ada_err *err)
{
	const struct served_base *b = m->base;
	struct chat_render r = { 0 };
	struct tok_seq seq = { 0 };
	int rc;

	*ids = NULL;
	*n = 0;
	if ((rc = needs_lm(m, "model", err)))
		return rc;
	if (!b->enc.has_chat)
		return ada_fail_param(err, ADA_EINVAL, "model", "model '%s' cannot chat: %s", b->name,
				      ada_served_chat_refusal(m));
	if (!json_is_array(messages))
		return ada_fail_param(err, ADA_EINVAL, "messages", "messages must be an array");
	rc = chat_render_prompt(&b->enc.chat, messages, &r, err);
	if (!rc)
		rc = chat_encode(&r, &b->enc.enc, &seq, NULL, err);
	if (rc && !err->param[0])
		snprintf(err->param, sizeof(err->param), "messages");
	if (!rc && seq.tok.n == 0)
		rc = ada_fail_param(err, ADA_EINVAL, "messages", "the chat renders to no tokens");
	if (!rc)
		rc = take_ids(&seq.tok, ids, n, err);
	tok_seq_release(&seq);
	chat_render_release(&r);
	return rc;
}

int ada_served_piece(const struct ada_served *m, int32_t prev, int32_t id, char *buf, size_t cap)
{
	return tokenizer_decode_token(m->base->tok, prev, id, buf, cap);
}

int ada_served_stop_token(const struct ada_served *m, int32_t id, int chat)
{
	const struct served_base *b = m->base;

	return id == b->eos || id == b->bos || (chat && id == b->end_of_turn && id >= 0);
}

int ada_served_classify(struct ada_served *m, const char *a, const char *b, float *logits,
			int *truncated, int *n_tokens, struct ada_err *err)
{
	struct served_adapter *ad = m->ad;
	const struct model_config *c = &m->base->model->cfg;
	const struct nn_step st = { .training = 0 };
	struct classifier_acts acts;
	struct pair_encoder enc;
	struct ivec ids = { 0 }, types = { 0 };
	int32_t *padded = NULL, len;
	uint8_t *ty = NULL;
	int rc, T, trunc = 0;

	if (!ad || !ad->is_classifier)
		return ada_fail_param(err, ADA_EINVAL, "model",
				      "the model is not a classifier (a classification job's fine-tuned model is)");
	T = ad->pa.seq_len > 0 ? ad->pa.seq_len : c->context_length < 512 ? c->context_length : 512;
	if (T > c->context_length)
		T = c->context_length;
	classifier_pair_encoder(&enc, m->base->tok);
	rc = enc.encode(enc.ctx, a, strlen(a), b, b ? strlen(b) : 0, T, &ids, &types, &trunc, err);
	if (rc) {
		if (!err->param[0])
			snprintf(err->param, sizeof(err->param), "input");
		goto out_free;
	}
	padded = xcalloc((size_t)T, sizeof(*padded));
	ty = xcalloc((size_t)T, sizeof(*ty));
	if (!padded || !ty || !ids.n) {
		rc = ada_fail(err, ADA_ENOMEM, "out of memory");
		goto out_free;
	}
	for (int i = 0; i < T; i++) {
		padded[i] = (size_t)i < ids.n ? ids.v[i] : enc.pad;
		ty[i] = (size_t)i < types.n ? (uint8_t)types.v[i] : 0;
	}
	len = (int32_t)ids.n;
	pthread_mutex_lock(&ad->lock);
	rc = classifier_acts_init(&acts, &ad->cls, 1, T, pool_threads(), 0);
	if (!rc) {
		rc = classifier_forward(&ad->cls, &acts, padded, ty, &len, 1, &st);
		if (!rc)
			for (int i = 0; i < ad->pa.n_labels; i++)
				logits[i] = acts.head.logits[i];
		classifier_acts_release(&acts);
	}
	pthread_mutex_unlock(&ad->lock);
	if (rc)
		rc = ada_fail(err, rc, "the classifier refused the input (%d tokens)", (int)len);
	if (truncated)
		*truncated = trunc;
	if (n_tokens)
		*n_tokens = (int)len;
out_free:
	free(padded);
	free(ty);
	ivec_release(&ids);
	ivec_release(&types);
	return rc;
}
