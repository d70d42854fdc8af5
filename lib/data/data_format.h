/*
 * data_format — what a training file may contain, read record by record.
 *
 * The rules of the training-file formats (adalora.h, "training data") live
 * here and only here: the daemon's upload check (ada_data_validate, which
 * has no tokenizer) and the dataset loader (train/data.c, which encodes the
 * records) both walk a file with data_format_scan(), so a file the upload
 * accepted is read by training exactly as it was checked.
 *
 * One pass over a buffer the caller owns: the whole buffer is checked as
 * UTF-8 first (so the error can name the line), the format is told by
 * content, then each record is checked strictly and handed to a callback.
 * Nothing is copied: record strings point into the buffer (plain text) or
 * into the parsed JSON line, and live until the callback returns.
 */
#ifndef ADA_DATA_DATA_FORMAT_H
#define ADA_DATA_DATA_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "adalora.h"

struct data_record {
	int64_t line;            /* 1-based line where the record starts (SQuAD JSON: the
	                          * question's 1-based number) */
	int shape;               /* enum ada_data_shape */
	const char *text;        /* text, prompt, text_a, question or a seq2seq source
	                          * (borrowed, not NUL-terminated) */
	size_t text_len;
	const char *second;      /* completion, text_b, context or a seq2seq target, else NULL
	                          * (borrowed) */
	size_t second_len;
	const json_t *json;      /* the parsed JSONL line (borrowed; SQuAD JSON: the question's
	                          * object), NULL for plain text */
};

/* The answers of a question record (shape ADA_SHAPE_QA, checked by the
 * scan): their count into *n and the first cap texts (borrowed from qa,
 * NUL-terminated) and answer_start values (characters). squad: the record
 * came from a SQuAD JSON file (answers [{"text","answer_start"}], an
 * is_impossible question has none), else JSONL ({"text":[],
 * "answer_start":[]}). */
int data_qa_answers(const json_t *qa, int squad, size_t *n, const char **texts,
		    int64_t *starts, size_t cap);

/* Called once per record, in file order. A non-zero return stops the scan;
 * the callback fills err without a line number, the scan prefixes "line N". */
typedef int (*data_record_fn)(void *ctx, const struct data_record *rec,
			      struct ada_err *err);

/* Walk buf[0..len) (flags: enum ada_data_flags). fn may be NULL to only
 * check. info (caller's, required) is filled as far as the scan got; an empty buffer is not an
 * error here (record_count 0: callers decide). Errors are one line starting
 * "line N: " and naming the field, without the file name (callers prefix it). */
int data_format_scan(const char *buf, size_t len, unsigned flags, data_record_fn fn,
		     void *ctx, struct ada_data_info *info, struct ada_err *err);

#endif
