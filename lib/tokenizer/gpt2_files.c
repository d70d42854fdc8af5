/*
 * gpt2_files — vocab.json + merges.txt (the slow GPT-2 / RoBERTa / BART
 * tokenizer's files) as a tokenizer.
 *
 * Many BART checkpoints ship only these two files. Rather than a second
 * BPE loader, they are turned into the tokenizer.json that transformers'
 * RobertaConverter writes for them (convert_slow_tokenizer.py) and handed
 * to hf_json.c, so both spellings of a tokenizer run through the same code.
 */
#include "tokenizer/internal.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "util/err.h"
#include "util/fileio.h"

/* merges.txt: "#version: ..." first, then "a b" lines; blank lines skipped. */
static int read_merges(const char *path, json_t *merges, struct ada_err *err)
{
	char *buf = NULL, *p, *end;
	size_t len;
	int rc, line = 0;

	if ((rc = file_read_all(path, &buf, &len, err)))
		return rc;
	for (p = buf, end = buf + len; p < end; line++) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

		if (n && p[n - 1] == '\r')
			n--;
		if (n && !(line == 0 && p[0] == '#') &&
		    json_array_append_new(merges, json_stringn_nocheck(p, n))) {
			free(buf);
			return ada_fail(err, ADA_ENOMEM, "out of memory");
		}
		p = nl ? nl + 1 : end;
	}
	free(buf);
	return ADA_OK;
}

static json_t *added_token(const char *content, json_int_t id, int lstrip)
{
	return json_pack("{s:I,s:s,s:b,s:b,s:b,s:b,s:b}", "id", id, "content", content,
			 "single_word", 0, "lstrip", lstrip, "rstrip", 0, "normalized", 0,
			 "special", 1);
}

int tokenizer_load_gpt2_files(const char *vocab_path, const char *merges_path,
			      struct tokenizer **out, struct ada_err *err)
{
	static const char *const specials[] = { "<s>", "<pad>", "</s>", "<unk>", "<mask>" };
	json_error_t jerr;
	json_t *vocab, *merges = json_array(), *root = NULL, *added = json_array();
	json_t *s_id, *e_id;
	int rc;

	*out = NULL;
	vocab = json_load_file(vocab_path, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(vocab)) {
		rc = ada_fail(err, ADA_EFORMAT, "%s: line %d: %s", vocab_path, jerr.line,
			      vocab ? "not a JSON object of token ids" : jerr.text);
		goto out_free;
	}
	if (!merges || !added) {
		rc = ada_fail(err, ADA_ENOMEM, "out of memory");
		goto out_free;
	}
	if ((rc = read_merges(merges_path, merges, err)))
		goto out_free;
	for (size_t i = 0; i < sizeof(specials) / sizeof(specials[0]); i++) {
		json_t *id = json_object_get(vocab, specials[i]);
		if (json_is_integer(id))
			json_array_append_new(added, added_token(specials[i], json_integer_value(id),
								 !strcmp(specials[i], "<mask>")));
	}
	s_id = json_object_get(vocab, "<s>");
	e_id = json_object_get(vocab, "</s>");
	if (!json_is_integer(s_id) || !json_is_integer(e_id)) {
		rc = ada_fail(err, ADA_EFORMAT, "%s: no <s> and </s> tokens to frame a text with",
			      vocab_path);
		goto out_free;
	}
	root = json_pack("{s:o,s:{s:s,s:O,s:O,s:b},s:{s:s,s:b,s:b,s:b},s:{s:s,s:b,s:b,s:b},"
			 "s:{s:s,s:[s,O],s:[s,O],s:b,s:b}}",
			 "added_tokens", added,
			 "model", "type", "BPE", "vocab", vocab, "merges", merges, "fuse_unk", 0,
			 "pre_tokenizer", "type", "ByteLevel", "add_prefix_space", 0, "trim_offsets", 1,
			 "use_regex", 1,
			 "decoder", "type", "ByteLevel", "add_prefix_space", 1, "trim_offsets", 1,
			 "use_regex", 1,
			 "post_processor", "type", "RobertaProcessing", "sep", "</s>", e_id, "cls", "<s>",
			 s_id, "add_prefix_space", 0, "trim_offsets", 1);
	added = NULL;   /* stolen by json_pack, even on failure */
	if (!root) {
		rc = ada_fail(err, ADA_ENOMEM, "out of memory");
		goto out_free;
	}
	rc = tokenizer_load_hf_root(vocab_path, root, out, err);
out_free:
	json_decref(root);
	json_decref(added);
	json_decref(merges);
	json_decref(vocab);
	return rc;
}
