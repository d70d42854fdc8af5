/* lm_encoder — a causal LM job's text encoder; see lm_encoder.h. */
#include "net/lm_encoder.h"

#include <stdio.h>
#include <string.h>

#include "tokenizer/tokenizer.h"
#include "util/err.h"

static int encode_cb(void *ctx, const char *text, size_t len, unsigned flags, struct ivec *out,
		     struct ada_err *err)
{
	return tokenizer_encode(ctx, text, len, flags, out, err);
}

static int special_cb(void *ctx, const char *text, size_t len, size_t from, size_t *at,
		      size_t *mlen, int32_t *id)
{
	return tokenizer_special_match(ctx, text, len, from, at, mlen, id);
}

static const char *spell_cb(void *ctx, int32_t id, size_t *len)
{
	return tokenizer_token_text(ctx, id, len);
}

int lm_encoder_init(struct lm_encoder *e, const struct tokenizer *t, const char *chat_template,
		    int append_eos, int default_append_eos, const char *model_name,
		    struct ada_err *err)
{
	struct ada_err why = { 0 };
	size_t len = 0;
	const char *tmpl = tokenizer_chat_template(t, &len);
	int named = chat_template && *chat_template && strcmp(chat_template, "auto");
	int rc;

	memset(e, 0, sizeof(*e));
	e->enc.ctx = (void *)t;
	e->enc.encode = encode_cb;
	e->enc.special = special_cb;
	e->enc.spell = spell_cb;
	e->enc.bos = tokenizer_bos(t);
	e->enc.eos = tokenizer_eos(t);
	e->enc.pad = tokenizer_pad(t) >= 0 ? tokenizer_pad(t) : 0;
	e->append_eos = append_eos >= 0 ? !!append_eos : !!default_append_eos;
	e->enc.bos_only = !e->append_eos;

	rc = chat_format_resolve(named ? chat_template : NULL, tmpl, len, model_name, &e->chat,
				 &why);
	if (rc && named)
		return ada_fail_param(err, rc, "chat_template", "%s", why.msg);
	if (rc) {
		snprintf(e->chat_refusal, sizeof(e->chat_refusal), "%s", why.msg);
		e->enc.chat_refusal = e->chat_refusal;
		return ADA_OK;
	}
	e->has_chat = 1;
	e->chat_named = named;
	e->enc.chat = &e->chat;
	e->enc.chat_refusal = NULL;
	return ADA_OK;
}

int lm_encoder_missing_markers(const struct lm_encoder *e, const struct tokenizer *t, char *buf,
			       size_t cap)
{
	const char *const *marks = e->has_chat ? chat_family_markers(e->chat.family) : NULL;
	size_t o = 0;
	int missing = 0;

	if (cap)
		buf[0] = '\0';
	for (; marks && *marks; marks++) {
		size_t n = strlen(*marks), at, mlen;
		int32_t id;

		if (tokenizer_special_match(t, *marks, n, 0, &at, &mlen, &id) && at == 0 && mlen == n)
			continue;
		if (o < cap)
			o += (size_t)snprintf(buf + o, cap - o, "%s%s", missing ? ", " : "", *marks);
		missing++;
	}
	return missing;
}
