/* encoder — an encoder's hidden states by family; see encoder.h. */
#include "net/encoder.h"

#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"

int encoder_acts_init(struct encoder_acts *a, const struct encoder *e, int B, int T,
		      int n_threads)
{
	int rc;

	memset(a, 0, sizeof(*a));
	a->B = B;
	a->T = T;
	if (e->family != ADA_FAMILY_BERT || !e->bert)
		return ADA_EUNSUPPORTED;
	rc = bert_acts_init(&a->bert, &e->bert->d, B, T, n_threads);
	a->hidden = a->bert.hidden;
	a->dhidden = a->bert.dhidden;
	if (!rc && !(a->types = xcalloc((size_t)B * T, sizeof(*a->types))))
		rc = ADA_ENOMEM;
	if (rc)
		encoder_acts_release(a);
	return rc;
}

void encoder_acts_release(struct encoder_acts *a)
{
	bert_acts_release(&a->bert);
	free(a->types);
	memset(a, 0, sizeof(*a));
}

int encoder_dim(const struct encoder *e)
{
	return e->bert ? e->bert->d.dim : 0;
}

int encoder_forward(const struct encoder *e, struct encoder_acts *a, const int32_t *ids,
		    const uint8_t *types, const int32_t *lengths, int B, const struct nn_step *st)
{
	if (B < 1 || B > a->B)
		return ADA_EINVAL;
	/* a model with one token type (RoBERTa) gives every token type 0, as
	 * its tokenizer does, whatever segment the template put it in */
	for (long i = 0; i < (long)B * a->T; i++)
		a->types[i] = types && e->bert->d.type_vocab > 1 ? types[i] : 0;
	return bert_forward(e->bert, &a->bert, ids, a->types, lengths, B, st);
}

void encoder_backward(const struct encoder *e, struct encoder_acts *a, const int32_t *ids,
		      const int32_t *lengths, int B, const struct nn_step *st)
{
	bert_backward(e->bert, &a->bert, ids, a->types, lengths, B, a->dhidden, st);
}
