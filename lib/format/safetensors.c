/*
 * safetensors — the reader; see safetensors.h.
 *
 * The header is untrusted JSON describing offsets into the mapping, so the
 * parse is a validation pass: each entry is checked on its own (types,
 * shape, extent arithmetic), then all extents together (sorted by offset
 * they must tile the data section), and only then are data pointers formed.
 * Errors name the file and the tensor.
 */
#include "format/safetensors.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/err.h"
#include "util/half.h"

/* The reference implementation refuses headers above 100 MB. */
#define ST_MAX_HEADER (100u * 1000 * 1000)

static const struct {
	const char *name;
	unsigned size;
} dtypes[N_ST_DTYPES] = {
	[ST_F32] = { "F32", 4 }, [ST_F16] = { "F16", 2 }, [ST_BF16] = { "BF16", 2 },
	[ST_F64] = { "F64", 8 }, [ST_I64] = { "I64", 8 }, [ST_U64] = { "U64", 8 },
	[ST_I32] = { "I32", 4 }, [ST_U32] = { "U32", 4 }, [ST_I16] = { "I16", 2 },
	[ST_U16] = { "U16", 2 }, [ST_I8] = { "I8", 1 }, [ST_U8] = { "U8", 1 },
	[ST_BOOL] = { "BOOL", 1 }, [ST_F8_E4M3] = { "F8_E4M3", 1 },
	[ST_F8_E5M2] = { "F8_E5M2", 1 },
};

const char *st_dtype_name(enum st_dtype dtype)
{
	return (unsigned)dtype < N_ST_DTYPES ? dtypes[dtype].name : "unknown";
}

static int dtype_from_name(const char *s)
{
	for (int i = 0; i < N_ST_DTYPES; i++)
		if (!strcmp(dtypes[i].name, s))
			return i;
	return -1;
}

/* Extent of one entry while the header is validated. */
struct extent {
	uint64_t begin, end;
	size_t idx;
};

static int cmp_extent(const void *a, const void *b)
{
	const struct extent *x = a, *y = b;

	if (x->begin != y->begin)
		return x->begin < y->begin ? -1 : 1;
	if (x->end != y->end)
		return x->end < y->end ? -1 : 1;
	return 0;
}

static int cmp_tensor_name(const void *a, const void *b)
{
	const struct st_tensor *x = a, *y = b;

	return strcmp(x->name, y->name);
}

static int get_u64(json_t *v, uint64_t *out)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -1;
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

/* Fill t (name already set) from its header entry; ext gets its extent. */
static int parse_entry(const char *path, struct st_tensor *t, json_t *entry, uint64_t data_size,
		       struct extent *ext, struct ada_err *err)
{
	json_t *dtype = json_object_get(entry, "dtype");
	json_t *shape = json_object_get(entry, "shape");
	json_t *offs = json_object_get(entry, "data_offsets");
	uint64_t bytes;
	int d;

	if (!json_is_object(entry) || !json_is_string(dtype) || !json_is_array(shape) ||
	    !json_is_array(offs) || json_array_size(offs) != 2)
		return ada_fail(err, ADA_EFORMAT,
				"%s: tensor '%s': header entry needs dtype, shape and data_offsets [begin, end]",
				path, t->name);
	d = dtype_from_name(json_string_value(dtype));
	if (d < 0)
		return ada_fail(err, ADA_EUNSUPPORTED, "%s: tensor '%s' has unknown dtype '%s'",
				path, t->name, json_string_value(dtype));
	t->dtype = (enum st_dtype)d;
	if (json_array_size(shape) > ST_MAX_DIMS)
		return ada_fail(err, ADA_EUNSUPPORTED, "%s: tensor '%s' has %zu dimensions (at most %d)",
				path, t->name, json_array_size(shape), ST_MAX_DIMS);
	t->n_dims = (uint32_t)json_array_size(shape);
	t->n_elements = 1;
	for (uint32_t i = 0; i < t->n_dims; i++) {
		if (get_u64(json_array_get(shape, i), &t->shape[i]) ||
		    __builtin_mul_overflow(t->n_elements, t->shape[i], &t->n_elements))
			return ada_fail(err, ADA_EFORMAT, "%s: tensor '%s' has an invalid shape",
					path, t->name);
	}
	if (get_u64(json_array_get(offs, 0), &ext->begin) ||
	    get_u64(json_array_get(offs, 1), &ext->end))
		return ada_fail(err, ADA_EFORMAT, "%s: tensor '%s' has invalid data_offsets",
				path, t->name);
	if (ext->begin > ext->end || ext->end > data_size)
		return ada_fail(err, ADA_EFORMAT,
				"%s: tensor '%s' data_offsets [%llu, %llu] are outside the data section (%llu bytes)",
				path, t->name, (unsigned long long)ext->begin,
				(unsigned long long)ext->end, (unsigned long long)data_size);
	if (__builtin_mul_overflow(t->n_elements, (uint64_t)dtypes[t->dtype].size, &bytes) ||
	    bytes != ext->end - ext->begin)
		return ada_fail(err, ADA_EFORMAT,
				"%s: tensor '%s' spans %llu bytes but its shape and dtype %s need %llu",
				path, t->name, (unsigned long long)(ext->end - ext->begin),
				dtypes[t->dtype].name,
				(unsigned long long)(t->n_elements * dtypes[t->dtype].size));
	t->n_bytes = bytes;
	return ADA_OK;
}

/* The sorted extents must tile [0, data_size) exactly. */
static int check_tiling(const struct safetensors *st, struct extent *ext, size_t n,
			uint64_t data_size, struct ada_err *err)
{
	const char *path = st->file.path;
	uint64_t pos = 0;

	qsort(ext, n, sizeof(*ext), cmp_extent);
	for (size_t i = 0; i < n; i++) {
		const char *name = st->tensors[ext[i].idx].name;

		if (ext[i].begin < pos)
			return ada_fail(err, ADA_EFORMAT, "%s: tensor '%s' overlaps tensor '%s'",
					path, name, st->tensors[ext[i - 1].idx].name);
		if (ext[i].begin > pos)
			return ada_fail(err, ADA_EFORMAT,
					"%s: %llu unused bytes before tensor '%s' (offsets must be contiguous)",
					path, (unsigned long long)(ext[i].begin - pos), name);
		pos = ext[i].end;
	}
	if (pos != data_size)
		return ada_fail(err, ADA_EFORMAT,
				"%s: %llu bytes after the last tensor (file size does not match the header)",
				path, (unsigned long long)(data_size - pos));
	return ADA_OK;
}

static int parse_header(struct safetensors *st, json_t *root, const uint8_t *data,
			uint64_t data_size, struct ada_err *err)
{
	const char *path = st->file.path;
	struct extent *ext = NULL;
	const char *key;
	json_t *value;
	size_t n = 0;
	int rc;

	if (!json_is_object(root))
		return ada_fail(err, ADA_EFORMAT, "%s: safetensors header is not a JSON object", path);
	st->tensors = xcalloc(json_object_size(root) + 1, sizeof(*st->tensors));
	ext = xcalloc(json_object_size(root) + 1, sizeof(*ext));
	if (!st->tensors || !ext) {
		rc = ada_fail(err, ADA_ENOMEM, "%s: out of memory", path);
		goto out_free;
	}
	json_object_foreach(root, key, value) {
		struct st_tensor *t = &st->tensors[n];

		if (!strcmp(key, "__metadata__"))
			continue;
		t->name = strdup(key);
		if (!t->name) {
			rc = ada_fail(err, ADA_ENOMEM, "%s: out of memory", path);
			goto out_free;
		}
		st->n_tensors = ++n;
		ext[n - 1].idx = n - 1;
		rc = parse_entry(path, t, value, data_size, &ext[n - 1], err);
		if (rc)
			goto out_free;
	}
	rc = check_tiling(st, ext, n, data_size, err);
	if (rc)
		goto out_free;
	for (size_t i = 0; i < n; i++)
		st->tensors[ext[i].idx].data = data + ext[i].begin;
	qsort(st->tensors, n, sizeof(*st->tensors), cmp_tensor_name);

out_free:
	free(ext);
	return rc;
}

int safetensors_open(const char *path, struct safetensors **out, struct ada_err *err)
{
	struct safetensors *st;
	json_error_t jerr;
	json_t *root;
	uint64_t hlen;
	int rc;

	*out = NULL;
	st = calloc(1, sizeof(*st));
	if (!st)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	rc = mapped_file_open(path, &st->file, err);
	if (rc)
		goto out_close;
	if (st->file.size < 8) {
		rc = ada_fail(err, ADA_EFORMAT, "%s: too short for a safetensors file (%zu bytes)",
			      path, st->file.size);
		goto out_close;
	}
	memcpy(&hlen, st->file.data, 8);
	if (hlen < 2 || hlen > ST_MAX_HEADER || hlen > st->file.size - 8) {
		rc = ada_fail(err, ADA_EFORMAT,
			      "%s: bad safetensors header length %llu (file has %zu bytes)",
			      path, (unsigned long long)hlen, st->file.size);
		goto out_close;
	}
	root = json_loadb((const char *)st->file.data + 8, (size_t)hlen, JSON_REJECT_DUPLICATES,
			  &jerr);
	if (!root) {
		rc = ada_fail(err, ADA_EFORMAT, "%s: safetensors header is not valid JSON: %s",
			      path, jerr.text);
		goto out_close;
	}
	rc = parse_header(st, root, st->file.data + 8 + hlen, st->file.size - 8 - hlen, err);
	json_decref(root);
	if (rc)
		goto out_close;
	*out = st;
	return ADA_OK;

out_close:
	safetensors_close(st);
	return rc;
}

void safetensors_close(struct safetensors *st)
{
	if (!st)
		return;
	for (size_t i = 0; i < st->n_tensors; i++)
		free(st->tensors[i].name);
	free(st->tensors);
	mapped_file_close(&st->file);
	free(st);
}

const struct st_tensor *safetensors_find(const struct safetensors *st, const char *name)
{
	struct st_tensor key = { .name = (char *)name };

	if (!st->n_tensors)
		return NULL;
	return bsearch(&key, st->tensors, st->n_tensors, sizeof(*st->tensors), cmp_tensor_name);
}

int safetensors_tensor_to_f32(const struct safetensors *st, const struct st_tensor *t,
			      float *dst, struct ada_err *err)
{
	const uint8_t *src = t->data;

	switch (t->dtype) {
	case ST_F32:
		memcpy(dst, src, (size_t)t->n_bytes);
		return ADA_OK;
	case ST_F16:
		for (uint64_t i = 0; i < t->n_elements; i++) {
			uint16_t h;
			memcpy(&h, src + 2 * i, 2);
			dst[i] = f16_to_f32(h);
		}
		return ADA_OK;
	case ST_BF16:
		for (uint64_t i = 0; i < t->n_elements; i++) {
			uint16_t h;
			memcpy(&h, src + 2 * i, 2);
			dst[i] = bf16_to_f32(h);
		}
		return ADA_OK;
	default:
		break;
	}
	return ada_fail(err, ADA_EUNSUPPORTED,
			"%s: tensor '%s' has dtype %s; only F32, F16 and BF16 are supported",
			st->file.path, t->name, st_dtype_name(t->dtype));
}
