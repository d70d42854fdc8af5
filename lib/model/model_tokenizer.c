/*
 * model_tokenizer — find the tokenizer that goes with a model and check
 * that the two agree.
 *
 * Kept apart from the loaders so that model/ and tokenizer/ stay
 * independent: a GGUF file carries its vocabulary in metadata, a Hugging
 * Face directory in tokenizer.json (BERT directories may have only
 * WordPiece's vocab.txt), a llama2.c checkpoint nowhere (the user names a
 * tokenizer.bin). A tokenizer whose vocabulary size differs from
 * the model's embedding is refused: every id must index a row.
 */
#include <stdlib.h>
#include <string.h>

#include "format/gguf.h"
#include "tokenizer/tokenizer.h"
#include "util/err.h"
#include "util/fileio.h"
#include "model/model.h"

int model_open_tokenizer(const struct model *m, const char *tokenizer_path,
			 struct tokenizer **out, struct ada_err *err)
{
	struct tokenizer *t = NULL;
	int rc;

	*out = NULL;
	if (tokenizer_path) {
		rc = tokenizer_load(tokenizer_path, m->cfg.vocab_size, &t, err);
	} else if (!strcmp(m->format, "gguf") && m->format_state) {
		rc = tokenizer_load_gguf(m->format_state, &t, err);
		if (rc == ADA_ENOTFOUND)
			rc = ada_fail(err, ADA_EINVAL,
				      "%s carries no tokenizer: pass one (--tokenizer)", m->path);
	} else if (!strcmp(m->format, "hf")) {
		char *p = path_join(m->path, "tokenizer.json");
		char *vocab = path_join(m->path, "vocab.txt");
		char *gpt2_vocab = path_join(m->path, "vocab.json");
		char *gpt2_merges = path_join(m->path, "merges.txt");
		if (!p || !vocab || !gpt2_vocab || !gpt2_merges)
			rc = ada_fail(err, ADA_ENOMEM, "out of memory");
		else if (file_exists(p))
			rc = tokenizer_load_hf(p, &t, err);
		else if (m->cfg.family == ADA_FAMILY_BERT && file_exists(vocab))
			rc = tokenizer_load_wordpiece(vocab, &t, err);
		else if (m->cfg.family == ADA_FAMILY_BART && file_exists(gpt2_vocab) &&
			 file_exists(gpt2_merges))
			rc = tokenizer_load_gpt2_files(gpt2_vocab, gpt2_merges, &t, err);
		else
			rc = ada_fail(err, ADA_EINVAL,
				      "%s has no tokenizer.json: pass a tokenizer (--tokenizer)",
				      m->path);
		free(p);
		free(vocab);
		free(gpt2_vocab);
		free(gpt2_merges);
	} else {
		rc = ada_fail(err, ADA_EINVAL,
			      "%s (%s) carries no tokenizer: pass one (--tokenizer)", m->path,
			      m->format);
	}
	if (rc)
		return rc;
	if (tokenizer_vocab_size(t) != m->cfg.vocab_size) {
		rc = ada_fail(err, ADA_EINVAL,
			      "tokenizer (%d tokens) does not match the model %s (vocabulary %d)",
			      tokenizer_vocab_size(t), m->path, m->cfg.vocab_size);
		tokenizer_free(t);
		return rc;
	}
	*out = t;
	return ADA_OK;
}
