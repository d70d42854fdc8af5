/* seq2seq_step — BART behind the decoding interface, and greedy search; see seq2seq_step.h. */
#include "net/seq2seq_step.h"

#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/err.h"

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

int s2s_greedy(const struct seq2seq_step_ops *ops, void *ctx, const struct s2s_gen_opts *o,
	       struct ivec *out, struct ada_err *err)
{
	float *logits = xcalloc((size_t)ops->vocab, sizeof(float));
	int token = o->start, rc = ADA_OK;

	if (!logits)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	for (int pos = 0; pos < o->max_new; pos++) {
		int best = -1;

		if ((rc = ops->step(ctx, 1, &token, pos, logits, err)))
			break;
		if (pos == 0 && o->forced_bos >= 0) {
			best = o->forced_bos;
		} else {
			/* the first highest logit; EOS not before min_new tokens */
			for (int v = 0; v < ops->vocab; v++)
				if (!(v == o->eos && pos < o->min_new) &&
				    (best < 0 || logits[v] > logits[best]))
					best = v;
		}
		if (best == o->eos)
			break;
		if (ivec_push(out, best)) {
			rc = ada_fail(err, ADA_ENOMEM, "out of memory");
			break;
		}
		token = best;
	}
	free(logits);
	return rc;
}
