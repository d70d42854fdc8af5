/*
 * safetensors_write — the safetensors writer; see safetensors.h.
 *
 * The writer owns the metadata and the tensor directory (names, shapes,
 * dtypes); tensor data are borrowed f32 arrays until written. The header is
 * built with jansson (which keeps insertion order, so tensors appear in the
 * order added and lie in the file in that order), padded with spaces to a
 * multiple of 8, and the data are streamed after it, narrowed to F16/BF16 a
 * chunk at a time.
 */
#include "format/safetensors.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/err.h"
#include "util/half.h"
#include "util/utf8.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "safetensors is little-endian and the writer stores host-order values");

#define ST_CHUNK 16384

struct st_wtensor {
	char *name;            /* owned */
	uint32_t n_dims;
	uint64_t shape[ST_MAX_DIMS];
	enum st_dtype dtype;
	const float *data;     /* borrowed until safetensors_writer_write() */
	uint64_t n_elements;
};

struct safetensors_writer {
	json_t *metadata;      /* owned; NULL until the first entry */
	struct st_wtensor *tensors;
	size_t n_tensors, cap_tensors;
};

int safetensors_writer_new(struct safetensors_writer **out, struct ada_err *err)
{
	*out = calloc(1, sizeof(**out));
	return *out ? ADA_OK : ada_fail(err, ADA_ENOMEM, "out of memory");
}

void safetensors_writer_free(struct safetensors_writer *w)
{
	if (!w)
		return;
	json_decref(w->metadata);
	for (size_t i = 0; i < w->n_tensors; i++)
		free(w->tensors[i].name);
	free(w->tensors);
	free(w);
}

int safetensors_writer_set_metadata(struct safetensors_writer *w, const char *key,
				    const char *value, struct ada_err *err)
{
	json_t *s;

	if (!w->metadata) {
		w->metadata = json_object();
		if (!w->metadata)
			return ada_fail(err, ADA_ENOMEM, "out of memory");
	}
	s = json_string(value);
	if (!s)
		return ada_fail(err, ADA_EINVAL, "metadata '%s' is not valid UTF-8", key);
	if (json_object_set_new(w->metadata, key, s))
		return ada_fail(err, ADA_EINVAL, "metadata key '%s' is not valid UTF-8", key);
	return ADA_OK;
}

static unsigned dtype_size(enum st_dtype dtype)
{
	return dtype == ST_F32 ? 4 : 2;
}

int safetensors_writer_add_tensor(struct safetensors_writer *w, const char *name,
				  uint32_t n_dims, const uint64_t *shape, const float *data,
				  enum st_dtype dtype, struct ada_err *err)
{
	struct st_wtensor *t;
	uint64_t n = 1;

	if (dtype != ST_F32 && dtype != ST_F16 && dtype != ST_BF16)
		return ada_fail(err, ADA_EUNSUPPORTED, "tensor '%s': cannot write dtype %s",
				name, st_dtype_name(dtype));
	if (!strcmp(name, "__metadata__") || utf8_validate(name, strlen(name)) != strlen(name))
		return ada_fail(err, ADA_EINVAL, "'%s' cannot be a tensor name", name);
	if (n_dims > ST_MAX_DIMS)
		return ada_fail(err, ADA_EINVAL, "tensor '%s': %u dimensions (at most %d)",
				name, n_dims, ST_MAX_DIMS);
	for (uint32_t d = 0; d < n_dims; d++)
		if (__builtin_mul_overflow(n, shape[d], &n) || n > (uint64_t)(INT64_MAX / 4))
			return ada_fail(err, ADA_EINVAL, "tensor '%s': shape too large", name);
	for (size_t i = 0; i < w->n_tensors; i++)
		if (!strcmp(w->tensors[i].name, name))
			return ada_fail(err, ADA_EINVAL, "tensor '%s' added twice", name);
	if (ALLOC_GROW(w->tensors, w->n_tensors + 1, w->cap_tensors))
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	t = &w->tensors[w->n_tensors];
	memset(t, 0, sizeof(*t));
	t->name = strdup(name);
	if (!t->name)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	t->n_dims = n_dims;
	for (uint32_t d = 0; d < n_dims; d++)
		t->shape[d] = shape[d];
	t->dtype = dtype;
	t->data = data;
	t->n_elements = n;
	w->n_tensors++;
	return ADA_OK;
}

/* The JSON header, unpadded: malloc'ed (json_dumps), or NULL when out of
 * memory (names and metadata were checked to be UTF-8 when added). */
static char *build_header(const struct safetensors_writer *w)
{
	json_t *root = json_object();
	uint64_t offset = 0;
	char *s = NULL;

	if (!root || (w->metadata && json_object_set(root, "__metadata__", w->metadata)))
		goto out;
	for (size_t i = 0; i < w->n_tensors; i++) {
		const struct st_wtensor *t = &w->tensors[i];
		uint64_t end = offset + t->n_elements * dtype_size(t->dtype);
		json_t *entry = json_object(), *shape = json_array(), *offs = json_array();
		int bad = 0;

		/* The *_new calls steal their value even when they fail. */
		for (uint32_t d = 0; d < t->n_dims; d++)
			bad |= json_array_append_new(shape, json_integer((json_int_t)t->shape[d]));
		bad |= json_array_append_new(offs, json_integer((json_int_t)offset));
		bad |= json_array_append_new(offs, json_integer((json_int_t)end));
		bad |= json_object_set_new(entry, "dtype", json_string(st_dtype_name(t->dtype)));
		bad |= json_object_set_new(entry, "shape", shape);
		bad |= json_object_set_new(entry, "data_offsets", offs);
		bad |= json_object_set_new(root, t->name, entry);
		if (bad)
			goto out;
		offset = end;
	}
	s = json_dumps(root, JSON_COMPACT);
out:
	json_decref(root);
	return s;
}

static int write_tensor(struct atomic_file *af, const struct st_wtensor *t, uint16_t *chunk,
			struct ada_err *err)
{
	int rc = ADA_OK;

	if (t->dtype == ST_F32)
		return atomic_file_write(af, t->data, (size_t)t->n_elements * 4, err);
	for (uint64_t i = 0; i < t->n_elements && !rc; i += ST_CHUNK) {
		uint64_t n = t->n_elements - i < ST_CHUNK ? t->n_elements - i : ST_CHUNK;
		for (uint64_t j = 0; j < n; j++)
			chunk[j] = t->dtype == ST_F16 ? f32_to_f16(t->data[i + j])
						      : f32_to_bf16(t->data[i + j]);
		rc = atomic_file_write(af, chunk, (size_t)n * 2, err);
	}
	return rc;
}

int safetensors_writer_write(struct safetensors_writer *w, const char *path,
			     struct ada_err *err)
{
	static const char spaces[8] = "        ";
	struct atomic_file af;
	uint16_t *chunk = NULL;
	char *header;
	uint64_t hlen;
	size_t len;
	int rc;

	header = build_header(w);
	if (!header)
		return ada_fail(err, ADA_ENOMEM, "%s: out of memory", path);
	len = strlen(header);
	hlen = (len + 7) / 8 * 8;
	chunk = malloc(ST_CHUNK * sizeof(*chunk));
	if (!chunk) {
		rc = ada_fail(err, ADA_ENOMEM, "%s: out of memory", path);
		goto out_free;
	}
	rc = atomic_file_open(&af, path, err);
	if (rc)
		goto out_free;
	rc = atomic_file_write(&af, &hlen, 8, err);
	if (!rc)
		rc = atomic_file_write(&af, header, len, err);
	if (!rc)
		rc = atomic_file_write(&af, spaces, (size_t)(hlen - len), err);
	for (size_t i = 0; i < w->n_tensors && !rc; i++)
		rc = write_tensor(&af, &w->tensors[i], chunk, err);
	if (rc) {
		atomic_file_abort(&af);
		goto out_free;
	}
	rc = atomic_file_commit(&af, err);

out_free:
	free(chunk);
	free(header);
	return rc;
}
