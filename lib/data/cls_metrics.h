/*
 * cls_metrics — GLUE's evaluation metrics over a set of predictions.
 *
 *   accuracy   fraction of exact class matches
 *   f1         binary F1 of class 1 (MRPC, QQP convention)
 *   mcc        Matthews correlation (CoLA), the multiclass R_K statistic
 *              which for two classes is the usual binary MCC
 *   pearson    linear correlation (STS-B)
 *   spearman   rank correlation with average ranks for ties (STS-B)
 * Each is NAN when undefined (e.g. F1 with more than two classes, or a
 * constant prediction for MCC and the correlations), which JSON reports as
 * null.
 */
#ifndef ADA_DATA_CLS_METRICS_H
#define ADA_DATA_CLS_METRICS_H

#include <stdint.h>

#include "adalora.h"

struct cls_metrics {
	struct ada_glue_metrics glue;
	double loss;                    /* mean loss over the examples */
	int64_t n;
};

/* Every metric NAN (none evaluated yet). */
void glue_metrics_clear(struct ada_glue_metrics *m);

/* Classification: predicted and true class ids in [0, n_classes). */
void cls_metrics_classify(const int32_t *pred, const int32_t *gold, int64_t n, int n_classes,
			  struct cls_metrics *m);
/* Regression: predicted and true values. scratch: 4 * n doubles. */
void cls_metrics_regress(const float *pred, const float *gold, int64_t n, double *scratch,
			 struct cls_metrics *m);

#endif
