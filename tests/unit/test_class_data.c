/*
 * Classification data and metrics: JSONL and GLUE TSV records, label maps
 * (int, string, float), validation labels that do not fit, truncation
 * through the encoder, the tail split; accuracy, F1, MCC, Pearson and
 * Spearman against values computed by hand (scikit-learn / scipy
 * conventions).
 */
#include "check.h"

#include "data/class_data.h"
#include "data/cls_metrics.h"
#include "util/err.h"
#include "util/fileio.h"

static char *tmp;

/* A byte-level toy encoder: [CLS]=1 a [SEP]=2 (b [SEP]), ids = byte + 3,
 * type 0 for a, 1 for b; longest-first truncation. */
static int toy_encode(void *ctx, const char *a, size_t alen, const char *b, size_t blen,
		      int max_len, struct ivec *ids, struct ivec *types, int *truncated,
		      struct ada_err *err)
{
	size_t specials = b ? 3 : 2, la = alen, lb = b ? blen : 0;

	(void)ctx;
	if ((size_t)max_len < specials + 1)
		return ada_fail(err, ADA_EINVAL, "max_len too small");
	*truncated = 0;
	while (la + lb + specials > (size_t)max_len) {
		if (la >= lb)
			la--;
		else
			lb--;
		*truncated = 1;
	}
	ivec_push(ids, 1);
	ivec_push(types, 0);
	for (size_t i = 0; i < la; i++) {
		ivec_push(ids, (unsigned char)a[i] + 3);
		ivec_push(types, 0);
	}
	ivec_push(ids, 2);
	ivec_push(types, 0);
	if (b) {
		for (size_t i = 0; i < lb; i++) {
			ivec_push(ids, (unsigned char)b[i] + 3);
			ivec_push(types, 1);
		}
		ivec_push(ids, 2);
		ivec_push(types, 1);
	}
	return ADA_OK;
}

static const struct pair_encoder enc = { .encode = toy_encode, .pad = 0 };

static char *write_file(const char *name, const char *text)
{
	char *p = path_join(tmp, name);
	file_write_atomic(p, text, strlen(text), NULL);
	return p;
}

static void test_jsonl_int_and_string_labels(void)
{
	struct label_map lm;
	struct class_dataset ds, dv;
	struct ada_err err = { 0 };
	char *tr = write_file("a.jsonl", "{\"text\":\"good\",\"label\":1}\n{\"text\":\"bad\",\"label\":0}\n"
					  "{\"text\":\"meh\",\"label\":2}\n");
	char *va = write_file("a_valid.jsonl", "{\"text\":\"ok\",\"label\":3}\n");
	char *st = write_file("s.jsonl", "{\"text_a\":\"x\",\"text_b\":\"yy\",\"label\":\"neutral\"}\n"
					  "{\"text_a\":\"p\",\"text_b\":\"q\",\"label\":\"entailment\"}\n");
	char *sv = write_file("s_valid.jsonl", "{\"text_a\":\"x\",\"text_b\":\"y\",\"label\":\"contradiction\"}\n");

	CHECK_OK(class_data_load(tr, CLASS_FORMAT_AUTO, &enc, 16, &lm, 1, &ds, &err), &err);
	CHECK_INT_EQ(lm.kind, ADA_LABEL_INT);
	CHECK_INT_EQ(lm.n_labels, 3);
	CHECK_INT_EQ(ds.n, 3);
	CHECK_INT_EQ(ds.lengths[0], 6);           /* [CLS] g o o d [SEP] */
	CHECK_INT_EQ(ds.ids[0], 1);
	CHECK_INT_EQ(ds.ids[1], 'g' + 3);
	CHECK_INT_EQ(ds.ids[6], 0);               /* padded */
	CHECK_INT_EQ(ds.labels[2], 2);
	/* a validation label beyond the training labels: the count changed */
	CHECK_INT_EQ(class_data_load(va, CLASS_FORMAT_AUTO, &enc, 16, &lm, 0, &dv, &err), ADA_EINVAL);
	CHECK(strstr(err.msg, "label count") != NULL && strstr(err.msg, "line 1") != NULL);
	class_dataset_release(&ds);
	label_map_release(&lm);

	CHECK_OK(class_data_load(st, CLASS_FORMAT_AUTO, &enc, 16, &lm, 1, &ds, &err), &err);
	CHECK_INT_EQ(lm.kind, ADA_LABEL_STRING);
	CHECK_STR_EQ(lm.names[0], "entailment");  /* sorted */
	CHECK_STR_EQ(lm.names[1], "neutral");
	CHECK_INT_EQ(ds.labels[0], 1);
	CHECK_INT_EQ(ds.types[ds.seq_len * 0 + 3], 1);   /* [CLS] x [SEP] y... */
	CHECK_INT_EQ(class_data_load(sv, CLASS_FORMAT_AUTO, &enc, 16, &lm, 0, &dv, &err), ADA_EINVAL);
	CHECK(strstr(err.msg, "contradiction") != NULL);
	class_dataset_release(&ds);
	label_map_release(&lm);
	free(tr); free(va); free(st); free(sv);
}

static void test_glue_tsv_and_truncation(void)
{
	struct label_map lm;
	struct class_dataset ds, dv;
	struct ada_err err = { 0 };
	char *sst = write_file("sst.tsv", "sentence\tlabel\nit is fine \t1\nterrible , awful and long\t0\n");
	char *sts = write_file("sts.tsv", "genre\tsentence1\tsentence2\tscore\nx\tab\tcd\t3.8\nx\tef\tgh\t1\n");
	char *cola = write_file("cola.tsv", "gj04\t1\t\tThe sailors rode the breeze .\ngj04\t0\t*\tThe more .\n");
	char *bad = write_file("bad.tsv", "sentence\tlabel\nonly one column\n");

	CHECK_OK(class_data_load(sst, CLASS_FORMAT_AUTO, &enc, 8, &lm, 1, &ds, &err), &err);
	CHECK_INT_EQ(ds.n, 2);
	CHECK_INT_EQ(ds.n_truncated, 2);          /* both longer than 8 - 2 */
	CHECK_INT_EQ(ds.lengths[1], 8);
	CHECK_OK(class_data_split_tail(&ds, 0.5, &dv, &err), &err);
	CHECK_INT_EQ(ds.n, 1);
	CHECK_INT_EQ(dv.n, 1);
	CHECK_INT_EQ(ds.n_truncated, 1);          /* the counts follow the examples */
	CHECK_INT_EQ(dv.n_truncated, 1);
	CHECK_INT_EQ(dv.labels[0], 0);
	class_dataset_release(&ds);
	class_dataset_release(&dv);
	label_map_release(&lm);

	CHECK_OK(class_data_load(sts, CLASS_FORMAT_AUTO, &enc, 16, &lm, 1, &ds, &err), &err);
	CHECK_INT_EQ(lm.kind, ADA_LABEL_FLOAT);
	CHECK_INT_EQ(lm.n_labels, 1);
	CHECK_NEAR(ds.targets[0], 3.8, 1e-6);
	CHECK_NEAR(ds.targets[1], 1.0, 0);
	class_dataset_release(&ds);
	label_map_release(&lm);

	CHECK_OK(class_data_load(cola, CLASS_FORMAT_GLUE_TSV, &enc, 64, &lm, 1, &ds, &err), &err);
	CHECK_INT_EQ(ds.n, 2);
	CHECK_INT_EQ(ds.labels[0], 1);
	class_dataset_release(&ds);
	label_map_release(&lm);

	CHECK_INT_EQ(class_data_load(bad, CLASS_FORMAT_AUTO, &enc, 16, &lm, 1, &ds, &err), ADA_EINVAL);
	CHECK(strstr(err.msg, "line 2") != NULL);
	free(sst); free(sts); free(cola); free(bad);
}

static void test_metrics(void)
{
	struct cls_metrics m;
	/* gold 1 1 1 0 0 0 1 0, pred 1 0 1 0 1 0 1 0: tp 3 fn 1 fp 1 tn 3 */
	int32_t gold[8] = { 1, 1, 1, 0, 0, 0, 1, 0 }, pred[8] = { 1, 0, 1, 0, 1, 0, 1, 0 };
	float x[5] = { 1, 2, 3, 4, 5 }, y[5] = { 2, 1, 4, 3, 5 };
	double scratch[20];

	cls_metrics_classify(pred, gold, 8, 2, &m);
	CHECK_NEAR(m.glue.accuracy, 0.75, 1e-12);
	CHECK_NEAR(m.glue.f1, 0.75, 1e-12);            /* 2*3 / (6 + 1 + 1) */
	CHECK_NEAR(m.glue.mcc, 0.5, 1e-12);            /* (9 - 1) / sqrt(4*4*4*4) */
	/* constant prediction: MCC undefined */
	int32_t ones[4] = { 1, 1, 1, 1 }, g4[4] = { 0, 1, 0, 1 };
	cls_metrics_classify(ones, g4, 4, 2, &m);
	CHECK(isnan(m.glue.mcc));
	CHECK_NEAR(m.glue.accuracy, 0.5, 0);

	cls_metrics_regress(x, y, 5, scratch, &m);
	CHECK_NEAR(m.glue.pearson, 0.8, 1e-12);        /* cov 2.0 / (sqrt 2 sqrt 2)... = 8/10 */
	CHECK_NEAR(m.glue.spearman, 0.8, 1e-12);
	float t[4] = { 1, 2, 2, 3 }, u[4] = { 1, 3, 2, 4 };
	cls_metrics_regress(t, u, 4, scratch, &m);
	/* ranks t: 1 2.5 2.5 4 ; u: 1 3 2 4 -> pearson of ranks */
	CHECK_NEAR(m.glue.spearman, 0.9486832980505138, 1e-12);
}

/* The metrics as JSON: those of the head's kind (undefined ones null), or
 * without a label count the defined ones. */
static void test_metrics_json(void)
{
	const struct ada_glue_metrics m = { .accuracy = 0.75, .f1 = 0.5, .mcc = NAN,
					    .pearson = NAN, .spearman = NAN };
	json_t *j = json_object();
	char *s;

	ada_glue_metrics_json(j, &m, 2, "");
	s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	CHECK_STR_EQ(s, "{\"accuracy\":0.75,\"f1\":0.5,\"mcc\":null}");
	free(s);
	json_object_clear(j);
	ada_glue_metrics_json(j, &m, 3, "");     /* no F1 beyond two classes */
	s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	CHECK_STR_EQ(s, "{\"accuracy\":0.75,\"mcc\":null}");
	free(s);
	json_object_clear(j);
	ada_glue_metrics_json(j, &m, 1, "");     /* a regression */
	s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	CHECK_STR_EQ(s, "{\"pearson\":null,\"spearman\":null}");
	free(s);
	json_object_clear(j);
	ada_glue_metrics_json(j, &m, 0, "valid_");
	s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	CHECK_STR_EQ(s, "{\"valid_accuracy\":0.75,\"valid_f1\":0.5}");
	free(s);
	json_decref(j);
}

/* The daemon's creation check: label summaries and whether they fit. */
static json_t *labels_of(const char *text)
{
	struct ada_err err = { 0 };
	json_t *o = NULL;

	CHECK_OK(ada_data_labels(text, strlen(text), &o, &err), &err);
	return o;
}

static void test_label_summaries(void)
{
	struct ada_err err = { 0 };
	json_t *ti = labels_of("{\"text\":\"a\",\"label\":2}\n{\"text\":\"b\",\"label\":0}\n");
	json_t *vi = labels_of("{\"text\":\"a\",\"label\":3}\n");
	json_t *ts = labels_of("{\"text\":\"a\",\"label\":\"pos\"}\n{\"text\":\"b\",\"label\":\"neg\"}\n");
	json_t *vs = labels_of("{\"text_a\":\"a\",\"text_b\":\"c\",\"label\":\"maybe\"}\n");
	json_t *one = labels_of("{\"text\":\"a\",\"label\":\"pos\"}\n");
	json_t *tf = labels_of("{\"text\":\"a\",\"label\":0.5}\n{\"text\":\"b\",\"label\":1}\n");
	json_t *o = NULL;
	const char *neg = "{\"text\":\"a\",\"label\":-1}\n";

	CHECK_STR_EQ(json_string_value(json_object_get(ti, "kind")), "int");
	CHECK_INT_EQ(json_integer_value(json_object_get(ti, "num_labels")), 3);
	CHECK_INT_EQ(json_integer_value(json_object_get(ts, "num_labels")), 2);
	CHECK_STR_EQ(json_string_value(json_array_get(json_object_get(ts, "labels"), 0)), "neg");
	CHECK_STR_EQ(json_string_value(json_object_get(tf, "kind")), "float");
	CHECK_OK(ada_labels_check(ti, ti, &err), &err);
	CHECK_OK(ada_labels_check(ts, one, &err), &err);
	CHECK_OK(ada_labels_check(tf, ti, &err), &err);
	CHECK_INT_EQ(ada_labels_check(ti, vi, &err), ADA_EINVAL);
	CHECK_STR_EQ(err.param, "validation_file");
	CHECK(strstr(err.msg, "label count changed") != NULL);
	CHECK_INT_EQ(ada_labels_check(ts, vs, &err), ADA_EINVAL);
	CHECK(strstr(err.msg, "\"maybe\"") != NULL);
	CHECK_INT_EQ(ada_labels_check(ts, ti, &err), ADA_EINVAL);
	CHECK_INT_EQ(ada_labels_check(one, NULL, &err), ADA_EINVAL);
	CHECK_STR_EQ(err.param, "training_file");
	CHECK_INT_EQ(ada_data_labels(neg, strlen(neg), &o, &err), ADA_EINVAL);
	CHECK(o == NULL && strstr(err.msg, "line 1") != NULL);
	json_decref(ti);
	json_decref(vi);
	json_decref(ts);
	json_decref(vs);
	json_decref(one);
	json_decref(tf);
}

int main(void)
{
	tmp = check_tmpdir("classdata");
	RUN(test_jsonl_int_and_string_labels);
	RUN(test_glue_tsv_and_truncation);
	RUN(test_metrics);
	RUN(test_metrics_json);
	RUN(test_label_summaries);
	remove_tree(tmp, NULL);
	free(tmp);
	return check_summary();
}
