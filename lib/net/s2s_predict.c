/* s2s_predict — decode a seq2seq dataset and score it with ROUGE; see s2s_predict.h. */
#include "net/s2s_predict.h"

#include <stdlib.h>
#include <string.h>

#include "net/seq2seq_step.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/utf8.h"

/* Byte tokens may leave invalid UTF-8 (a model that has not learnt whole
 * characters): each invalid byte becomes U+FFFD, as Python's
 * decode(errors="replace") does for most of them, so the text can go into
 * JSON. ROUGE reads both as separators. */
static int repair_utf8(char **text, size_t *len, struct ada_err *err)
{
	const char *s = *text;
	size_t n = *len, at = utf8_validate(s, n), o = 0, cap;
	char *out;

	if (at == n)
		return ADA_OK;
	if (size_mul(n, 3, &cap) || size_add(cap, 1, &cap) || !(out = xcalloc(cap, 1)))
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		int k = utf8_decode((const unsigned char *)s + i, n - i, &cp);

		if (k > 0) {
			memcpy(out + o, s + i, (size_t)k);
			o += (size_t)k;
			i += (size_t)k;
		} else {
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		}
	}
	free(*text);
	*text = out;
	*len = o;
	return ADA_OK;
}

int s2s_result_text(const struct tokenizer *tok, const struct beam_result *r, int eos,
		    char **text, size_t *len, struct ada_err *err)
{
	size_t n = (size_t)r->n_tokens;
	int rc;

	*text = NULL;
	if (n && r->finished && r->tokens[n - 1] == eos)
		n--;
	if ((rc = tokenizer_decode(tok, (const int32_t *)r->tokens, n, text, len, err)))
		return rc;
	if ((rc = repair_utf8(text, len, err))) {
		free(*text);
		*text = NULL;
	}
	return rc;
}

int s2s_predict(const struct bart_net *net, const struct tokenizer *tok,
		const struct s2s_dataset *ds, int64_t n, const struct beam_opts *o, int n_threads,
		struct seq2seq_eval *ev, s2s_prediction_fn each, void *ctx, struct ada_err *err)
{
	struct bart_stepper st;
	int rc;

	if (n <= 0)
		return ADA_OK;
	if (n > ds->n)
		n = ds->n;
	if ((rc = beam_opts_check(o, net->d.vocab, err)))
		return rc;
	if ((rc = bart_stepper_init(&st, net, ds->max_src, o->num_beams, o->max_length - 1,
				    n_threads, err)))
		return rc;
	for (int64_t i = 0; i < n; i++) {
		struct beam_result r = { 0 };
		char *text = NULL;
		size_t len = 0;

		if ((rc = bart_stepper_start(&st, s2s_source(ds, i), ds->src_len[i], err)) ||
		    (rc = seq2seq_generate(&st.ops, &st, o, &r, err)) ||
		    (rc = s2s_result_text(tok, &r, o->eos_token_id, &text, &len, err)))
			goto next;
		if (ev)
			rc = seq2seq_eval_add(ev, text, len, ds->target_text[i],
					      strlen(ds->target_text[i]), err);
		if (!rc && each)
			rc = each(ctx, i, text, len, err);
next:
		free(text);
		beam_result_release(&r);
		if (rc) {
			ada_err_prefix(err, rc, "line %lld", (long long)ds->line[i]);
			break;
		}
	}
	bart_stepper_release(&st);
	return rc;
}
