/* cls_metrics — accuracy, F1, MCC, Pearson, Spearman; see cls_metrics.h. */
#include "data/cls_metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void glue_metrics_clear(struct ada_glue_metrics *m)
{
	m->accuracy = m->f1 = m->mcc = m->pearson = m->spearman = NAN;
}

void ada_glue_metrics_json(json_t *obj, const struct ada_glue_metrics *m, int num_labels,
			   const char *key_prefix)
{
	const struct {
		const char *name;
		double v;
		int applies;
	} all[] = {
		{ "accuracy", m->accuracy, num_labels > 1 },
		{ "f1", m->f1, num_labels == 2 },
		{ "mcc", m->mcc, num_labels > 1 },
		{ "pearson", m->pearson, num_labels == 1 },
		{ "spearman", m->spearman, num_labels == 1 },
	};
	char key[96];

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		int known = num_labels > 0;
		if (known ? !all[i].applies : !isfinite(all[i].v))
			continue;
		snprintf(key, sizeof(key), "%s%s", key_prefix ? key_prefix : "", all[i].name);
		json_object_set_new(obj, key, isfinite(all[i].v) ? json_real(all[i].v) : json_null());
	}
}

void cls_metrics_classify(const int32_t *pred, const int32_t *gold, int64_t n, int n_classes,
			  struct cls_metrics *m)
{
	double *conf = calloc((size_t)n_classes * (size_t)n_classes, sizeof(*conf));
	double correct = 0, s = (double)n, c, pk_tk = 0, pk2 = 0, tk2 = 0;

	m->n = n;
	glue_metrics_clear(&m->glue);
	if (!conf || n <= 0) {
		free(conf);
		return;
	}
	for (int64_t i = 0; i < n; i++) {
		conf[(size_t)gold[i] * n_classes + pred[i]] += 1;
		correct += pred[i] == gold[i];
	}
	m->glue.accuracy = correct / s;
	if (n_classes == 2) {
		double tp = conf[3], fp = conf[1], fn = conf[2];
		m->glue.f1 = tp + fp + fn > 0 ? 2 * tp / (2 * tp + fp + fn) : NAN;
	}
	/* Gorodkin's R_K: (c s - sum_k p_k t_k) / sqrt((s^2 - sum p_k^2)(s^2 - sum t_k^2)) */
	c = correct;
	for (int k = 0; k < n_classes; k++) {
		double pk = 0, tk = 0;
		for (int j = 0; j < n_classes; j++) {
			pk += conf[(size_t)j * n_classes + k];   /* predicted k */
			tk += conf[(size_t)k * n_classes + j];   /* truly k */
		}
		pk_tk += pk * tk;
		pk2 += pk * pk;
		tk2 += tk * tk;
	}
	{
		double den = sqrt((s * s - pk2) * (s * s - tk2));
		m->glue.mcc = den > 0 ? (c * s - pk_tk) / den : NAN;
	}
	free(conf);
}

static double pearson(const double *x, const double *y, int64_t n)
{
	double mx = 0, my = 0, sxy = 0, sxx = 0, syy = 0;

	for (int64_t i = 0; i < n; i++) {
		mx += x[i];
		my += y[i];
	}
	mx /= (double)n;
	my /= (double)n;
	for (int64_t i = 0; i < n; i++) {
		sxy += (x[i] - mx) * (y[i] - my);
		sxx += (x[i] - mx) * (x[i] - mx);
		syy += (y[i] - my) * (y[i] - my);
	}
	return sxx > 0 && syy > 0 ? sxy / sqrt(sxx * syy) : NAN;
}

struct ranked {
	double v;
	int64_t i;
};

static int by_value(const void *a, const void *b)
{
	const struct ranked *x = a, *y = b;

	if (x->v != y->v)
		return x->v < y->v ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

/* Average (fractional) ranks, as scipy.stats.rankdata. */
static int ranks(const double *x, int64_t n, double *out)
{
	struct ranked *r = malloc(sizeof(*r) * (size_t)n);

	if (!r)
		return -1;
	for (int64_t i = 0; i < n; i++)
		r[i] = (struct ranked){ x[i], i };
	qsort(r, (size_t)n, sizeof(*r), by_value);
	for (int64_t i = 0; i < n;) {
		int64_t j = i;
		while (j + 1 < n && r[j + 1].v == r[i].v)
			j++;
		for (int64_t k = i; k <= j; k++)
			out[r[k].i] = (double)(i + j) / 2.0 + 1.0;
		i = j + 1;
	}
	free(r);
	return 0;
}

void cls_metrics_regress(const float *pred, const float *gold, int64_t n, double *scratch,
			 struct cls_metrics *m)
{
	double *x = scratch, *y = scratch + n, *rx = scratch + 2 * n, *ry = scratch + 3 * n;

	m->n = n;
	glue_metrics_clear(&m->glue);
	if (n < 2)
		return;
	for (int64_t i = 0; i < n; i++) {
		x[i] = pred[i];
		y[i] = gold[i];
	}
	m->glue.pearson = pearson(x, y, n);
	if (!ranks(x, n, rx) && !ranks(y, n, ry))
		m->glue.spearman = pearson(rx, ry, n);
}
