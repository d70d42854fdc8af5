/*
 * fuzz_jsonl — training data: the upload's checks and every reader a job
 * runs on the same bytes. The first byte holds options (bit 0: the
 * upload's JSONL-only flag; bits 1-2: the classification reader's format,
 * auto / JSONL / GLUE TSV), the second the sequence length (4 to 259);
 * the rest is the training file and, after FUZZ_SEP, a validation file:
 *   ada_data_validate, ada_data_labels and ada_labels_check (the upload
 *   and job creation), the language-model dataset (packing into windows,
 *   the tail split) and the classification dataset (labels, pairs,
 *   truncation, the validation file against the training label map),
 * encoded with a real tokenizer: the byte-level one of ada_create_model.
 * What the upload accepts, training must read: a JSONL file that
 * ada_data_validate passes as text is loaded without a format error.
 */
#include "fuzz.h"

#include <string.h>

#include "adalora.h"
#include "tokenizer/tokenizer.h"
#include "data/class_data.h"
#include "data/data.h"
#include "net/classifier.h"

static struct tokenizer *tok;

void fuzz_setup(void)
{
	struct ada_err err;
	const char *path = fuzz_path("bytes.gguf");

	if (ada_create_model("tiny", 1, path, &err) || tokenizer_load(path, 0, &tok, &err)) {
		fprintf(stderr, "fuzz_jsonl: %s\n", err.msg);
		abort();
	}
}

static int encode(void *ctx, const char *text, size_t len, unsigned flags, struct ivec *out,
		  struct ada_err *err)
{
	return tokenizer_encode(ctx, text, len, flags, out, err);
}

static void upload_checks(const struct fuzz_part *train, const struct fuzz_part *valid,
			  unsigned flags, struct ada_data_info *info, int *valid_ok)
{
	json_t *tl = NULL, *vl = NULL;
	struct ada_err err;

	*valid_ok = !ada_data_validate((const char *)train->data, train->size, flags, info, &err);
	if (!*valid_ok) {
		fuzz_check_err(&err);
		return;
	}
	FUZZ_CHECK(info->record_count > 0, "a valid file without records");
	if (ada_data_labels((const char *)train->data, train->size, &tl, &err)) {
		fuzz_check_err(&err);
		return;
	}
	FUZZ_CHECK(json_is_object(tl), "labels are not an object");
	if (valid->size && ada_data_labels((const char *)valid->data, valid->size, &vl, &err))
		fuzz_check_err(&err);
	if (ada_labels_check(tl, vl, &err))
		fuzz_check_err(&err);
	if (ada_labels_check(tl, NULL, &err))
		fuzz_check_err(&err);
	json_decref(tl);
	json_decref(vl);
}

static void lm_dataset(const struct fuzz_part *train, int seq_len, const struct ada_data_info *info,
		       int valid_ok)
{
	struct text_encoder enc = {
		.ctx = tok, .encode = encode, .bos = tokenizer_bos(tok), .eos = tokenizer_eos(tok),
		.pad = 0,
	};
	struct dataset ds, valid;
	struct ada_err err;
	int32_t *in, *tg;

	if (dataset_load_buffer((const char *)train->data, train->size, "train", seq_len, &enc, &ds,
				&err)) {
		fuzz_check_err(&err);
		/* a text file the upload took is one training reads */
		FUZZ_CHECK(!valid_ok || info->shape != ADA_SHAPE_TEXT || err.code != ADA_EFORMAT,
			   "validated as text, refused by the dataset: %s", err.msg);
		return;
	}
	in = malloc(sizeof(*in) * (size_t)seq_len);
	tg = malloc(sizeof(*tg) * (size_t)seq_len);
	if (!in || !tg)
		abort();
	for (int64_t w = 0; w < ds.n_windows; w++) {
		int n = dataset_window(&ds, w, in, tg);
		FUZZ_CHECK(n > 0 && n == dataset_window_targets(&ds, w), "window %lld: %d targets",
			   (long long)w, n);
	}
	free(in);
	free(tg);
	if (!dataset_split_tail(&ds, -1, &valid, &err))
		dataset_release(&valid);
	dataset_release(&ds);
}

static void class_dataset(const struct fuzz_part *train, const struct fuzz_part *valid,
			  enum class_file_format fmt, int seq_len)
{
	struct pair_encoder enc;
	struct label_map lm = { 0 };
	struct class_dataset ds, vs, split;
	struct ada_err err;
	const char *tp = fuzz_write(fmt == CLASS_FORMAT_GLUE_TSV ? "train.tsv" : "train.jsonl",
				    train->data, train->size);

	classifier_pair_encoder(&enc, tok);   /* the trainer's and `adalora eval`'s */
	if (class_data_load(tp, fmt, &enc, seq_len, &lm, 1, &ds, &err)) {
		fuzz_check_err(&err);
		label_map_release(&lm);
		return;
	}
	FUZZ_CHECK(ds.n > 0 && lm.n_labels >= 1, "%lld examples, %d labels", (long long)ds.n,
		   lm.n_labels);
	for (int64_t i = 0; i < ds.n; i++) {
		FUZZ_CHECK(ds.lengths[i] > 0 && ds.lengths[i] <= seq_len, "length %d", ds.lengths[i]);
		if (lm.kind != ADA_LABEL_FLOAT)
			FUZZ_CHECK(ds.labels[i] >= 0 && ds.labels[i] < lm.n_labels, "label %d of %d",
				   ds.labels[i], lm.n_labels);
	}
	if (valid->size) {
		const char *vp = fuzz_write(fmt == CLASS_FORMAT_GLUE_TSV ? "valid.tsv" : "valid.jsonl",
					    valid->data, valid->size);
		if (!class_data_load(vp, fmt, &enc, seq_len, &lm, 0, &vs, &err))
			class_dataset_release(&vs);
		else
			fuzz_check_err(&err);
	}
	if (!class_data_split_tail(&ds, 0.25, &split, &err))
		class_dataset_release(&split);
	class_dataset_release(&ds);
	label_map_release(&lm);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum class_file_format formats[] = {
		CLASS_FORMAT_AUTO, CLASS_FORMAT_JSONL, CLASS_FORMAT_GLUE_TSV, CLASS_FORMAT_JSONL,
	};
	struct fuzz_part p[2];
	struct ada_data_info info;
	unsigned flags;
	int seq_len, valid_ok;

	if (size < 2)
		return 0;
	flags = data[0] & 1 ? ADA_DATA_JSONL_ONLY : 0;
	seq_len = 4 + data[1];
	fuzz_split(data + 2, size - 2, p, 2);
	upload_checks(&p[0], &p[1], flags, &info, &valid_ok);
	lm_dataset(&p[0], seq_len, &info, valid_ok);
	class_dataset(&p[0], &p[1], formats[(data[0] >> 1) & 3], seq_len);
	return 0;
}
