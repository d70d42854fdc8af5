/*
 * pair — a text or a pair of texts as one classifier input: the special
 * tokens that frame them, their token type ids, and truncation to a
 * maximum length. See tokenizer_encode_pair() in tokenizer.h for the
 * formats.
 *
 * Encoder tokenizers carry a post-processor template (struct
 * pair_template): BERT's and RoBERTa's are built in, Hugging Face's
 * TemplateProcessing is read by hf_json.c. Decoder tokenizers have none:
 * a Llama-family model classifies from its last position, so the texts are
 * simply joined with a space after the BOS the tokenizer asks for; a
 * separator token those models never saw in pre-training would only add
 * noise.
 *
 * Truncation is "longest_first" as transformers' Python tokenizers do it:
 * drop the last token of the longer text (of the second one on a tie) until
 * the whole fits. Hugging Face's Rust tokenizers reach the same lengths
 * except when both texts must be cut to an odd total, where they give the
 * extra token to the text that was longer rather than to the first.
 */
#include "tokenizer/internal.h"

#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/utf8.h"

void pair_template_bert(struct pair_template *p, int32_t cls, int32_t sep)
{
	*p = (struct pair_template){
		.single = { { cls, 0 }, { TMPL_SEQ_A, 0 }, { sep, 0 } },
		.n_single = 3,
		.pair = { { cls, 0 }, { TMPL_SEQ_A, 0 }, { sep, 0 }, { TMPL_SEQ_B, 1 }, { sep, 1 } },
		.n_pair = 5,
	};
}

void pair_template_roberta(struct pair_template *p, int32_t cls, int32_t sep)
{
	*p = (struct pair_template){
		.single = { { cls, 0 }, { TMPL_SEQ_A, 0 }, { sep, 0 } },
		.n_single = 3,
		.pair = { { cls, 0 }, { TMPL_SEQ_A, 0 }, { sep, 0 }, { sep, 0 }, { TMPL_SEQ_B, 0 },
			  { sep, 0 } },
		.n_pair = 6,
	};
}

int pair_template_check(const struct tokenizer *t, struct ada_err *err)
{
	const struct pair_template *p = &t->tmpl;

	for (int i = 0; i < p->n_single + p->n_pair; i++) {
		const struct tmpl_item *it = i < p->n_single ? &p->single[i] : &p->pair[i - p->n_single];
		if (it->id >= t->vocab.n || it->id < TMPL_SEQ_B)
			return ada_fail(err, ADA_EFORMAT,
					"%s: post-processor token id %d is outside the vocabulary (%d)",
					t->source, it->id, t->vocab.n);
	}
	return ADA_OK;
}

/* The items framing one text (pair = 0) or two; decoder tokenizers get
 * theirs built in buf. */
static const struct tmpl_item *frame(const struct tokenizer *t, int pair, struct tmpl_item *buf,
				     int *n)
{
	if (t->tmpl.n_single) {
		*n = pair ? t->tmpl.n_pair : t->tmpl.n_single;
		return pair ? t->tmpl.pair : t->tmpl.single;
	}
	*n = 0;
	if (tokenizer_wants_bos(t))
		buf[(*n)++] = (struct tmpl_item){ t->bos, 0 };
	buf[(*n)++] = (struct tmpl_item){ TMPL_SEQ_A, 0 };
	if (pair)
		buf[(*n)++] = (struct tmpl_item){ TMPL_SEQ_B, 0 };
	return buf;
}

static int count_specials(const struct tmpl_item *items, int n)
{
	int k = 0;

	for (int i = 0; i < n; i++)
		k += items[i].id >= 0;
	return k;
}

int tokenizer_special_count(const struct tokenizer *t, int pair)
{
	struct tmpl_item buf[3];
	const struct tmpl_item *items;
	int n;

	if (pair && t->tmpl.n_single && !t->tmpl.n_pair)
		return -1;
	items = frame(t, pair, buf, &n);
	return count_specials(items, n);
}

int tokenizer_is_encoder(const struct tokenizer *t)
{
	return t->tmpl.n_single > 0;
}

int tokenizer_frame(const struct tokenizer *t, const int32_t *a, size_t na, const int32_t *b,
		    size_t nb, struct ivec *ids, struct ivec *type_ids, size_t *b_start,
		    struct ada_err *err)
{
	struct tmpl_item buf[3];
	const struct tmpl_item *items;
	size_t ids0 = ids->n, types0 = type_ids ? type_ids->n : 0;
	int pair = b != NULL, n_items;

	if (pair && t->tmpl.n_single && !t->tmpl.n_pair)
		return ada_fail(err, ADA_EINVAL,
				"%s: the tokenizer's post-processor has no template for pairs of texts",
				t->source);
	items = frame(t, pair, buf, &n_items);
	if (b_start)
		*b_start = 0;
	for (int i = 0; i < n_items; i++) {
		const int32_t *seg = items[i].id == TMPL_SEQ_A ? a : items[i].id == TMPL_SEQ_B ? b : NULL;
		size_t n = items[i].id == TMPL_SEQ_A ? na : items[i].id == TMPL_SEQ_B ? nb : 1;

		if (items[i].id == TMPL_SEQ_B && b_start)
			*b_start = ids->n;
		if (ivec_reserve(ids, n) || (type_ids && ivec_reserve(type_ids, n)))
			goto oom;
		if (items[i].id >= 0)
			ids->v[ids->n] = items[i].id;
		else if (n)
			memcpy(ids->v + ids->n, seg, n * sizeof(*ids->v));
		ids->n += n;
		for (size_t j = 0; type_ids && j < n; j++)
			type_ids->v[type_ids->n++] = items[i].type_id;
	}
	return ADA_OK;
oom:
	ids->n = ids0;
	if (type_ids)
		type_ids->n = types0;
	return ada_fail(err, ADA_ENOMEM, "out of memory");
}

/* The second text of a decoder pair continues the first after a space. */
static int encode_continuation(const struct tokenizer *t, const char *b, size_t b_len,
			       struct ivec *out, struct ada_err *err)
{
	size_t bad = utf8_validate(b, b_len);
	char *joined;
	int rc;

	if (bad != b_len)
		return ada_fail(err, ADA_EINVAL, "text is not valid UTF-8 at byte %zu", bad);
	joined = malloc(b_len + 1);
	if (!joined)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	joined[0] = ' ';
	if (b_len)
		memcpy(joined + 1, b, b_len);
	rc = tokenizer_encode(t, joined, b_len + 1, TOK_NO_PREFIX_SPACE, out, err);
	free(joined);
	return rc;
}

/* longest_first: see the top of the file. Returns the tokens dropped. */
static size_t truncate_longest_first(size_t *na, size_t *nb, size_t budget)
{
	size_t dropped = 0;

	while (*na + *nb > budget) {
		if (*na > *nb)
			(*na)--;
		else
			(*nb)--;
		dropped++;
	}
	return dropped;
}

int tokenizer_encode_pair(const struct tokenizer *t, const char *a, size_t a_len,
			  const char *b, size_t b_len, int max_len, struct ivec *ids,
			  struct ivec *type_ids, int *truncated, struct ada_err *err)
{
	struct ivec ea = { 0 }, eb = { 0 };
	struct tmpl_item buf[3];
	const struct tmpl_item *items;
	size_t ids0 = ids->n, types0 = type_ids ? type_ids->n : 0, dropped = 0, total;
	int pair = b != NULL, n_items, n_special, rc;

	if (truncated)
		*truncated = 0;
	if (max_len < 0)
		return ada_fail_param(err, ADA_EINVAL, "max_len", "max_len (%d) must be >= 0", max_len);
	if (pair && t->tmpl.n_single && !t->tmpl.n_pair)
		return ada_fail(err, ADA_EINVAL,
				"%s: the tokenizer's post-processor has no template for pairs of texts",
				t->source);
	items = frame(t, pair, buf, &n_items);
	n_special = count_specials(items, n_items);
	if (max_len && max_len <= n_special)
		return ada_fail_param(err, ADA_EINVAL, "max_len",
				      "max_len %d leaves no room for text: the %s takes %d special tokens",
				      max_len, pair ? "pair format" : "format", n_special);

	rc = tokenizer_encode(t, a, a_len, 0, &ea, err);
	if (rc) {
		ada_err_prefix(err, rc, "text_a");
		goto out_free;
	}
	if (pair) {
		rc = t->tmpl.n_single ? tokenizer_encode(t, b, b_len, 0, &eb, err)
				      : encode_continuation(t, b, b_len, &eb, err);
		if (rc) {
			ada_err_prefix(err, rc, "text_b");
			goto out_free;
		}
	}
	if (max_len)
		dropped = truncate_longest_first(&ea.n, &eb.n, (size_t)(max_len - n_special));
	total = ea.n + eb.n + (size_t)n_special;
	if (ivec_reserve(ids, total) || (type_ids && ivec_reserve(type_ids, total)))
		goto oom;
	for (int i = 0; i < n_items; i++) {
		const struct ivec *seg = items[i].id == TMPL_SEQ_A ? &ea :
					 items[i].id == TMPL_SEQ_B ? &eb : NULL;
		size_t n = seg ? seg->n : 1;

		if (seg && n)
			memcpy(ids->v + ids->n, seg->v, n * sizeof(*ids->v));
		else if (!seg)
			ids->v[ids->n] = items[i].id;
		ids->n += n;
		for (size_t j = 0; type_ids && j < n; j++)
			type_ids->v[type_ids->n++] = items[i].type_id;
	}
	if (truncated)
		*truncated = dropped > INT32_MAX ? INT32_MAX : (int)dropped;
	goto out_free;
oom:
	rc = ada_fail(err, ADA_ENOMEM, "out of memory");
	ids->n = ids0;
	if (type_ids)
		type_ids->n = types0;
out_free:
	ivec_release(&ea);
	ivec_release(&eb);
	return rc;
}
