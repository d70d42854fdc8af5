/* chat_model — tiny GGUF models that know chat; see chat_model.h. */
#include "chat_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/gguf.h"
#include "tiny_model.h"
#include "tokenizer/internal.h"   /* bytelevel_cp: GPT-2's byte alphabet */
#include "util/err.h"
#include "util/utf8.h"

/* llama.cpp's token types */
enum { T_NORMAL = 1, T_UNKNOWN = 2, T_CONTROL = 3, T_BYTE = 6 };

/* Qwen/Qwen2-0.5B-Instruct's tokenizer_config.json chat_template. */
const char chat_model_chatml_template[] =
	"{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
	"{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}"
	"{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
	"{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

void chat_model_chatml(struct chat_model_opts *o)
{
	static const char *const specials[] = { "<|endoftext|>", "<|im_start|>", "<|im_end|>", NULL };

	memset(o, 0, sizeof(*o));
	o->vocab = CHAT_VOCAB_BYTES;
	o->specials = specials;
	o->eos = "<|im_end|>";
	o->chat_template = chat_model_chatml_template;
}

int32_t chat_model_special_id(const struct chat_model_opts *o, const char *s)
{
	int32_t base = o->vocab == CHAT_VOCAB_BYTES ? CHAT_VOCAB_BYTES_BASE : CHAT_VOCAB_SPM_BASE;

	for (int32_t i = 0; o->specials && o->specials[i]; i++)
		if (!strcmp(o->specials[i], s))
			return base + i;
	return -1;
}

static int n_specials(const struct chat_model_opts *o)
{
	int n = 0;

	while (o->specials && o->specials[n])
		n++;
	return n;
}

/* tokenizer.ggml.* for the vocabulary o describes. */
static int write_vocab(struct gguf_writer *w, const struct chat_model_opts *o, int n,
		       struct ada_err *err)
{
	const int spm = o->vocab == CHAT_VOCAB_SPM;
	const int base = spm ? CHAT_VOCAB_SPM_BASE : CHAT_VOCAB_BYTES_BASE;
	char (*names)[8] = calloc(256, sizeof(*names));
	const char **tokens = calloc((size_t)n, sizeof(*tokens));
	float *scores = calloc((size_t)n, sizeof(*scores));
	int32_t *types = calloc((size_t)n, sizeof(*types));
	int rc = ADA_OK;

	if (!names || !tokens || !scores || !types) {
		rc = ada_fail(err, ADA_ENOMEM, "out of memory");
		goto out_free;
	}
	for (int b = 0; b < 256; b++) {
		if (spm) {
			snprintf(names[b], sizeof(names[b]), "<0x%02X>", b);
			tokens[1 + b] = names[b];
			types[1 + b] = T_BYTE;
		} else {
			int k = utf8_encode(bytelevel_cp((uint8_t)b), names[b]);
			names[b][k] = '\0';
			tokens[b] = names[b];
			types[b] = T_NORMAL;
		}
	}
	if (spm) {
		tokens[0] = "<unk>";
		types[0] = T_UNKNOWN;
		tokens[CHAT_SPM_SPACE] = "\xe2\x96\x81";
		types[CHAT_SPM_SPACE] = T_NORMAL;
	}
	for (int i = base; i < n; i++) {
		tokens[i] = o->specials[i - base];
		types[i] = T_CONTROL;
	}
	if ((rc = gguf_writer_set_str(w, "tokenizer.ggml.model", spm ? "llama" : "gpt2", err)) ||
	    (rc = gguf_writer_set_str_array(w, "tokenizer.ggml.tokens", tokens, NULL, (uint64_t)n,
					    err)) ||
	    (rc = gguf_writer_set_f32_array(w, "tokenizer.ggml.scores", scores, (uint64_t)n, err)) ||
	    (rc = gguf_writer_set_i32_array(w, "tokenizer.ggml.token_type", types, (uint64_t)n, err)))
		goto out_free;
	if (!spm && ((rc = gguf_writer_set_str(w, "tokenizer.ggml.pre", "gpt-2", err)) ||
		     (rc = gguf_writer_set_str_array(w, "tokenizer.ggml.merges", NULL, NULL, 0, err))))
		goto out_free;
	if (spm && (rc = gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 0, err)))
		goto out_free;
	if (o->bos && (rc = gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id",
						(uint32_t)chat_model_special_id(o, o->bos), err)))
		goto out_free;
	if (o->eos && (rc = gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id",
						(uint32_t)chat_model_special_id(o, o->eos), err)))
		goto out_free;
	if ((rc = gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", o->bos != NULL, err)))
		goto out_free;
	if (o->chat_template)
		rc = gguf_writer_set_str(w, "tokenizer.chat_template", o->chat_template, err);
out_free:
	free(names);
	free(tokens);
	free(scores);
	free(types);
	return rc;
}

int chat_model_write(const char *path, const struct chat_model_opts *o, uint64_t seed,
		     struct ada_err *err)
{
	const int n = (o->vocab == CHAT_VOCAB_SPM ? CHAT_VOCAB_SPM_BASE : CHAT_VOCAB_BYTES_BASE) +
		      n_specials(o);
	struct model_config cfg;
	struct model *m = NULL;
	struct gguf_writer *w = NULL;
	struct gguf *g = NULL;
	char tmp[4200];
	int rc;

	/* The weights are tiny_model's; the file gets our tokenizer. */
	tiny_config(&cfg, "llama");
	cfg.vocab_size = n;
	cfg.context_length = o->context_length ? o->context_length : 256;
	snprintf(tmp, sizeof(tmp), "%s.weights.tmp", path);
	if ((rc = tiny_model_random(&cfg, seed, &m)))
		return ada_fail(err, rc, "cannot make a random model");
	rc = tiny_write_gguf(m, tmp, 3, GGML_TYPE_F32, err);
	model_free(m);
	if (rc)
		return rc;
	if ((rc = gguf_open(tmp, &g, err)))
		goto out;
	if ((rc = gguf_writer_new(3, &w, err)))
		goto out;
	for (uint64_t i = 0; i < g->n_kv && !rc; i++)
		if (strncmp(g->kv[i].key, "tokenizer.", 10))
			rc = gguf_writer_copy_kv(w, &g->kv[i], err);
	if (!rc)
		rc = gguf_writer_set_str(w, "general.name", o->name ? o->name : "tiny-chat", err);
	if (!rc)
		rc = write_vocab(w, o, n, err);
	for (uint64_t i = 0; i < g->n_tensors && !rc; i++) {
		const struct gguf_tensor *t = &g->tensors[i];

		rc = gguf_writer_add_tensor(w, t->name, t->n_dims, t->dims, (const float *)t->data,
					    GGML_TYPE_F32,
					    err);
	}
	if (!rc)
		rc = gguf_writer_write(w, path, err);
out:
	gguf_writer_free(w);
	if (g)
		gguf_close(g);
	remove(tmp);
	return rc;
}
