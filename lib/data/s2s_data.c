/* s2s_data — sequence-to-sequence examples and teacher-forcing batches; see s2s_data.h. */
#include "data/s2s_data.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/err.h"
#include "util/fileio.h"
#include "data/data_format.h"

struct builder {
	const struct tokenizer *tok;
	int max_src, max_tgt;
	struct s2s_dataset *ds;
	size_t cap_tokens, cap_n[6];
	struct ivec ids;
};

/* One text, framed and cut to max_len, appended to ds->tokens at *end;
 * *n_out its tokens, *cut whether it lost some. */
static int encode(struct builder *bd, const char *text, size_t len, int max_len,
		  const char *param, int64_t *end, int32_t *n_out, int *cut, struct ada_err *err)
{
	struct s2s_dataset *ds = bd->ds;
	int truncated = 0, rc;

	bd->ids.n = 0;
	rc = tokenizer_encode_pair(bd->tok, text, len, NULL, 0, max_len, &bd->ids, NULL, &truncated,
				   err);
	if (rc) {
		if (!strcmp(err->param, "max_len"))
			snprintf(err->param, sizeof(err->param), "%s", param);
		return rc;
	}
	if (ALLOC_GROW(ds->tokens, (size_t)*end + bd->ids.n, bd->cap_tokens))
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	memcpy(ds->tokens + *end, bd->ids.v, bd->ids.n * sizeof(int32_t));
	*end += (int64_t)bd->ids.n;
	*n_out = (int32_t)bd->ids.n;
	*cut = truncated > 0;
	return ADA_OK;
}

static int on_record(void *ctx, const struct data_record *rec, struct ada_err *err)
{
	struct builder *bd = ctx;
	struct s2s_dataset *ds = bd->ds;
	const size_t i = (size_t)ds->n;
	int cut_src, cut_tgt, rc;
	int64_t end;

	if (rec->shape != ADA_SHAPE_SEQ2SEQ)
		return ada_fail(err, ADA_EINVAL,
				"a seq2seq job reads {\"source\", \"target\"} lines (or \"document\"/\"summary\", \"article\"/\"highlights\"), not %s lines",
				ada_data_shape_name(rec->shape));
	if (ALLOC_GROW(ds->offset, i + 2, bd->cap_n[0]) ||
	    ALLOC_GROW(ds->src_len, i + 1, bd->cap_n[1]) ||
	    ALLOC_GROW(ds->tgt_len, i + 1, bd->cap_n[2]) ||
	    ALLOC_GROW(ds->line, i + 1, bd->cap_n[3]) ||
	    ALLOC_GROW(ds->target_text, i + 1, bd->cap_n[4]) ||
	    ALLOC_GROW(ds->cut, i + 1, bd->cap_n[5]))
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	if (i == 0)
		ds->offset[0] = 0;
	end = ds->offset[i];
	ds->target_text[i] = NULL;
	if ((rc = encode(bd, rec->text, rec->text_len, bd->max_src, "max_source_length", &end,
			 &ds->src_len[i], &cut_src, err)) ||
	    (rc = encode(bd, rec->second, rec->second_len, bd->max_tgt, "max_target_length", &end,
			 &ds->tgt_len[i], &cut_tgt, err)))
		return rc;
	ds->cut[i] = (uint8_t)(cut_src | cut_tgt << 1);
	ds->target_text[i] = malloc(rec->second_len + 1);
	if (!ds->target_text[i])
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	memcpy(ds->target_text[i], rec->second, rec->second_len);
	ds->target_text[i][rec->second_len] = '\0';
	ds->line[i] = rec->line;
	ds->offset[i + 1] = ds->offset[i] + ds->src_len[i] + ds->tgt_len[i];
	ds->n_truncated_src += cut_src;
	ds->n_truncated_tgt += cut_tgt;
	ds->max_src = ds->src_len[i] > ds->max_src ? ds->src_len[i] : ds->max_src;
	ds->max_tgt = ds->tgt_len[i] > ds->max_tgt ? ds->tgt_len[i] : ds->max_tgt;
	ds->target_tokens += ds->tgt_len[i];
	ds->n++;
	return ADA_OK;
}

int s2s_data_load(const char *path, const struct tokenizer *tok, int max_src, int max_tgt,
		  struct s2s_dataset *ds, struct ada_err *err)
{
	struct builder bd = { .tok = tok, .max_src = max_src, .max_tgt = max_tgt, .ds = ds };
	const int framing = tokenizer_special_count(tok, 0);
	struct ada_data_info info;
	char *buf = NULL;
	size_t len;
	int rc;

	memset(ds, 0, sizeof(*ds));
	if (framing < 0)
		return ada_fail(err, ADA_EINVAL, "the tokenizer cannot frame a text");
	if (max_src <= framing)
		return ada_fail_param(err, ADA_EINVAL, "max_source_length",
				      "max_source_length (%d) leaves no room for a token beside the %d special tokens",
				      max_src, framing);
	if (max_tgt <= framing)
		return ada_fail_param(err, ADA_EINVAL, "max_target_length",
				      "max_target_length (%d) leaves no room for a token beside the %d special tokens",
				      max_tgt, framing);
	if ((rc = file_read_all(path, &buf, &len, err)))
		return rc;
	rc = data_format_scan(buf, len, ADA_DATA_JSONL_ONLY, on_record, &bd, &info, err);
	free(buf);
	ivec_release(&bd.ids);
	if (rc) {
		ada_err_prefix(err, rc, "%s", path);
	} else if (!ds->n) {
		rc = ada_fail(err, ADA_EINVAL, "%s: empty dataset", path);
	}
	if (rc)
		s2s_dataset_release(ds);
	return rc;
}

void s2s_dataset_release(struct s2s_dataset *ds)
{
	for (int64_t i = 0; ds->target_text && i < ds->n; i++)
		free(ds->target_text[i]);
	free(ds->target_text);
	free(ds->tokens);
	free(ds->offset);
	free(ds->src_len);
	free(ds->tgt_len);
	free(ds->line);
	free(ds->cut);
	memset(ds, 0, sizeof(*ds));
}

int s2s_data_split_tail(struct s2s_dataset *train, double fraction, struct s2s_dataset *valid,
			struct ada_err *err)
{
	int64_t k, first, n_tok;

	memset(valid, 0, sizeof(*valid));
	if (fraction <= 0)
		return ADA_OK;
	if (train->n < 2)
		return ada_fail(err, ADA_EINVAL, "too few examples (%lld) to hold out a validation set",
				(long long)train->n);
	k = (int64_t)llround(fraction * (double)train->n);
	k = k < 1 ? 1 : k > train->n - 1 ? train->n - 1 : k;
	first = train->n - k;
	n_tok = train->offset[train->n] - train->offset[first];
	valid->tokens = xcalloc((size_t)n_tok + 1, sizeof(*valid->tokens));
	valid->offset = xcalloc((size_t)k + 1, sizeof(*valid->offset));
	valid->src_len = xcalloc((size_t)k, sizeof(*valid->src_len));
	valid->tgt_len = xcalloc((size_t)k, sizeof(*valid->tgt_len));
	valid->line = xcalloc((size_t)k, sizeof(*valid->line));
	valid->target_text = xcalloc((size_t)k, sizeof(*valid->target_text));
	valid->cut = xcalloc((size_t)k, sizeof(*valid->cut));
	if (!valid->tokens || !valid->offset || !valid->src_len || !valid->tgt_len || !valid->line ||
	    !valid->target_text || !valid->cut) {
		s2s_dataset_release(valid);
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	}
	memcpy(valid->tokens, train->tokens + train->offset[first], (size_t)n_tok * sizeof(int32_t));
	for (int64_t i = 0; i < k; i++) {
		const int64_t j = first + i;

		valid->offset[i + 1] = train->offset[j + 1] - train->offset[first];
		valid->src_len[i] = train->src_len[j];
		valid->tgt_len[i] = train->tgt_len[j];
		valid->line[i] = train->line[j];
		valid->cut[i] = train->cut[j];
		valid->n_truncated_src += train->cut[j] & 1;
		valid->n_truncated_tgt += train->cut[j] >> 1 & 1;
		valid->target_text[i] = train->target_text[j];
		train->target_text[j] = NULL;
		valid->max_src = valid->src_len[i] > valid->max_src ? valid->src_len[i] : valid->max_src;
		valid->max_tgt = valid->tgt_len[i] > valid->max_tgt ? valid->tgt_len[i] : valid->max_tgt;
		valid->target_tokens += valid->tgt_len[i];
		train->target_tokens -= train->tgt_len[j];
	}
	valid->n = k;
	train->n = first;
	train->n_truncated_src -= valid->n_truncated_src;
	train->n_truncated_tgt -= valid->n_truncated_tgt;
	train->max_src = train->max_tgt = 0;
	for (int64_t i = 0; i < train->n; i++) {
		train->max_src = train->src_len[i] > train->max_src ? train->src_len[i] : train->max_src;
		train->max_tgt = train->tgt_len[i] > train->max_tgt ? train->tgt_len[i] : train->max_tgt;
	}
	return ADA_OK;
}

int64_t s2s_batch(const struct s2s_dataset *ds, const int64_t *idx, int n, int32_t pad,
		  int32_t start, int32_t *src, int32_t *src_len, int32_t *dec_in, int32_t *labels,
		  int *S, int *T)
{
	int s_max = 1, t_max = 1;
	int64_t count = 0;

	for (int r = 0; r < n; r++) {
		s_max = ds->src_len[idx[r]] > s_max ? ds->src_len[idx[r]] : s_max;
		t_max = ds->tgt_len[idx[r]] > t_max ? ds->tgt_len[idx[r]] : t_max;
	}
	for (int r = 0; r < n; r++) {
		const int64_t e = idx[r];
		const int32_t *s = s2s_source(ds, e), *t = s2s_target(ds, e);
		const int ls = ds->src_len[e], lt = ds->tgt_len[e];

		src_len[r] = ls;
		for (int i = 0; i < s_max; i++)
			src[(size_t)r * s_max + i] = i < ls ? s[i] : pad;
		for (int i = 0; i < t_max; i++) {
			labels[(size_t)r * t_max + i] = i < lt ? t[i] : -1;
			dec_in[(size_t)r * t_max + i] = i == 0 ? start : i < lt ? t[i - 1] : pad;
		}
		count += lt;
	}
	*S = s_max;
	*T = t_max;
	return count;
}
