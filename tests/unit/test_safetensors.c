/* Tests of format/safetensors{,_write}.c: round trips and damaged files. */
#include "check.h"

#include <stdint.h>
#include <unistd.h>

#include "format/safetensors.h"
#include "util/err.h"
#include "util/fileio.h"
#include "util/half.h"

static char *tmp;

static void fill(float *v, size_t n, float scale)
{
	for (size_t i = 0; i < n; i++)
		v[i] = scale * (float)((int)(i * 29 % 83) - 41) / 3.0f;
}

static float narrowed(float x, enum st_dtype dtype)
{
	if (dtype == ST_F16)
		return f16_to_f32(f32_to_f16(x));
	if (dtype == ST_BF16)
		return bf16_to_f32(f32_to_bf16(x));
	return x;
}

static void test_roundtrip(void)
{
	static const enum st_dtype dtypes[] = { ST_F32, ST_F16, ST_BF16 };
	static const uint64_t mat[] = { 3, 5 }, vec[] = { 7 }, empty[] = { 0, 4 };
	float a[15], b[7], c = 2.5f, back[15];
	char path[4200];

	fill(a, 15, 1.0f);
	fill(b, 7, -0.01f);
	for (size_t di = 0; di < 3; di++) {
		enum st_dtype dt = dtypes[di];
		struct safetensors_writer *w = NULL;
		struct safetensors *st = NULL;
		const struct st_tensor *t;
		struct ada_err err;
		uint64_t hlen;

		snprintf(path, sizeof(path), "%s/rt-%s.safetensors", tmp, st_dtype_name(dt));
		CHECK_OK(safetensors_writer_new(&w, &err), &err);
		if (!w)
			return;
		CHECK_OK(safetensors_writer_set_metadata(w, "format", "pt", &err), &err);
		CHECK_OK(safetensors_writer_add_tensor(w, "z.mat", 2, mat, a, dt, &err), &err);
		CHECK_OK(safetensors_writer_add_tensor(w, "a.vec", 1, vec, b, dt, &err), &err);
		CHECK_OK(safetensors_writer_add_tensor(w, "scalar", 0, NULL, &c, dt, &err), &err);
		CHECK_OK(safetensors_writer_add_tensor(w, "empty", 2, empty, NULL, dt, &err), &err);
		CHECK_OK(safetensors_writer_write(w, path, &err), &err);
		safetensors_writer_free(w);

		CHECK_OK(safetensors_open(path, &st, &err), &err);
		if (!st)
			continue;
		memcpy(&hlen, st->file.data, 8);
		CHECK_INT_EQ(hlen % 8, 0);
		CHECK(strstr((const char *)st->file.data + 8, "\"__metadata__\":{\"format\":\"pt\"}") != NULL);
		CHECK_INT_EQ(st->n_tensors, 4);
		t = safetensors_find(st, "z.mat");
		CHECK(t && t->dtype == dt && t->n_dims == 2 && t->shape[0] == 3 && t->shape[1] == 5);
		if (t) {
			CHECK_OK(safetensors_tensor_to_f32(st, t, back, &err), &err);
			for (int i = 0; i < 15; i++)
				CHECK(back[i] == narrowed(a[i], dt));
		}
		t = safetensors_find(st, "a.vec");
		CHECK(t && t->n_dims == 1 && t->shape[0] == 7);
		if (t) {
			CHECK_OK(safetensors_tensor_to_f32(st, t, back, &err), &err);
			for (int i = 0; i < 7; i++)
				CHECK(back[i] == narrowed(b[i], dt));
		}
		t = safetensors_find(st, "scalar");
		CHECK(t && t->n_dims == 0 && t->n_elements == 1);
		if (t) {
			CHECK_OK(safetensors_tensor_to_f32(st, t, back, &err), &err);
			CHECK(back[0] == 2.5f);
		}
		t = safetensors_find(st, "empty");
		CHECK(t && t->n_elements == 0 && t->n_bytes == 0);
		CHECK(safetensors_find(st, "missing") == NULL);
		CHECK(safetensors_find(st, "__metadata__") == NULL);
		safetensors_close(st);
	}
}

/* A file made of a given header (padded to 8) and data_len bytes of data. */
static void write_raw(const char *path, const char *header, size_t data_len)
{
	size_t len = strlen(header), hlen = (len + 7) / 8 * 8;
	uint8_t *buf = calloc(1, 8 + hlen + data_len);
	uint64_t h = hlen;
	struct ada_err err;

	memcpy(buf, &h, 8);
	memcpy(buf + 8, header, len);
	memset(buf + 8 + len, ' ', hlen - len);
	CHECK_OK(file_write_atomic(path, buf, 8 + hlen + data_len, &err), &err);
	free(buf);
}

/* Opening must fail with code, and the message name the file and want. */
static void expect_open_error(const char *header, size_t data_len, int code, const char *want)
{
	char path[4200];
	struct safetensors *st = NULL;
	struct ada_err err;
	int rc;

	snprintf(path, sizeof(path), "%s/bad.safetensors", tmp);
	write_raw(path, header, data_len);
	rc = safetensors_open(path, &st, &err);
	CHECK_MSG(rc == code, "header %s: rc %d (%s)", header, rc, rc ? err.msg : "");
	CHECK(st == NULL);
	if (rc) {
		CHECK_MSG(strstr(err.msg, "bad.safetensors") != NULL, "%s", err.msg);
		CHECK_MSG(!want || strstr(err.msg, want) != NULL, "want '%s' in: %s", want, err.msg);
	}
	safetensors_close(st);
}

static void test_damaged_headers(void)
{
	/* Offsets outside the data section, in either end. */
	expect_open_error("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4,
			  ADA_EFORMAT, "'w'");
	expect_open_error("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8,
			  ADA_EFORMAT, "'w'");
	expect_open_error("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-4,4]}}", 8,
			  ADA_EFORMAT, "'w'");
	/* Overlapping tensors. */
	expect_open_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
			  "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12,
			  ADA_EFORMAT, "overlaps");
	/* A gap, and bytes after the last tensor. */
	expect_open_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8,
			  ADA_EFORMAT, "'a'");
	expect_open_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8,
			  ADA_EFORMAT, "after the last tensor");
	/* Extent disagrees with shape * dtype size. */
	expect_open_error("{\"w\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8,
			  ADA_EFORMAT, "'w'");
	/* Shape product overflows 64 bits. */
	expect_open_error("{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],"
			  "\"data_offsets\":[0,0]}}", 0, ADA_EFORMAT, "'w'");
	expect_open_error("{\"w\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904],"
			  "\"data_offsets\":[0,0]}}", 0, ADA_EFORMAT, "'w'");
	/* Unknown dtype, bad fields, bad JSON, duplicate keys, too many dims. */
	expect_open_error("{\"w\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2,
			  ADA_EUNSUPPORTED, "Q4");
	expect_open_error("{\"w\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", 8,
			  ADA_EFORMAT, "'w'");
	expect_open_error("{\"w\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, ADA_EFORMAT, "'w'");
	expect_open_error("{\"w\":[1,2]}", 0, ADA_EFORMAT, "'w'");
	expect_open_error("{\"w\":{\"dtype\":\"F32\",", 0, ADA_EFORMAT, "JSON");
	expect_open_error("[1, 2]", 0, ADA_EFORMAT, "object");
	expect_open_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
			  "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8,
			  ADA_EFORMAT, "JSON");
	expect_open_error("{\"w\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],"
			  "\"data_offsets\":[0,1]}}", 1, ADA_EUNSUPPORTED, "'w'");
	/* __metadata__ is ignored whatever it holds; an empty file of tensors is fine. */
	{
		char path[4200];
		struct safetensors *st = NULL;
		struct ada_err err;

		snprintf(path, sizeof(path), "%s/meta.safetensors", tmp);
		write_raw(path, "{\"__metadata__\":{\"format\":\"pt\",\"n\":3}}", 0);
		CHECK_OK(safetensors_open(path, &st, &err), &err);
		CHECK(st && st->n_tensors == 0);
		safetensors_close(st);
	}
}

static void test_bad_header_length(void)
{
	static const uint64_t lens[] = { 0, 1, 100, UINT64_MAX, (uint64_t)1 << 40 };
	char path[4200];
	uint8_t buf[40];
	struct safetensors *st = NULL;
	struct ada_err err;

	snprintf(path, sizeof(path), "%s/len.safetensors", tmp);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		memcpy(buf, &lens[i], 8);
		memcpy(buf + 8, "{}                              ", 32);
		CHECK_OK(file_write_atomic(path, buf, sizeof(buf), &err), &err);
		CHECK_INT_EQ(safetensors_open(path, &st, &err), ADA_EFORMAT);
		CHECK(strstr(err.msg, "header length") != NULL);
		CHECK(st == NULL);
	}
	/* Shorter than the length field itself. */
	for (size_t n = 0; n < 8; n++) {
		CHECK_OK(file_write_atomic(path, buf, n, &err), &err);
		CHECK_INT_EQ(safetensors_open(path, &st, &err), ADA_EFORMAT);
		CHECK(strstr(err.msg, "len.safetensors") != NULL);
	}
	CHECK_INT_EQ(safetensors_open("/nonexistent/x.safetensors", &st, &err), ADA_ENOTFOUND);
}

/* Every truncation of a valid file is refused cleanly. */
static void test_truncations(void)
{
	static const uint64_t shape[] = { 4, 3 };
	char path[4200], cut[4200];
	struct safetensors_writer *w = NULL;
	struct safetensors *st = NULL;
	struct mapped_file mf;
	struct ada_err err;
	float v[12];

	fill(v, 12, 1.0f);
	snprintf(path, sizeof(path), "%s/full.safetensors", tmp);
	snprintf(cut, sizeof(cut), "%s/cut.safetensors", tmp);
	CHECK_OK(safetensors_writer_new(&w, &err), &err);
	CHECK_OK(safetensors_writer_add_tensor(w, "a", 2, shape, v, ST_F32, &err), &err);
	CHECK_OK(safetensors_writer_add_tensor(w, "b", 1, shape, v, ST_BF16, &err), &err);
	CHECK_OK(safetensors_writer_write(w, path, &err), &err);
	safetensors_writer_free(w);
	if (mapped_file_open(path, &mf, &err)) {
		CHECK_MSG(0, "%s", err.msg);
		return;
	}
	CHECK_OK(file_write_atomic(cut, mf.data, mf.size, &err), &err);
	for (size_t n = mf.size; n-- > 0;) {
		CHECK(truncate(cut, (off_t)n) == 0);
		int rc = safetensors_open(cut, &st, &err);
		CHECK_MSG(rc == ADA_EFORMAT, "cut at %zu: rc %d", n, rc);
		CHECK(st == NULL);
	}
	mapped_file_close(&mf);
}

/* Dtypes we index but do not convert are refused by name when used. */
static void test_unsupported_dtype(void)
{
	char path[4200];
	struct safetensors *st = NULL;
	const struct st_tensor *t;
	struct ada_err err;
	float out[2];

	snprintf(path, sizeof(path), "%s/i64.safetensors", tmp);
	write_raw(path, "{\"pos\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]},"
		  "\"w\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[16,24]}}", 24);
	CHECK_OK(safetensors_open(path, &st, &err), &err);
	if (!st)
		return;
	t = safetensors_find(st, "pos");
	CHECK(t && t->dtype == ST_I64);
	CHECK_INT_EQ(safetensors_tensor_to_f32(st, t, out, &err), ADA_EUNSUPPORTED);
	CHECK(strstr(err.msg, "I64") && strstr(err.msg, "'pos'") && strstr(err.msg, "i64.safetensors"));
	t = safetensors_find(st, "w");
	CHECK_INT_EQ(safetensors_tensor_to_f32(st, t, out, &err), ADA_EUNSUPPORTED);
	CHECK(strstr(err.msg, "F64") && strstr(err.msg, "'w'"));
	safetensors_close(st);
}

static void test_writer_refusals(void)
{
	static const uint64_t shape[] = { 2 };
	struct safetensors_writer *w = NULL;
	struct ada_err err;
	float v[2] = { 1, 2 };

	CHECK_OK(safetensors_writer_new(&w, &err), &err);
	if (!w)
		return;
	CHECK_INT_EQ(safetensors_writer_add_tensor(w, "x", 1, shape, v, ST_I64, &err),
		     ADA_EUNSUPPORTED);
	CHECK_INT_EQ(safetensors_writer_add_tensor(w, "__metadata__", 1, shape, v, ST_F32, &err),
		     ADA_EINVAL);
	CHECK_INT_EQ(safetensors_writer_add_tensor(w, "bad\xff", 1, shape, v, ST_F32, &err),
		     ADA_EINVAL);
	CHECK_OK(safetensors_writer_add_tensor(w, "x", 1, shape, v, ST_F32, &err), &err);
	CHECK_INT_EQ(safetensors_writer_add_tensor(w, "x", 1, shape, v, ST_F32, &err), ADA_EINVAL);
	CHECK_INT_EQ(safetensors_writer_set_metadata(w, "k", "bad\xff", &err), ADA_EINVAL);
	safetensors_writer_free(w);
}

int main(void)
{
	tmp = check_tmpdir("safetensors");
	RUN(test_roundtrip);
	RUN(test_damaged_headers);
	RUN(test_bad_header_length);
	RUN(test_truncations);
	RUN(test_unsupported_dtype);
	RUN(test_writer_refusals);
	remove_tree(tmp, NULL);
	free(tmp);
	return check_summary();
}
