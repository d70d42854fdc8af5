/*
 * render — ada_render(): what training makes of a data file, record by
 * record, for people to check (`adalora render`).
 *
 * Reads the file as the trainer does (data_format_scan, then
 * data_encode_record through the job's encoder, net/lm_encoder.h), so the
 * tokens and mask printed are the ones a job trains on, before windows are
 * cut. Only the model's header and tokenizer are read, not its weights.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/data.h"
#include "data/data_format.h"
#include "net/lm_encoder.h"
#include "tokenizer/tokenizer.h"
#include "util/err.h"
#include "util/fileio.h"

#define STOP_AT_LIMIT (-100)    /* the walk's own "enough", never returned */

struct render {
	const struct lm_encoder *e;
	int limit, done;
	void (*emit)(void *ctx, const json_t *obj);
	void *ctx;
	struct tok_seq seq;
	struct strbuf shown;
};

static int render_record(void *ctx, const struct data_record *rec, struct ada_err *err)
{
	struct render *r = ctx;
	json_t *obj, *tok, *mask, *framing;
	int rc;

	if (r->limit && r->done >= r->limit)
		return STOP_AT_LIMIT;
	r->seq.tok.n = 0;
	r->shown.n = 0;
	if ((rc = data_encode_record(&r->e->enc, rec, &r->seq, &r->shown, err)))
		return rc;
	tok = json_array();
	mask = json_array();
	framing = json_array();
	for (size_t i = 0; i < r->seq.tok.n; i++) {
		json_array_append_new(tok, json_integer(r->seq.tok.v[i]));
		json_array_append_new(mask, json_integer(!!(r->seq.mask[i] & DATA_TARGET)));
		if (r->seq.mask[i] & DATA_FRAMING)
			json_array_append_new(framing, json_integer((json_int_t)i));
	}
	obj = json_pack("{sI ss% so so so}", "line", (json_int_t)rec->line, "text",
			r->shown.p ? r->shown.p : "", r->shown.n, "tokens", tok, "mask", mask,
			"framing", framing);
	if (!obj)
		return ada_fail(err, ADA_ENOMEM, "out of memory (or text that is not UTF-8)");
	if (rec->shape == ADA_SHAPE_CHAT)
		json_object_set_new(obj, "chat_template",
				    json_string(chat_family_name(r->e->chat.family)));
	r->emit(r->ctx, obj);
	json_decref(obj);
	r->done++;
	return ADA_OK;
}

/* The tokenizer a job on the model would use (model_open_tokenizer's
 * choice), without loading the weights. */
static int open_tokenizer(const char *model, const char *tokenizer,
			  const struct ada_model_info *info, struct tokenizer **out,
			  struct ada_err *err)
{
	char *json = NULL;
	int rc;

	*out = NULL;
	if (tokenizer) {
		rc = tokenizer_load(tokenizer, info->vocab_size, out, err);
	} else if (!strcmp(info->format, "gguf") && info->has_tokenizer) {
		rc = tokenizer_load(model, info->vocab_size, out, err);
	} else if (!strcmp(info->format, "hf") && (json = path_join(model, "tokenizer.json")) &&
		   file_exists(json)) {
		rc = tokenizer_load_hf(json, out, err);
	} else {
		rc = ada_fail(err, ADA_EINVAL, "%s (%s) carries no tokenizer: pass one (--tokenizer)",
			      model, info->format);
	}
	free(json);
	if (!rc && tokenizer_vocab_size(*out) > info->vocab_size) {
		rc = ada_fail(err, ADA_EINVAL,
			      "tokenizer (%d tokens) is larger than the model %s's vocabulary (%d rows)",
			      tokenizer_vocab_size(*out), model, info->vocab_size);
		tokenizer_free(*out);
		*out = NULL;
	}
	return rc;
}

int ada_render(const char *model, const char *tokenizer, const char *data_file, int limit,
	       const struct ada_framing *framing,
	       void (*emit)(void *ctx, const json_t *obj), void *ctx, struct ada_err *err)
{
	struct render r = { .limit = limit, .emit = emit, .ctx = ctx };
	struct ada_model_info info;
	struct ada_data_info dinfo;
	struct lm_encoder *e = NULL;
	struct tokenizer *t = NULL;
	char *buf = NULL;
	size_t len;
	int rc, dflt;

	if (!model || !data_file || !emit || limit < 0)
		return ada_fail(err, ADA_EINVAL, "ada_render needs a model, a data file and emit");
	if ((rc = ada_model_probe(model, &info, err)))
		return rc;
	if (info.family != ADA_FAMILY_LLAMA)
		return ada_fail(err, ADA_EINVAL, "%s is a %s encoder: it trains classifiers, whose "
				"inputs are not rendered", model, info.architecture);
	if ((rc = open_tokenizer(model, tokenizer, &info, &t, err)))
		return rc;
	/* the probe's default, with the tokenizer actually used */
	dflt = strcmp(info.format, "llama2c") && (info.append_eos || tokenizer_wants_eos(t));
	e = calloc(1, sizeof(*e));
	if (!e) {
		rc = ada_fail(err, ADA_ENOMEM, "out of memory");
		goto out_free;
	}
	rc = lm_encoder_init(e, t, framing ? framing->chat_template : NULL,
			     framing ? framing->append_eos : -1, dflt, model, err);
	if (rc)
		goto out_free;
	r.e = e;
	if ((rc = file_read_all(data_file, &buf, &len, err)))
		goto out_free;
	rc = data_format_scan(buf, len, 0, render_record, &r, &dinfo, err);
	if (rc == STOP_AT_LIMIT) {
		ada_err_clear(err);
		rc = ADA_OK;
	} else if (rc) {
		ada_err_prefix(err, rc, "%s", data_file);
	}
out_free:
	free(buf);
	tok_seq_release(&r.seq);
	strbuf_release(&r.shown);
	free(e);
	tokenizer_free(t);
	return rc;
}
