/* Tests of format/gguf_write.c: what the writer writes, the reader reads back. */
#include "check.h"

#include "format/gguf.h"
#include "util/err.h"
#include "util/fileio.h"
#include "util/half.h"

static char *tmp;

static const char *const words[] = { "alpha", "", "g\xc3\xa9n\xc3\xa9ral", "<0x0A>" };
static const float floats[] = { 1.5f, -0.25f, 3e-8f, 65504.0f };
static const int32_t ints[] = { -7, 0, 2147483647, -2147483647 - 1, 42 };

/* Deterministic values spanning magnitudes, signs and a subnormal. */
static void fill(float *v, size_t n, float scale)
{
	for (size_t i = 0; i < n; i++)
		v[i] = scale * (float)((int)(i * 37 % 101) - 50) / 7.0f;
	if (n > 2)
		v[2] = 1e-41f;
}

static float narrowed(float x, uint32_t type)
{
	if (type == GGML_TYPE_F16)
		return f16_to_f32(f32_to_f16(x));
	if (type == GGML_TYPE_BF16)
		return bf16_to_f32(f32_to_bf16(x));
	return x;
}

static int set_metadata(struct gguf_writer *w, struct ada_err *err)
{
	int rc;

	if ((rc = gguf_writer_set_u32(w, "t.u32", 4000000000u, err)) ||
	    (rc = gguf_writer_set_i32(w, "t.i32", -123456, err)) ||
	    (rc = gguf_writer_set_f32(w, "t.f32", 0.1f, err)) ||
	    (rc = gguf_writer_set_bool(w, "t.bool", 1, err)) ||
	    (rc = gguf_writer_set_bool(w, "t.false", 0, err)) ||
	    (rc = gguf_writer_set_str(w, "t.str", "hello, world", err)) ||
	    (rc = gguf_writer_set_str_array(w, "t.strs", words, NULL, 4, err)) ||
	    (rc = gguf_writer_set_f32_array(w, "t.floats", floats, 4, err)) ||
	    (rc = gguf_writer_set_i32_array(w, "t.ints", ints, 5, err)) ||
	    (rc = gguf_writer_set_str_array(w, "t.empty", NULL, NULL, 0, err)))
		return rc;
	/* Setting a key again replaces it (and keeps its place). */
	return gguf_writer_set_str(w, "t.str", "replaced", err);
}

static void check_metadata(const struct gguf *g)
{
	const struct gguf_kv *kv;
	struct ada_err err;
	uint64_t u;
	double f;
	char *s;

	CHECK_INT_EQ(g->n_kv, 10);
	CHECK_OK(gguf_get_u64(g, "t.u32", &u, &err), &err);
	CHECK_INT_EQ(u, 4000000000u);
	kv = gguf_find_kv(g, "t.i32");
	CHECK(kv && kv->type == GGUF_TYPE_INT32 && kv->v.i == -123456);
	CHECK_OK(gguf_get_f64(g, "t.f32", &f, &err), &err);
	CHECK(f == (double)0.1f);
	kv = gguf_find_kv(g, "t.bool");
	CHECK(kv && kv->type == GGUF_TYPE_BOOL && kv->v.u == 1);
	kv = gguf_find_kv(g, "t.false");
	CHECK(kv && kv->type == GGUF_TYPE_BOOL && kv->v.u == 0);
	CHECK_OK(gguf_get_str(g, "t.str", &s, &err), &err);
	CHECK_STR_EQ(s, "replaced");
	free(s);
	CHECK_STR_EQ(g->kv[5].key, "t.str");
	kv = gguf_find_kv(g, "t.strs");
	CHECK(kv && kv->type == GGUF_TYPE_ARRAY && kv->v.arr.type == GGUF_TYPE_STRING &&
	      kv->v.arr.n == 4);
	for (uint64_t i = 0; kv && i < 4; i++)
		CHECK(kv->v.arr.lens[i] == strlen(words[i]) &&
		      !memcmp(kv->v.arr.strs[i], words[i], kv->v.arr.lens[i]));
	kv = gguf_find_kv(g, "t.floats");
	CHECK(kv && kv->v.arr.type == GGUF_TYPE_FLOAT32 && kv->v.arr.n == 4);
	for (uint64_t i = 0; kv && i < 4; i++)
		CHECK(gguf_arr_f64(kv, i) == (double)floats[i]);
	kv = gguf_find_kv(g, "t.ints");
	CHECK(kv && kv->v.arr.type == GGUF_TYPE_INT32 && kv->v.arr.n == 5);
	for (uint64_t i = 0; kv && i < 5; i++)
		CHECK(gguf_arr_i64(kv, i) == ints[i]);
	kv = gguf_find_kv(g, "t.empty");
	CHECK(kv && kv->v.arr.type == GGUF_TYPE_STRING && kv->v.arr.n == 0);
}

/* Every version, every tensor type, 1-, 2- and 3-dimensional tensors. */
static void test_roundtrip(void)
{
	static const uint32_t types[] = { GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_BF16 };
	static const uint64_t d1[] = { 5 }, d2[] = { 7, 3 }, d3[] = { 2, 3, 4 };
	static const uint64_t *dims[] = { d1, d2, d3 };
	static const char *const names[] = { "vec", "blk.0.mat", "cube" };
	float data[3][24], back[24];
	char path[4200];

	for (int t = 0; t < 3; t++)
		fill(data[t], 24, (float)(t + 1));
	for (uint32_t version = 1; version <= 3; version++) {
		for (size_t ti = 0; ti < 3; ti++) {
			uint32_t type = types[ti];
			struct gguf_writer *w = NULL;
			struct gguf *g = NULL;
			struct ada_err err;

			snprintf(path, sizeof(path), "%s/rt-v%u-%s.gguf", tmp, version,
				 ggml_type_name(type));
			CHECK_OK(gguf_writer_new(version, &w, &err), &err);
			if (!w)
				return;
			CHECK_OK(set_metadata(w, &err), &err);
			for (int t = 0; t < 3; t++)
				CHECK_OK(gguf_writer_add_tensor(w, names[t], (uint32_t)t + 1, dims[t],
								data[t], type, &err), &err);
			CHECK_OK(gguf_writer_write(w, path, &err), &err);
			gguf_writer_free(w);

			CHECK_OK(gguf_open(path, &g, &err), &err);
			if (!g)
				continue;
			CHECK_INT_EQ(g->version, version);
			CHECK_INT_EQ(g->data_offset % 32, 0);
			check_metadata(g);
			CHECK_INT_EQ(g->n_tensors, 3);
			for (int t = 0; t < 3; t++) {
				const struct gguf_tensor *gt = gguf_find_tensor(g, names[t]);
				uint64_t n = 1;

				CHECK(gt != NULL);
				if (!gt)
					continue;
				CHECK_INT_EQ(gt->n_dims, t + 1);
				for (int d = 0; d <= t; d++) {
					CHECK_INT_EQ(gt->dims[d], dims[t][d]);
					n *= dims[t][d];
				}
				CHECK_INT_EQ(gt->type, type);
				CHECK_INT_EQ(gt->offset % 32, 0);
				CHECK_OK(gguf_tensor_to_f32(g, gt, back, &err), &err);
				for (uint64_t i = 0; i < n; i++)
					CHECK_MSG(!memcmp(&back[i], &(float){ narrowed(data[t][i], type) },
							  sizeof(float)),
						  "v%u %s %s[%llu]: %g", version, ggml_type_name(type),
						  names[t], (unsigned long long)i, back[i]);
			}
			gguf_close(g);
		}
	}
}

/* Metadata copied from a v1 file into a v3 file keep their types and values. */
static void test_copy_kv(void)
{
	char src[4200], dst[4200];
	struct gguf_writer *w = NULL;
	struct gguf *a = NULL, *b = NULL;
	struct ada_err err;

	snprintf(src, sizeof(src), "%s/copy-src.gguf", tmp);
	snprintf(dst, sizeof(dst), "%s/copy-dst.gguf", tmp);
	CHECK_OK(gguf_writer_new(1, &w, &err), &err);
	CHECK_OK(set_metadata(w, &err), &err);
	CHECK_OK(gguf_writer_write(w, src, &err), &err);
	gguf_writer_free(w);
	CHECK_OK(gguf_open(src, &a, &err), &err);
	if (!a)
		return;
	CHECK_OK(gguf_writer_new(3, &w, &err), &err);
	for (uint64_t i = 0; i < a->n_kv; i++)
		CHECK_OK(gguf_writer_copy_kv(w, &a->kv[i], &err), &err);
	CHECK_OK(gguf_writer_write(w, dst, &err), &err);
	gguf_writer_free(w);
	CHECK_OK(gguf_open(dst, &b, &err), &err);
	if (b) {
		CHECK_INT_EQ(b->version, 3);
		check_metadata(b);
		for (uint64_t i = 0; i < b->n_kv; i++)
			CHECK_STR_EQ(b->kv[i].key, a->kv[i].key);
	}
	gguf_close(a);
	gguf_close(b);
}

/* The real model's tokenizer metadata survive a copy (u32 ids, f32 scores, i32 types). */
static void test_copy_real_tokenizer(void)
{
	const char *assets = check_assets();
	char src[4200], dst[4200];
	struct gguf_writer *w = NULL;
	struct gguf *a = NULL, *b = NULL;
	struct ada_err err;

	if (!assets) {
		check_skip("test_copy_real_tokenizer needs ../shared/assets");
		return;
	}
	snprintf(src, sizeof(src), "%s/models/stories260K/stories260K.gguf", assets);
	snprintf(dst, sizeof(dst), "%s/tok-copy.gguf", tmp);
	CHECK_OK(gguf_open(src, &a, &err), &err);
	if (!a)
		return;
	CHECK_OK(gguf_writer_new(2, &w, &err), &err);
	for (uint64_t i = 0; i < a->n_kv; i++)
		CHECK_OK(gguf_writer_copy_kv(w, &a->kv[i], &err), &err);
	CHECK_OK(gguf_writer_write(w, dst, &err), &err);
	gguf_writer_free(w);
	CHECK_OK(gguf_open(dst, &b, &err), &err);
	for (uint64_t i = 0; b && i < a->n_kv; i++) {
		const struct gguf_kv *x = &a->kv[i], *y = &b->kv[i];

		CHECK_STR_EQ(x->key, y->key);
		CHECK_INT_EQ(x->type, y->type);
		if (x->type == GGUF_TYPE_STRING)
			CHECK(x->v.str.len == y->v.str.len &&
			      !memcmp(x->v.str.s, y->v.str.s, x->v.str.len));
		else if (x->type == GGUF_TYPE_ARRAY && x->v.arr.type == GGUF_TYPE_STRING)
			for (uint64_t j = 0; j < x->v.arr.n; j++)
				CHECK(x->v.arr.lens[j] == y->v.arr.lens[j] &&
				      !memcmp(x->v.arr.strs[j], y->v.arr.strs[j], x->v.arr.lens[j]));
		else if (x->type == GGUF_TYPE_ARRAY)
			for (uint64_t j = 0; j < x->v.arr.n; j++)
				CHECK(gguf_arr_f64(x, j) == gguf_arr_f64(y, j));
		else
			CHECK(x->v.u == y->v.u);
	}
	gguf_close(a);
	gguf_close(b);
}

static void test_refusals(void)
{
	static const uint64_t ok[] = { 4 }, zero[] = { 0 };
	char longname[80], path[4200];
	struct gguf_writer *w = NULL;
	struct ada_err err;
	float v[4] = { 0 };

	CHECK_INT_EQ(gguf_writer_new(4, &w, &err), ADA_EINVAL);
	CHECK(w == NULL);
	CHECK_INT_EQ(gguf_writer_new(0, &w, &err), ADA_EINVAL);
	CHECK_OK(gguf_writer_new(3, &w, &err), &err);
	if (!w)
		return;
	memset(longname, 'x', 64);
	longname[64] = '\0';
	CHECK_INT_EQ(gguf_writer_add_tensor(w, longname, 1, ok, v, GGML_TYPE_F32, &err), ADA_EINVAL);
	CHECK_INT_EQ(gguf_writer_add_tensor(w, "z", 1, zero, v, GGML_TYPE_F32, &err), ADA_EINVAL);
	CHECK_INT_EQ(gguf_writer_add_tensor(w, "q", 1, ok, v, 9, &err), ADA_EUNSUPPORTED);
	CHECK(strstr(err.msg, "Q8_1") != NULL);
	CHECK_INT_EQ(gguf_writer_add_tensor(w, "t", 5, ok, v, GGML_TYPE_F32, &err), ADA_EINVAL);
	CHECK_OK(gguf_writer_add_tensor(w, "t", 1, ok, v, GGML_TYPE_F32, &err), &err);
	CHECK_INT_EQ(gguf_writer_add_tensor(w, "t", 1, ok, v, GGML_TYPE_F32, &err), ADA_EINVAL);
	CHECK(strstr(err.msg, "'t'") != NULL);
	/* A directory that does not exist: an I/O error and no file. */
	snprintf(path, sizeof(path), "%s/no/such/dir/x.gguf", tmp);
	CHECK_INT_EQ(gguf_writer_write(w, path, &err), ADA_EIO);
	CHECK(!file_exists(path));
	gguf_writer_free(w);
}

int main(void)
{
	tmp = check_tmpdir("gguf_write");
	RUN(test_roundtrip);
	RUN(test_copy_kv);
	RUN(test_copy_real_tokenizer);
	RUN(test_refusals);
	remove_tree(tmp, NULL);
	free(tmp);
	return check_summary();
}
