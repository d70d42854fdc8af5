/*
 * model_framing — how a model frames its training text: whether a text
 * record ends with EOS, and which chat template family it carries.
 *
 * Text framing must be what the model was trained with, or the loss of its
 * first fine-tuning steps is spent learning a new end-of-text habit, and a
 * loss is not comparable with the model's published one. The rule (README,
 * "Text framing"):
 *   - llama2.c checkpoints: BOS only (llama2.c's pretokenizer writes each
 *     story as BOS + text, no EOS; its models predict the next story's BOS);
 *   - a tokenizer whose configuration asks for EOS (GGUF
 *     tokenizer.ggml.add_eos_token, tokenizer_config.json add_eos_token
 *     true): EOS;
 *   - a model known to be llama2.c's, converted: its name (GGUF
 *     general.name, or the file or directory name) starts with "tinyllamas"
 *     or "stories" + a size ("stories15M", "stories260K"), or says
 *     llama2.c: BOS only;
 *   - anything else: EOS (most pretraining corpora separate documents with
 *     it, whether or not the tokenizer appends it on its own).
 * Kept beside the loaders, apart from the weights (which other code owns):
 * only metadata is read here.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "format/gguf.h"
#include "model/model.h"
#include "model/model_framing.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"
#include "util/err.h"
#include "util/fileio.h"

/* Does name (a model's name, or a path whose last component is used) say
 * llama2.c's tinyllamas? */
int model_name_is_llama2c(const char *name)
{
	const char *base = name ? strrchr(name, '/') : NULL;
	char lower[128];
	size_t n = 0, i;

	if (!name)
		return 0;
	base = base ? base + 1 : name;
	for (; base[n] && n + 1 < sizeof(lower); n++)
		lower[n] = (char)tolower((unsigned char)base[n]);
	lower[n] = '\0';
	if (!strncmp(lower, "tinyllamas", 10) || strstr(lower, "llama2.c") || strstr(lower, "llama2c"))
		return 1;
	if (strncmp(lower, "stories", 7))
		return 0;
	for (i = 7; isdigit((unsigned char)lower[i]); i++)
		;
	return i > 7 && (lower[i] == 'k' || lower[i] == 'm');
}

/* The rule above, from what is known about the model. add_eos: the
 * tokenizer configuration's add_eos_token (0 when it does not say). */
static int framing_rule(const char *format, const char *path, const char *name, int add_eos)
{
	if (!strcmp(format, "llama2c"))
		return 0;
	if (add_eos)
		return 1;
	return !(model_name_is_llama2c(name) || model_name_is_llama2c(path));
}

int model_default_append_eos(const struct model *m, const struct tokenizer *t)
{
	const struct gguf *g = model_gguf(m);
	char *name = NULL;
	int eos;

	if (g && gguf_get_str(g, "general.name", &name, NULL))
		name = NULL;
	eos = framing_rule(m->format, m->path, name, t && tokenizer_wants_eos(t));
	free(name);
	return eos;
}

static void set_chat(struct ada_model_info *info, const char *tmpl, size_t len)
{
	struct chat_format f;

	if (!tmpl)
		info->chat_template[0] = '\0';
	else if (chat_format_detect(tmpl, len, &f))
		snprintf(info->chat_template, sizeof(info->chat_template), "unknown");
	else
		snprintf(info->chat_template, sizeof(info->chat_template), "%s",
			 chat_family_name(f.family));
}

static int probe_gguf_framing(const char *path, struct ada_model_info *info, struct ada_err *err)
{
	const struct gguf_kv *kv;
	struct gguf *g;
	char *tmpl = NULL, *name = NULL;
	size_t len = 0;
	int rc = gguf_open(path, &g, err), add_eos = 0;

	if (rc)
		return rc;
	kv = gguf_find_kv(g, "tokenizer.ggml.add_eos_token");
	if (kv && (kv->type == GGUF_TYPE_BOOL || kv->type == GGUF_TYPE_UINT8))
		add_eos = kv->v.u != 0;
	if (gguf_get_str(g, "general.name", &name, NULL))
		name = NULL;
	rc = chat_template_read_gguf(g, &tmpl, &len, err);
	if (!rc) {
		set_chat(info, tmpl, len);
		info->append_eos = framing_rule("gguf", path, name, add_eos);
	}
	free(tmpl);
	free(name);
	gguf_close(g);
	return rc;
}

static int probe_hf_framing(const char *dir, struct ada_model_info *info, struct ada_err *err)
{
	char *tok = path_join(dir, "tokenizer.json"), *cfg_path = path_join(dir, "tokenizer_config.json");
	char *tmpl = NULL;
	size_t len = 0;
	int rc, add_eos = 0;

	if (!tok || !cfg_path) {
		rc = ada_fail(err, ADA_ENOMEM, "out of memory");
		goto out_free;
	}
	rc = chat_template_read_hf(tok, &tmpl, &len, err);
	if (rc)
		goto out_free;
	if (file_exists(cfg_path)) {
		json_t *cfg = json_load_file(cfg_path, 0, NULL);

		add_eos = json_is_true(json_object_get(cfg, "add_eos_token"));
		json_decref(cfg);
	}
	set_chat(info, tmpl, len);
	info->append_eos = framing_rule("hf", dir, NULL, add_eos);
out_free:
	free(tmpl);
	free(tok);
	free(cfg_path);
	return rc;
}

int model_probe_framing(const char *path, const char *format, struct ada_model_info *info,
			struct ada_err *err)
{
	if (!strcmp(format, "gguf"))
		return probe_gguf_framing(path, info, err);
	if (!strcmp(format, "hf"))
		return probe_hf_framing(path, info, err);
	info->chat_template[0] = '\0';
	info->append_eos = framing_rule(format, path, NULL, 0);
	return ADA_OK;
}
