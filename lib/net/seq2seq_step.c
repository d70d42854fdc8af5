/* seq2seq_step — BART behind the decoding interface, cached and not; see seq2seq_step.h. */
#include "net/seq2seq_step.h"

#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/err.h"
#include "util/fileio.h"

static int bart_step(void *ctx, int n, const int *tokens, int pos, float *logits,
		     struct ada_err *err)
{
	struct bart_stepper *s = ctx;
	int rc = bart_decoder_step(&s->dec, n, (const int32_t *)tokens, pos, logits);

	if (rc == ADA_EINVAL)
		return ada_fail(err, rc,
				"decoder step: %d hypotheses at position %d (the cache holds %d of %d positions)",
				n, pos, s->dec.max_hyps, s->dec.max_len);
	return rc ? ada_fail(err, rc, "out of memory in a decoder step") : ADA_OK;
}

static int bart_reorder(void *ctx, int n, const int *parent, struct ada_err *err)
{
	struct bart_stepper *s = ctx;

	if (bart_decoder_reorder(&s->dec, n, parent))
		return ada_fail(err, ADA_EINVAL, "decoder reorder: %d hypotheses from %d", n,
				s->dec.n_live);
	return ADA_OK;
}

int bart_stepper_init(struct bart_stepper *s, const struct bart_net *net, int max_src,
		      int max_hyps, int max_len, int n_threads, struct ada_err *err)
{
	int rc;

	memset(s, 0, sizeof(*s));
	rc = bart_decoder_init(&s->dec, net, max_src, max_hyps, max_len, n_threads);
	if (rc)
		return ada_fail(err, rc, rc == ADA_ENOMEM ? "out of memory for the decoder cache"
							  : "a decoder of %d hypotheses, %d source and %d target positions does not fit the model's %d positions",
				max_hyps, max_src, max_len, net->d.max_positions - net->d.position_offset);
	s->ops = (struct seq2seq_step_ops){ .vocab = net->d.vocab, .step = bart_step,
					    .reorder = bart_reorder };
	return ADA_OK;
}

int bart_stepper_start(struct bart_stepper *s, const int32_t *src, int S, struct ada_err *err)
{
	int rc = bart_decoder_start(&s->dec, src, S);

	if (rc == ADA_EINVAL)
		return ada_fail(err, rc, "a source of %d tokens (the decoder takes 1..%d, ids below %d)",
				S, s->dec.max_src, s->ops.vocab);
	return rc ? ada_fail(err, rc, "out of memory encoding the source") : ADA_OK;
}

void bart_stepper_release(struct bart_stepper *s)
{
	bart_decoder_release(&s->dec);
	memset(s, 0, sizeof(*s));
}

/* ---- without the cache ---------------------------------------------------- */

static int uncached_step(void *ctx, int n, const int *tokens, int pos, float *logits,
			 struct ada_err *err)
{
	struct bart_uncached *u = ctx;
	const struct nn_step st = { .training = 0 };
	const int T = pos + 1, V = u->net->d.vocab;
	int rc;

	if (!u->S || n < 1 || n > u->max_hyps || pos != u->len || pos >= u->max_len ||
	    (pos > 0 && n != u->n_live))
		return ada_fail(err, ADA_EINVAL,
				"uncached decoder step: %d hypotheses at position %d (%d live, %d positions fed, %d of %d rows)",
				n, pos, u->n_live, u->len, n, u->max_hyps);
	for (int i = 0; i < n; i++) {
		if (tokens[i] < 0 || tokens[i] >= V)
			return ada_fail(err, ADA_EINVAL, "uncached decoder step: token %d out of range",
					tokens[i]);
		u->prefix[(size_t)i * u->max_len + pos] = tokens[i];
		memcpy(u->packed + (size_t)i * T, u->prefix + (size_t)i * u->max_len,
		       (size_t)T * sizeof(*u->packed));
	}
	if ((rc = bart_acts_set_shape(&u->acts, u->S, T)) ||
	    (rc = bart_decode(u->net, &u->acts, u->packed, NULL, NULL, n, 0, 0, NULL, NULL, NULL,
			      &st)))
		return ada_fail(err, rc, rc == ADA_ENOMEM ? "out of memory in a decoder step"
							  : "uncached decoder step refused");
	for (int i = 0; i < n; i++)
		memcpy(logits + (size_t)i * V, u->acts.logits + ((size_t)i * T + pos) * V,
		       (size_t)V * sizeof(*logits));
	u->len = T;
	u->n_live = n;
	return ADA_OK;
}

static int uncached_reorder(void *ctx, int n, const int *parent, struct ada_err *err)
{
	struct bart_uncached *u = ctx;
	int32_t *t;

	if (n < 1 || n > u->max_hyps)
		return ada_fail(err, ADA_EINVAL, "uncached decoder reorder: %d hypotheses", n);
	for (int i = 0; i < n; i++) {
		if (parent[i] < 0 || parent[i] >= u->n_live)
			return ada_fail(err, ADA_EINVAL,
					"uncached decoder reorder: parent %d of %d live", parent[i],
					u->n_live);
		memcpy(u->spare + (size_t)i * u->max_len, u->prefix + (size_t)parent[i] * u->max_len,
		       (size_t)u->len * sizeof(*u->spare));
	}
	t = u->prefix;
	u->prefix = u->spare;
	u->spare = t;
	u->n_live = n;
	return ADA_OK;
}

int bart_uncached_init(struct bart_uncached *u, const struct bart_net *net, int max_src,
		       int max_hyps, int max_len, int n_threads, struct ada_err *err)
{
	size_t cells;
	int rc;

	memset(u, 0, sizeof(*u));
	if (max_hyps < 1 || max_len < 1 || size_mul((size_t)max_hyps, (size_t)max_len, &cells))
		return ada_fail(err, ADA_EINVAL, "an uncached decoder of %d hypotheses of %d positions",
				max_hyps, max_len);
	if ((rc = bart_acts_init(&u->acts, &net->d, max_hyps, max_src, max_len, n_threads)))
		return ada_fail(err, rc, rc == ADA_ENOMEM ? "out of memory for the uncached decoder"
							  : "%d hypotheses of %d source and %d target positions do not fit the model's %d positions",
				max_hyps, max_src, max_len, net->d.max_positions - net->d.position_offset);
	u->prefix = xcalloc(cells, sizeof(*u->prefix));
	u->spare = xcalloc(cells, sizeof(*u->spare));
	u->packed = xcalloc(cells, sizeof(*u->packed));
	if (!u->prefix || !u->spare || !u->packed) {
		bart_uncached_release(u);
		return ada_fail(err, ADA_ENOMEM, "out of memory for the uncached decoder");
	}
	u->net = net;
	u->max_hyps = max_hyps;
	u->max_len = max_len;
	u->ops = (struct seq2seq_step_ops){ .vocab = net->d.vocab, .step = uncached_step,
					    .reorder = uncached_reorder };
	return ADA_OK;
}

int bart_uncached_start(struct bart_uncached *u, const int32_t *src, int S, struct ada_err *err)
{
	const struct nn_step st = { .training = 0 };
	const size_t D = (size_t)u->net->d.dim;
	int rc;

	u->S = u->len = u->n_live = 0;
	if (S < 1 || S > u->acts.cap_S)
		return ada_fail(err, ADA_EINVAL, "a source of %d tokens (the decoder takes 1..%d)", S,
				u->acts.cap_S);
	if ((rc = bart_acts_set_shape(&u->acts, S, 1)) ||
	    (rc = bart_encode(u->net, &u->acts, src, NULL, 1, &st)))
		return ada_fail(err, rc, rc == ADA_ENOMEM ? "out of memory encoding the source"
							  : "a source the encoder refuses (an id out of range)");
	/* every hypothesis reads the same encoder output (rows b * S + s) */
	for (int b = 1; b < u->max_hyps; b++)
		memcpy(u->acts.enc_out + (size_t)b * S * D, u->acts.enc_out, (size_t)S * D * sizeof(real));
	u->S = S;
	return ADA_OK;
}

void bart_uncached_release(struct bart_uncached *u)
{
	bart_acts_release(&u->acts);
	free(u->prefix);
	free(u->spare);
	free(u->packed);
	memset(u, 0, sizeof(*u));
}

/* ---- generation settings --------------------------------------------------- */

/* The generation keys of dir/name into o, when the file exists. */
static int read_generation_file(const char *dir, const char *name, struct beam_opts *o,
				struct ada_err *err)
{
	char *path = path_join(dir, name);
	json_error_t jerr;
	json_t *j = NULL;
	int rc = ADA_OK;

	if (!path)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	if (!file_exists(path))
		goto out_free;
	if (!(j = json_load_file(path, 0, &jerr))) {
		rc = ada_fail_param(err, ADA_EFORMAT, "model", "%s: %s", path, jerr.text);
		goto out_free;
	}
	if ((rc = beam_opts_from_json(j, NULL, o, err))) {
		ada_err_prefix(err, rc, "%s", path);
		snprintf(err->param, sizeof(err->param), "model");
	}
out_free:
	json_decref(j);
	free(path);
	return rc;
}

int s2s_generation_config(const struct model *m, struct beam_opts *o, struct ada_err *err)
{
	const struct model_config *c = &m->cfg;
	int rc;

	beam_opts_default(o);
	o->decoder_start_token_id = c->decoder_start_token_id;
	o->eos_token_id = c->eos_token_id;
	o->forced_bos_token_id = c->forced_bos_token_id;
	o->forced_eos_token_id = c->vocab_size > 2 ? 2 : -1;   /* BartConfig's default */
	if (strcmp(m->format, "hf") || !m->path)
		return ADA_OK;   /* only a Hugging Face directory carries them */
	if ((rc = read_generation_file(m->path, "config.json", o, err)) ||
	    (rc = read_generation_file(m->path, "generation_config.json", o, err)))
		return rc;
	return ADA_OK;
}
