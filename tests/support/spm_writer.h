/*
 * spm_writer — SentencePiece files written by the tests: a ModelProto
 * (spm.model) from a list of pieces, and a precompiled charsmap (the
 * darts-clone double array SentencePiece's normalizer walks) from a list
 * of rules, so the tokenizer tests and the fuzz seeds need no real model.
 *
 * The writers are ours, from the .proto's field numbers and darts-clone's
 * unit layout (see lib/tokenizer/spm_model.c and charsmap.c); the tests
 * check the reader against hand-worked segmentations, not against this
 * writer alone.
 */
#ifndef ADA_TESTS_SPM_WRITER_H
#define ADA_TESTS_SPM_WRITER_H

#include <stddef.h>

#include "util/strbuf.h"

enum spm_piece_type {
	SPM_NORMAL = 1, SPM_UNKNOWN = 2, SPM_CONTROL = 3, SPM_USER = 4, SPM_UNUSED = 5,
	SPM_BYTE = 6,
};

struct spm_piece_spec {
	const char *piece;
	float score;
	int type;                    /* enum spm_piece_type */
};

struct spm_model_spec {
	int model_type;              /* 1 UNIGRAM, 2 BPE */
	int byte_fallback;
	int unk_id, bos_id, eos_id, pad_id;   /* -1: none */
	int add_dummy_prefix, remove_extra_whitespaces, escape_whitespaces;
	const char *charsmap;        /* blob (charsmap_build), or NULL */
	size_t charsmap_len;
};

/* The ModelProto bytes of pieces[0..n) and spec into out; 0 or -1 (OOM). */
int spm_model_build(const struct spm_piece_spec *pieces, size_t n,
		    const struct spm_model_spec *spec, struct strbuf *out);
/* The same written to path; 0 or -1. */
int spm_model_write(const char *path, const struct spm_piece_spec *pieces, size_t n,
		    const struct spm_model_spec *spec);

/* A precompiled charsmap: rule i maps the bytes from[i] to to[i] (may be
 * ""); 0 or -1 (OOM, or a double array past darts-clone's offsets). */
int charsmap_build(const char *const *from, const char *const *to, size_t n,
		   struct strbuf *out);

#endif
