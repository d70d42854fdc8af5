/*
 * fuzz_seeds — the seed corpora of the harnesses, written at test time
 * into OUT/<harness>/ from real files: ../shared/assets (stories260K,
 * the tokenizers, llama.cpp's vocabularies and their test texts, SST-2,
 * TinyStories) and the files the test suite itself writes (tiny models in
 * every format from tests/support/tiny_model.c, ada_create_model's byte
 * tokenizer). Nothing here is committed: tests/fuzz/seeds/ holds only
 * small inputs written by hand.
 *
 *   fuzz_seeds ASSETS OUT      (ASSETS may be missing: then only what the
 *                               test suite writes)
 * Inputs of several files are joined with FUZZ_SEP as the harnesses split them.
 */
#include "fuzz.h"

#include <errno.h>
#include <jansson.h>
#include <string.h>
#include <sys/stat.h>

#include "adalora.h"
#include "format/gguf.h"
#include "format/safetensors.h"
#include "model/model.h"
#include "spm_writer.h"
#include "tiny_bart.h"
#include "tiny_model.h"
#include "util/err.h"
#include "util/fileio.h"

static const char *assets, *out;
static int n_seeds;

/* Unused here: fuzz.c's LLVMFuzzerInitialize wants them. */
void fuzz_setup(void)
{
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	(void)data;
	(void)size;
	return 0;
}

struct buf {
	char *p;
	size_t n, cap;
};

static void put(struct buf *b, const void *data, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		b->cap = (b->n + n + 1) * 2;
		b->p = realloc(b->p, b->cap);
		if (!b->p)
			abort();
	}
	memcpy(b->p + b->n, data, n);
	b->n += n;
}

static void sep(struct buf *b)
{
	put(b, FUZZ_SEP, FUZZ_SEP_LEN);
}

/* The whole file (empty when it cannot be read: a missing asset). */
static struct buf slurp(const char *path)
{
	struct buf b = { 0 };
	struct ada_err err;
	char *text;
	size_t len;

	if (!file_read_all(path, &text, &len, &err)) {
		b.p = text;
		b.n = b.cap = len;
	}
	return b;
}

static void put_file(struct buf *b, const char *path)
{
	struct buf f = slurp(path);

	put(b, f.p ? f.p : "", f.n);
	free(f.p);
}

static const char *asset(const char *rel)
{
	static char bufs[4][4400];
	static int next;
	char *b = bufs[next++ % 4];

	snprintf(b, sizeof(bufs[0]), "%s/%s", assets ? assets : "/nonexistent", rel);
	return b;
}

static void seed(const char *harness, const char *name, const struct buf *b)
{
	char dir[4400], path[4600];
	struct ada_err err;

	if (!b->n)
		return;
	snprintf(dir, sizeof(dir), "%s/%s", out, harness);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (mkdir_p(dir, 0755, &err) || file_write_atomic(path, b->p, b->n, &err)) {
		fprintf(stderr, "fuzz_seeds: %s\n", err.msg);
		exit(1);
	}
	n_seeds++;
}

static void seed_file(const char *harness, const char *name, const char *path)
{
	struct buf b = slurp(path);

	seed(harness, name, &b);
	free(b.p);
}

static void die(const struct ada_err *err)
{
	fprintf(stderr, "fuzz_seeds: %s\n", err->msg);
	exit(1);
}

/* A tiny model's config shrunk further: seeds small enough to mutate fast. */
static void micro(struct model_config *c, const char *arch, int vocab)
{
	tiny_config(c, arch);
	c->dim = 8;
	c->hidden_dim = 12;
	c->n_layers = 1;
	c->n_heads = 2;
	c->n_kv_heads = 1;
	c->head_dim = !strcmp(arch, "mistral") ? 8 : 4;
	c->vocab_size = vocab;
	c->context_length = 16;
	if (c->sliding_window)
		c->sliding_window = 8;
}

static struct model *micro_model(const char *arch, int vocab, int tied)
{
	struct model_config c;
	struct model *m;

	micro(&c, arch, vocab);
	c.tied_output = tied;
	if (tiny_model_random(&c, 5, &m))
		exit(1);
	return m;
}

static const char *scratch(const char *name)
{
	return fuzz_path(name);
}

/* ---- a GPT-2 tokenizer.json cut to its first n tokens (assets) -------- */

static json_t *gpt2_cut(int n)
{
	json_t *vocab = json_load_file(asset("tokenizers/gpt2/vocab.json"), 0, NULL), *v2, *merges;
	struct buf m = slurp(asset("tokenizers/gpt2/merges.txt"));
	const char *key;
	json_t *val;
	char *line, *save = NULL;

	if (!vocab || !m.p) {
		json_decref(vocab);
		free(m.p);
		return NULL;
	}
	v2 = json_object();
	json_object_foreach(vocab, key, val)
		if (json_integer_value(val) < n)
			json_object_set(v2, key, val);
	merges = json_array();
	put(&m, "", 1);
	m.p[m.n - 1] = '\0';
	for (line = strtok_r(m.p, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *sp = strchr(line, ' '), joined[256];
		if (!strncmp(line, "#version", 8) || !sp)
			continue;
		*sp = '\0';
		snprintf(joined, sizeof(joined), "%s%s", line, sp + 1);
		if (json_object_get(v2, line) && json_object_get(v2, sp + 1) &&
		    json_object_get(v2, joined)) {
			*sp = ' ';
			json_array_append_new(merges, json_string(line));
		}
	}
	free(m.p);
	json_decref(vocab);
	return json_pack("{s:s,s:[],s:n,s:{s:s,s:b,s:b,s:b},s:n,s:{s:s,s:b,s:b,s:b},"
			 "s:{s:s,s:o,s:o}}",
			 "version", "1.0", "added_tokens", "normalizer",
			 "pre_tokenizer", "type", "ByteLevel", "add_prefix_space", 0, "trim_offsets", 1,
			 "use_regex", 1, "post_processor",
			 "decoder", "type", "ByteLevel", "add_prefix_space", 1, "trim_offsets", 1,
			 "use_regex", 1,
			 "model", "type", "BPE", "vocab", v2, "merges", merges);
}

static void put_json(struct buf *b, json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

	if (s)
		put(b, s, strlen(s));
	free(s);
}

/* The first n lines of BERT's vocab.txt. */
static void put_vocab_lines(struct buf *b, int n)
{
	struct buf v = slurp(asset("tokenizers/bert-base-uncased/vocab.txt"));
	size_t at = 0;

	for (int i = 0; i < n && at < v.n; i++) {
		const char *nl = memchr(v.p + at, '\n', v.n - at);
		size_t end = nl ? (size_t)(nl - v.p) + 1 : v.n;
		put(b, v.p + at, end - at);
		at = end;
	}
	free(v.p);
}

/* ---- the harnesses' seeds --------------------------------------------- */

static void gguf_seeds(void)
{
	static const char *const arches[] = { "llama", "qwen2", "mistral" };
	static const uint32_t types[] = { GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_BF16 };
	struct ada_err err;
	char name[64];

	for (int a = 0; a < 3; a++)
		for (int t = 0; t < 3; t++) {
			struct model *m = micro_model(arches[a], 16, a == 0 && t == 1);
			if (tiny_write_gguf(m, scratch("s.gguf"), (uint32_t)(1 + (a + t) % 3), types[t],
					    &err))
				die(&err);
			snprintf(name, sizeof(name), "micro-%s-%d", arches[a], t);
			seed_file("gguf", name, scratch("s.gguf"));
			model_free(m);
		}
	if (ada_create_model("tiny", 3, scratch("bytes.gguf"), &err))
		die(&err);
	seed_file("gguf", "create-model-tiny", scratch("bytes.gguf"));
	seed_file("gguf", "stories260K", asset("models/stories260K/stories260K.gguf"));
	seed_file("gguf", "vocab-llama-spm", asset("tokenizers/llamacpp-vocab/ggml-vocab-llama-spm.gguf"));
	seed_file("gguf", "vocab-bert-bge", asset("tokenizers/llamacpp-vocab/ggml-vocab-bert-bge.gguf"));
}

static void hf_seeds(void)
{
	static const char *const arches[] = { "llama", "qwen2", "mistral" };
	static const enum st_dtype dts[] = { ST_F32, ST_BF16, ST_F16 };
	json_t *tok = gpt2_cut(300);
	struct ada_err err;
	char name[64], dir[4400], rel[4500];

	for (int a = 0; a < 3; a++) {
		struct model *m = micro_model(arches[a], 300, a == 1);
		for (int layout = 0; layout < 2; layout++) {
			struct buf b = { 0 };
			snprintf(dir, sizeof(dir), "%s", fuzz_subdir("hfseed"));
			if (tiny_write_hf(m, dir, dts[a], layout ? TINY_HF_INDEXED_SHARDS : TINY_HF_SINGLE,
					  &err))
				die(&err);
			snprintf(rel, sizeof(rel), "%s/config.json", dir);
			put_file(&b, rel);
			sep(&b);
			snprintf(rel, sizeof(rel), "%s/%s", dir, layout ? TINY_HF_SHARD1 : "model.safetensors");
			put_file(&b, rel);
			if (!layout) {
				snprintf(rel, sizeof(rel), "%s/model.safetensors", dir);
				snprintf(name, sizeof(name), "%s", arches[a]);
				seed_file("safetensors", name, rel);
			}
			sep(&b);
			put_json(&b, tok);
			sep(&b);
			sep(&b);
			sep(&b);
			if (layout) {
				snprintf(rel, sizeof(rel), "%s/model.safetensors.index.json", dir);
				put_file(&b, rel);
				sep(&b);
				snprintf(rel, sizeof(rel), "%s/%s", dir, TINY_HF_SHARD2);
				put_file(&b, rel);
				seed_file("safetensors", "shard2", rel);
			}
			snprintf(name, sizeof(name), "%s-%s", arches[a], layout ? "sharded" : "single");
			seed("hf", name, &b);
			free(b.p);
		}
		model_free(m);
	}
	json_decref(tok);
	for (int r = 0; r < 3; r++) {   /* bert, roberta, deberta-v2 */
		static const char *const names[] = { "bert", "roberta", "deberta" };
		struct model_config c;
		struct model *m;
		float head[2 * 8];
		struct tiny_extra extra = { r == 1 ? "classifier.out_proj.weight" : "classifier.weight",
					    head, 2, 8 };
		struct tiny_bert_opts o = { .dtype = r == 1 ? ST_F16 : r ? ST_BF16 : ST_F32,
					    .prefixed = 1, .extra = &extra, .n_extra = 1 };
		struct buf b = { 0 };

		if (r == 2)
			tiny_deberta_config(&c);
		else
			tiny_bert_config(&c, r ? "roberta" : "bert");
		c.dim = 8;
		c.hidden_dim = 12;
		c.n_layers = 1;
		c.n_heads = c.n_kv_heads = 2;
		c.head_dim = 4;
		c.vocab_size = 300;
		for (int i = 0; i < 16; i++)
			head[i] = 0.01f * (float)i;
		if (tiny_bert_random(&c, 9, &m))
			exit(1);
		snprintf(dir, sizeof(dir), "%s", fuzz_subdir("hfseed"));
		if (tiny_write_bert_hf(m, dir, &o, &err))
			die(&err);
		snprintf(rel, sizeof(rel), "%s/config.json", dir);
		put_file(&b, rel);
		sep(&b);
		snprintf(rel, sizeof(rel), "%s/model.safetensors", dir);
		put_file(&b, rel);
		seed_file("safetensors", names[r], rel);
		sep(&b);
		sep(&b);
		put_vocab_lines(&b, 300);
		sep(&b);
		put(&b, "{\"do_lower_case\": true}", 23);
		seed("hf", names[r], &b);
		free(b.p);
		model_free(m);
	}
	{
		/* a micro BART (encoder-decoder), with the GPT-2 cut as its tokenizer */
		struct model_config c;
		struct model *m;
		struct tiny_bart_opts o = { .no_tokenizer = 1 };
		struct buf b = { 0 };
		json_t *bt = gpt2_cut(300);

		tiny_bart_config(&c);
		c.dim = 8;
		c.hidden_dim = 12;
		c.n_heads = c.n_kv_heads = 2;
		c.head_dim = 4;
		c.vocab_size = 300;
		c.context_length = 16;
		c.max_positions = 18;
		if (tiny_bart_random(&c, 9, &m))
			exit(1);
		snprintf(dir, sizeof(dir), "%s", fuzz_subdir("hfseed"));
		if (tiny_write_bart_hf(m, dir, &o, &err))
			die(&err);
		snprintf(rel, sizeof(rel), "%s/config.json", dir);
		put_file(&b, rel);
		sep(&b);
		snprintf(rel, sizeof(rel), "%s/model.safetensors", dir);
		put_file(&b, rel);
		seed_file("safetensors", "bart", rel);
		sep(&b);
		put_json(&b, bt);
		sep(&b);
		sep(&b);
		sep(&b);
		seed("hf", "bart", &b);
		free(b.p);
		json_decref(bt);
		model_free(m);
	}
}

static void llama2c_seeds(void)
{
	struct ada_err err;
	char name[64];

	for (int v = 0; v <= 1; v++)
		for (int tied = 0; tied <= 1; tied++) {
			struct model *m = micro_model("llama", 512, tied);
			struct buf b = { 0 };
			/* llama2.c needs n_heads * head_dim == dim */
			if (tiny_write_llama2c(m, scratch("s.bin"), v, &err)) {
				model_free(m);
				continue;
			}
			put_file(&b, scratch("s.bin"));
			sep(&b);
			put_file(&b, asset("models/stories260K/tok512.bin"));
			snprintf(name, sizeof(name), "micro-v%d-%s", v, tied ? "tied" : "untied");
			seed("llama2c", name, &b);
			free(b.p);
			model_free(m);
		}
	{
		struct buf b = { 0 };
		put_file(&b, asset("models/stories260K/stories260K.bin"));
		sep(&b);
		put_file(&b, asset("models/stories260K/tok512.bin"));
		seed("llama2c", "stories260K", &b);
		free(b.p);
	}
}

static void tokenizer_seed(const char *name, int kind, int vocab4, const struct buf *file,
			   const char *config, const char *text_path)
{
	struct buf b = { 0 };
	char k[2] = { (char)kind, (char)vocab4 };

	if (!file->n)
		return;
	put(&b, k, 2);
	put(&b, file->p, file->n);
	sep(&b);
	if (config)
		put(&b, config, strlen(config));
	sep(&b);
	if (text_path) {
		struct buf t = slurp(text_path);
		put(&b, t.p ? t.p : "", t.n > 2000 ? 2000 : t.n);
		free(t.p);
	}
	seed("tokenizer", name, &b);
	free(b.p);
}

static void tokenizer_seeds(void)
{
	const char *inp_spm = asset("tokenizers/llamacpp-vocab/ggml-vocab-llama-spm.gguf.inp");
	struct buf f;
	json_t *tok = gpt2_cut(2000);

	f = slurp(asset("models/stories260K/tok512.bin"));
	tokenizer_seed("tok512", 0, 128, &f, NULL, inp_spm);
	free(f.p);
	f = slurp(asset("tokenizers/llama2c-32k/tokenizer.bin"));
	tokenizer_seed("llama2c-32k", 0, 0, &f, NULL, inp_spm);
	free(f.p);
	f = (struct buf){ 0 };
	put_json(&f, tok);
	tokenizer_seed("gpt2-2000", 1, 0, &f, "{\"eos_token\": \"<|endoftext|>\"}",
		       asset("tokenizers/llamacpp-vocab/ggml-vocab-gpt-2.gguf.inp"));
	free(f.p);
	json_decref(tok);
	f = (struct buf){ 0 };
	put_vocab_lines(&f, 3000);
	tokenizer_seed("bert-3000", 2, 0, &f, "{\"do_lower_case\": true, \"strip_accents\": null}",
		       asset("tokenizers/llamacpp-vocab/ggml-vocab-bert-bge.gguf.inp"));
	free(f.p);
	f = slurp(asset("tokenizers/llamacpp-vocab/ggml-vocab-llama-spm.gguf"));
	tokenizer_seed("gguf-llama-spm", 3, 0, &f, NULL, inp_spm);
	free(f.p);
	f = slurp(fuzz_path("bytes.gguf"));
	tokenizer_seed("gguf-bytes", 3, 0, &f, NULL, NULL);
	free(f.p);
}

/* spm.model files of the test suite's writer (tests/support/spm_writer.h):
 * a Unigram with byte pieces and a charsmap, a BPE, one with a config. */
static void spm_seeds(void)
{
	static const char *const from[] = { "\xef\xac\x81", "\xef\xbc\xa1", "\xc2\xa0", "ab" };
	static const char *const to[] = { "fi", "A", " ", "" };
	static const char *const names[] = { "<unk>", "[CLS]", "[SEP]", "[PAD]", "\xe2\x96\x81",
					     "a", "b", "c", "\xe2\x96\x81" "ab", "cd", "fi", "A" };
	struct spm_piece_spec pieces[12 + 256];
	char bytes[256][8];
	struct strbuf cm = STRBUF_INIT, model = STRBUF_INIT;
	struct spm_model_spec spec = { .model_type = 1, .byte_fallback = 1, .unk_id = 0,
				       .bos_id = 1, .eos_id = 2, .pad_id = 3, .add_dummy_prefix = 1,
				       .remove_extra_whitespaces = 1, .escape_whitespaces = 1 };
	struct buf b = { 0 };

	for (int i = 0; i < 12; i++)
		pieces[i] = (struct spm_piece_spec){ names[i], -(float)i, i == 0 ? SPM_UNKNOWN :
							     i < 4 ? SPM_CONTROL : SPM_NORMAL };
	for (int i = 0; i < 256; i++) {
		snprintf(bytes[i], sizeof(bytes[i]), "<0x%02X>", i);
		pieces[12 + i] = (struct spm_piece_spec){ bytes[i], 0, SPM_BYTE };
	}
	if (charsmap_build(from, to, 4, &cm))
		exit(1);
	spec.charsmap = cm.p;
	spec.charsmap_len = cm.n;
	for (int k = 0; k < 3; k++) {
		model.n = 0;
		spec.model_type = k == 1 ? 2 : 1;
		if (spm_model_build(pieces, k == 2 ? 12 : 12 + 256, &spec, &model))
			exit(1);
		b.n = 0;
		put(&b, model.p, model.n);
		put(&b, FUZZ_SEP, FUZZ_SEP_LEN);
		if (k == 2)
			put(&b, "{\"cls_token\": \"[CLS]\", \"mask_token\": \"[MASK]\"}",
			    strlen("{\"cls_token\": \"[CLS]\", \"mask_token\": \"[MASK]\"}"));
		put(&b, FUZZ_SEP, FUZZ_SEP_LEN);
		put(&b, "  ab cd \xef\xac\x81 x", strlen("  ab cd \xef\xac\x81 x"));
		seed("spm", k == 0 ? "unigram-bytes" : k == 1 ? "bpe" : "unigram-config", &b);
	}
	free(b.p);
	strbuf_release(&cm);
	strbuf_release(&model);
}

/* The first n lines of a file, each through fn into b. */
static void lines(struct buf *b, const char *path, int skip, int n,
		  void (*fn)(struct buf *b, const char *line, size_t len, int i))
{
	struct buf t = slurp(path);
	size_t at = 0;

	for (int i = 0; i < skip + n && at < t.n; i++) {
		const char *nl = memchr(t.p + at, '\n', t.n - at);
		size_t end = nl ? (size_t)(nl - t.p) : t.n;
		if (i >= skip && end > at)
			fn(b, t.p + at, end - at, i);
		at = end + 1;
	}
	free(t.p);
}

static void as_text_jsonl(struct buf *b, const char *line, size_t len, int i)
{
	json_t *o = json_pack("{s:s%}", "text", line, len);
	(void)i;
	put_json(b, o);
	put(b, "\n", 1);
	json_decref(o);
}

static void as_prompt(struct buf *b, const char *line, size_t len, int i)
{
	json_t *o = json_pack("{s:s%,s:s%}", "prompt", line, len / 2, "completion", line + len / 2,
			      len - len / 2);
	(void)i;
	put_json(b, o);
	put(b, "\n", 1);
	json_decref(o);
}

/* SST-2's "sentence\tlabel" lines as {"text","label"}, pairs, strings, floats. */
static int sst_style;
static void as_sst(struct buf *b, const char *line, size_t len, int i)
{
	const char *tab = memchr(line, '\t', len);
	int label;
	json_t *o;

	if (!tab)
		return;
	label = tab[1] == '1';
	switch (sst_style) {
	case 0:
		o = json_pack("{s:s%,s:i}", "text", line, (size_t)(tab - line), "label", label);
		break;
	case 1:
		o = json_pack("{s:s%,s:s%,s:i}", "text_a", line, (size_t)(tab - line) / 2, "text_b",
			      line + (tab - line) / 2, (size_t)(tab - line) - (size_t)(tab - line) / 2,
			      "label", i % 3);
		break;
	case 2:
		o = json_pack("{s:s%,s:s}", "text", line, (size_t)(tab - line), "label",
			      label ? "positive" : "negative");
		break;
	default:
		o = json_pack("{s:s%,s:f}", "text", line, (size_t)(tab - line), "label",
			      label ? 0.75 + 0.01 * i : 0.25);
	}
	put_json(b, o);
	put(b, "\n", 1);
	json_decref(o);
}

static void raw_line(struct buf *b, const char *line, size_t len, int i)
{
	(void)i;
	put(b, line, len);
	put(b, "\n", 1);
}

static void jsonl_seed(const char *name, unsigned char opts, unsigned char seq,
		       const struct buf *train, const struct buf *valid)
{
	struct buf b = { 0 };
	unsigned char head[2] = { opts, seq };

	if (!train->n)
		return;
	put(&b, head, 2);
	put(&b, train->p, train->n);
	if (valid && valid->n) {
		sep(&b);
		put(&b, valid->p, valid->n);
	}
	seed("jsonl", name, &b);
	free(b.p);
}

static struct buf sst(int style, int skip, int n)
{
	struct buf b = { 0 };

	sst_style = style;
	lines(&b, asset("data/glue/SST-2/dev.tsv"), 1 + skip, n, as_sst);
	return b;
}

static void jsonl_seeds(void)
{
	const char *stories = asset("data/text/tinystories/tinystories_train_head.txt");
	struct buf t = { 0 }, v = { 0 };

	lines(&t, stories, 0, 12, raw_line);
	jsonl_seed("plain-text", 0, 28, &t, NULL);
	free(t.p);
	t = (struct buf){ 0 };
	lines(&t, stories, 0, 12, as_text_jsonl);
	jsonl_seed("text-jsonl", 1, 60, &t, NULL);
	free(t.p);
	t = (struct buf){ 0 };
	lines(&t, asset("data/text/tinyshakespeare/input.txt"), 0, 40, as_prompt);
	jsonl_seed("prompt-completion", 1, 12, &t, NULL);
	free(t.p);
	for (int style = 0; style < 4; style++) {
		static const char *const names[] = { "sst2-int", "pairs-3-classes", "sst2-strings",
						     "regression" };
		t = sst(style, 0, 16);
		v = sst(style, 16, 6);
		jsonl_seed(names[style], (unsigned char)(1 | (1 << 1)), 28, &t, &v);
		free(t.p);
		free(v.p);
	}
	t = (struct buf){ 0 };
	lines(&t, asset("data/glue/SST-2/dev.tsv"), 0, 16, raw_line);
	v = (struct buf){ 0 };
	lines(&v, asset("data/glue/SST-2/dev.tsv"), 0, 1, raw_line);
	lines(&v, asset("data/glue/SST-2/dev.tsv"), 20, 5, raw_line);
	jsonl_seed("sst2-tsv", (unsigned char)(2 << 1), 20, &t, &v);
	free(t.p);
	free(v.p);
}

/* A form as the openai SDKs send it, holding a file of training data. */
static void multipart_seeds(void)
{
	static const char *const boundaries[] = { "----WebKitFormBoundary7MA4YWxkTrZu0gW",
						  "XyZ", "a" };
	struct buf data = sst(0, 0, 5);
	char head[256];

	for (int i = 0; i < 3; i++) {
		struct buf b = { 0 };
		unsigned char opt = (unsigned char)(i == 0 ? 7 : i == 1 ? 3 : 0);
		const char *bd = boundaries[i];
		int n;

		put(&b, &opt, 1);
		n = snprintf(head, sizeof(head), "multipart/form-data; boundary=%s\n", bd);
		put(&b, head, (size_t)n);
		n = snprintf(head, sizeof(head),
			     "--%s\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\n"
			     "fine-tune\r\n--%s\r\nContent-Disposition: form-data; name=\"file\"; "
			     "filename=\"sst2.jsonl\"\r\nContent-Type: application/octet-stream\r\n\r\n",
			     bd, bd);
		put(&b, head, (size_t)n);
		put(&b, data.p ? data.p : "{\"text\":\"x\"}\n", data.p ? data.n : 13);
		n = snprintf(head, sizeof(head), "\r\n--%s--\r\n", bd);
		put(&b, head, (size_t)n);
		snprintf(head, sizeof(head), "sdk-form-%d", i);
		seed("multipart", head, &b);
		free(b.p);
	}
	free(data.p);
}

/* Job bodies with every method's full JSON (as the API returns it), schedule
 * bodies, and label summaries of real files. */
static void json_seeds(void)
{
	static const enum ada_method_type types[] = {
		ADA_METHOD_LORA, ADA_METHOD_ADALORA, ADA_METHOD_FULL, ADA_METHOD_LORA_PRUNE,
		ADA_METHOD_BITFIT, ADA_METHOD_ADAPTER,
	};
	struct ada_err err;
	char name[64];

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		struct ada_method m;
		struct buf b = { 0 };
		json_t *body;

		ada_method_defaults(types[i], &m);
		m.hp.max_steps = 100;
		body = json_pack("{s:s,s:s,s:i,s:o}", "model", "stories260K", "training_file",
				 "file-abc", "seed", 1, "method", ada_method_to_json(&m));
		put(&b, "\0", 1);
		put_json(&b, body);
		snprintf(name, sizeof(name), "job-%s", ada_method_name(types[i]));
		seed("json_body", name, &b);
		free(b.p);
		json_decref(body);
	}
	for (int style = 0; style < 4; style++) {
		struct buf t = sst(style, 0, 12), v = sst(style, 12, 6), b = { 0 };
		json_t *tl = NULL, *vl = NULL;

		if (!t.n || ada_data_labels(t.p, t.n, &tl, &err) || ada_data_labels(v.p, v.n, &vl, &err)) {
			free(t.p);
			free(v.p);
			json_decref(tl);
			continue;
		}
		put(&b, "\2", 1);
		json_t *o = json_pack("{s:o,s:o}", "train", tl, "valid", vl);
		put_json(&b, o);
		snprintf(name, sizeof(name), "labels-%d", style);
		seed("json_body", name, &b);
		json_decref(o);
		free(b.p);
		free(t.p);
		free(v.p);
	}
}

int main(int argc, char **argv)
{
	struct stat st;

	if (argc != 3) {
		fprintf(stderr, "usage: fuzz_seeds ASSETS OUT\n");
		return 2;
	}
	assets = stat(argv[1], &st) == 0 ? argv[1] : NULL;
	out = argv[2];
	if (!assets)
		fprintf(stderr, "fuzz_seeds: %s is absent; seeds from the test suite's writers only\n",
			argv[1]);
	fuzz_init();
	gguf_seeds();
	hf_seeds();
	llama2c_seeds();
	tokenizer_seeds();
	spm_seeds();
	jsonl_seeds();
	multipart_seeds();
	json_seeds();
	printf("fuzz_seeds: %d seeds in %s\n", n_seeds, out);
	return 0;
}
