/*
 * class_data — datasets for sequence classification and regression.
 *
 * Records come from JSONL ({"text","label"}, {"text_a","text_b","label"},
 * walked by train/data_format.c like every training file) or from GLUE
 * TSV files read directly (header row naming the columns, as the GLUE
 * distribution ships them; CoLA's header-less four columns too). Each
 * example is encoded once by a caller-supplied pair encoder (the tokenizer
 * adds its specials: [CLS] a [SEP] b [SEP], <s> a </s></s> b </s>, ...)
 * and truncated to seq_len by it ("longest_first": tokens are dropped from
 * the longer of the two texts until the pair fits), then padded.
 *
 * Labels: integers are class ids 0..K-1 (K = largest + 1); strings are
 * mapped to ids in sorted order (the mapping is kept and reported);
 * real numbers make the task a regression (one output). The training file
 * fixes the label map; a validation file must fit it — a label the
 * training data never had, or a kind that differs, is an error naming the
 * file and line.
 */
#ifndef ADA_DATA_CLASS_DATA_H
#define ADA_DATA_CLASS_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "adalora.h"
#include "util/ivec.h"

/* Text pair -> ids (specials included) and token types, at most max_len
 * ids, truncating longest-first; b may be NULL. *truncated set when tokens
 * were dropped. Supplied by the caller (the tokenizer). */
struct pair_encoder {
	void *ctx;
	int (*encode)(void *ctx, const char *a, size_t alen, const char *b, size_t blen,
		      int max_len, struct ivec *ids, struct ivec *type_ids, int *truncated,
		      struct ada_err *err);
	int32_t pad;
};

enum class_file_format {
	CLASS_FORMAT_AUTO = 0,     /* JSONL, or GLUE TSV when the file name ends in .tsv */
	CLASS_FORMAT_JSONL,
	CLASS_FORMAT_GLUE_TSV,
};

/* The job's data_format (enum ada_file_format) as a class_data format. */
static inline enum class_file_format class_file_format_of(int ada_file_format)
{
	return ada_file_format == ADA_FILE_GLUE_TSV ? CLASS_FORMAT_GLUE_TSV :
	       ada_file_format == ADA_FILE_JSONL ? CLASS_FORMAT_JSONL : CLASS_FORMAT_AUTO;
}

struct label_map {
	int kind;                  /* ADA_LABEL_INT, ADA_LABEL_STRING or ADA_LABEL_FLOAT */
	int n_labels;              /* classes (1 for regression) */
	char **names;              /* string labels by id (owned), NULL otherwise */
};

struct class_dataset {
	int seq_len;
	int64_t n;                 /* examples */
	int32_t *ids;              /* n x seq_len, padded (owned) */
	uint8_t *types;            /* n x seq_len token types (owned) */
	int32_t *lengths;          /* n real lengths (owned) */
	int32_t *labels;           /* n class ids (classification; owned) */
	float *targets;            /* n values (regression; owned) */
	uint8_t *truncated;        /* n: 1 where the example was shortened (owned) */
	int64_t n_truncated;       /* examples shortened to fit */
};

/* Load path. With build_labels the label map is built from this file
 * (training); otherwise labels must fit the given map (validation). */
int class_data_load(const char *path, enum class_file_format fmt, const struct pair_encoder *enc,
		    int seq_len, struct label_map *labels, int build_labels,
		    struct class_dataset *ds, struct ada_err *err);
void class_dataset_release(struct class_dataset *ds);
void label_map_release(struct label_map *lm);

/* Split the last round(fraction * n) examples off into valid (at least 1,
 * leaving at least 1); fraction 0 leaves valid empty. Examples keep file
 * order so the split is reproducible. */
int class_data_split_tail(struct class_dataset *train, double fraction,
			  struct class_dataset *valid, struct ada_err *err);

#endif
