/*
 * model_tokenizer — find the tokenizer that goes with a model and check
 * that the two agree.
 *
 * Kept apart from the loaders so that model/ and tokenizer/ stay
 * independent: a GGUF file carries its vocabulary in metadata, a Hugging
 * Face directory in tokenizer.json (BERT directories may have only
 * WordPiece's vocab.txt), a llama2.c checkpoint nowhere (the user names a
 * tokenizer.bin). A tokenizer with more tokens than the model's embedding
 * has rows is refused: every id must index a row. Fewer is fine and common:
 * checkpoints pad their embedding for speed (DeBERTa-v3: 128,100 rows for
 * spm.model's 128,000 pieces + [MASK]; Qwen2.5: 151,936 for 151,665 tokens);
 * the rows past the tokenizer are never looked up, and a sampled id past it
 * decodes to nothing.
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
		char *spm = path_join(m->path, "spm.model");
		char *gpt2_vocab = path_join(m->path, "vocab.json");
		char *gpt2_merges = path_join(m->path, "merges.txt");
		if (!p || !vocab || !spm || !gpt2_vocab || !gpt2_merges)
			rc = ada_fail(err, ADA_ENOMEM, "out of memory");
		else if (file_exists(p))
			rc = tokenizer_load_hf(p, &t, err);
		else if (m->cfg.family == ADA_FAMILY_BERT && file_exists(vocab))
			rc = tokenizer_load_wordpiece(vocab, &t, err);
		else if (file_exists(spm))   /* DeBERTa-v2/v3 ship SentencePiece's model only */
			rc = tokenizer_load_spm(spm, &t, err);
		else if (m->cfg.family == ADA_FAMILY_BART && file_exists(gpt2_vocab) &&
			 file_exists(gpt2_merges))
			rc = tokenizer_load_gpt2_files(gpt2_vocab, gpt2_merges, &t, err);
		else
			rc = ada_fail(err, ADA_EINVAL,
				      "%s has no tokenizer.json (nor spm.model): pass a tokenizer (--tokenizer)",
				      m->path);
		free(p);
		free(vocab);
		free(spm);
		free(gpt2_vocab);
		free(gpt2_merges);
	} else {
		rc = ada_fail(err, ADA_EINVAL,
			      "%s (%s) carries no tokenizer: pass one (--tokenizer)", m->path,
			      m->format);
	}
	if (rc)
		return rc;
	if (tokenizer_vocab_size(t) > m->cfg.vocab_size) {
		rc = ada_fail(err, ADA_EINVAL,
			      "tokenizer (%d tokens) is larger than the model %s's vocabulary (%d rows)",
			      tokenizer_vocab_size(t), m->path, m->cfg.vocab_size);
		tokenizer_free(t);
		return rc;
	}
	*out = t;
	return ADA_OK;
}
