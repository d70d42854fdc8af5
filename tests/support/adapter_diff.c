/* adapter_diff — two adapters compared within a tolerance; see adapter_diff.h. */
#include "adapter_diff.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/safetensors.h"
#include "util/err.h"

static const char *weights_path(const char *dir, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s/adapter_model.safetensors", dir);
	return buf;
}

int adapter_diff(const char *dir_a, const char *dir_b, struct adapter_diff *d, char *why,
		 size_t cap)
{
	struct safetensors *a = NULL, *b = NULL;
	struct ada_err err = { 0 };
	char pa[4200], pb[4200];
	float *va = NULL, *vb = NULL;
	int rc = -1;

	memset(d, 0, sizeof(*d));
	if (safetensors_open(weights_path(dir_a, pa, sizeof(pa)), &a, &err) ||
	    safetensors_open(weights_path(dir_b, pb, sizeof(pb)), &b, &err)) {
		snprintf(why, cap, "%s", err.msg);
		goto out_free;
	}
	if (a->n_tensors != b->n_tensors) {
		snprintf(why, cap, "%zu tensors against %zu", a->n_tensors, b->n_tensors);
		goto out_free;
	}
	for (size_t i = 0; i < a->n_tensors; i++) {
		const struct st_tensor *ta = &a->tensors[i];
		const struct st_tensor *tb = safetensors_find(b, ta->name);
		double amax = 0, dmax = 0;

		if (!tb || tb->n_dims != ta->n_dims ||
		    memcmp(tb->shape, ta->shape, sizeof(ta->shape[0]) * ta->n_dims)) {
			snprintf(why, cap, "tensor %s: missing or of another shape", ta->name);
			goto out_free;
		}
		free(va);
		free(vb);
		va = malloc(sizeof(*va) * (ta->n_elements + 1));
		vb = malloc(sizeof(*vb) * (ta->n_elements + 1));
		if (!va || !vb || safetensors_tensor_to_f32(a, ta, va, &err) ||
		    safetensors_tensor_to_f32(b, tb, vb, &err)) {
			snprintf(why, cap, "tensor %s: %s", ta->name, va && vb ? err.msg : "no memory");
			goto out_free;
		}
		for (uint64_t k = 0; k < ta->n_elements; k++) {
			double diff = fabs((double)va[k] - (double)vb[k]);
			if (!(diff <= dmax))
				dmax = isnan(diff) ? INFINITY : diff;
			if (fabs(va[k]) > amax)
				amax = fabs(va[k]);
		}
		if (dmax > d->max_abs)
			d->max_abs = dmax;
		if (dmax / (amax > 1e-30 ? amax : 1e-30) > d->max_rel || (dmax > 0 && !d->worst[0])) {
			d->max_rel = dmax / (amax > 1e-30 ? amax : 1e-30);
			snprintf(d->worst, sizeof(d->worst), "%s", ta->name);
		}
		d->tensors++;
	}
	rc = 0;
out_free:
	free(va);
	free(vb);
	safetensors_close(a);
	safetensors_close(b);
	return rc;
}

int adapter_same_rank_pattern(const char *dir_a, const char *dir_b, char *why, size_t cap)
{
	char pa[4200], pb[4200];
	json_t *a, *b;
	int same;

	snprintf(pa, sizeof(pa), "%s/adapter_config.json", dir_a);
	snprintf(pb, sizeof(pb), "%s/adapter_config.json", dir_b);
	a = json_load_file(pa, 0, NULL);
	b = json_load_file(pb, 0, NULL);
	if (!a || !b) {
		snprintf(why, cap, "cannot read %s", a ? pb : pa);
		json_decref(a);
		json_decref(b);
		return 0;
	}
	same = json_equal(json_object_get(a, "rank_pattern"), json_object_get(b, "rank_pattern")) ||
	       (!json_object_get(a, "rank_pattern") && !json_object_get(b, "rank_pattern"));
	if (!same)
		snprintf(why, cap, "the rank patterns of %s and %s differ", pa, pb);
	json_decref(a);
	json_decref(b);
	return same;
}
