/*
 * chat_template — recognising chat templates by content; see chat_template.h.
 *
 * The markers follow what every published template of a family writes
 * (and the order is llama.cpp's llm_chat_detect_template, whose survey of
 * templates in GGUF files is the widest there is): a family's special
 * tokens first, then for the [INST] families the literals around a turn,
 * which is where their published versions differ. The templates each
 * family's renderer (data/chat.c) follows:
 *
 *   chatml          Qwen/Qwen2.5-0.5B-Instruct, Qwen/Qwen2-0.5B-Instruct and
 *                   HuggingFaceTB/SmolLM2-135M-Instruct tokenizer_config.json
 *                   (their default system prompt is read from the template)
 *   llama3          meta-llama/Meta-Llama-3-8B-Instruct
 *   llama3.1        meta-llama/Llama-3.1-8B-Instruct, Llama-3.2-1B-Instruct
 *   llama2          meta-llama/Llama-2-7b-chat-hf
 *   mistral         Mistral tokenizer V1 (mistralai/cookbook,
 *                   concept-deep-dive/tokenization/templates.md), and the
 *                   Mistral-7B-Instruct-v0.1/v0.2 and Mixtral-8x7B-Instruct
 *                   tokenizer_config.json variants of it
 *   mistral-v3      Tokenizers V2/V3 (the same page; Mistral-7B-Instruct-v0.3)
 *   mistral-tekken  V3-Tekken (the same page; Mistral-Nemo-Instruct-2407)
 *   gemma           google/gemma-2b-it, gemma-7b-it, gemma-2-2b-it
 *   gemma3          google/gemma-3-1b-it
 *   phi3            microsoft/Phi-3-mini-4k-instruct (the 2024-07 template)
 *   zephyr          HuggingFaceH4/zephyr-7b-beta
 */
#include "tokenizer/chat_template.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "format/gguf.h"
#include "tokenizer/internal.h"
#include "util/err.h"
#include "util/fileio.h"

#define TEMPLATE_FILE_MAX (4u << 20)   /* a chat_template.jinja we read */

static const char *const family_names[CHAT_N_FAMILIES] = {
	[CHAT_NONE] = "none",
	[CHAT_CHATML] = "chatml",
	[CHAT_LLAMA3] = "llama3",
	[CHAT_LLAMA31] = "llama3.1",
	[CHAT_LLAMA2] = "llama2",
	[CHAT_MISTRAL] = "mistral",
	[CHAT_MISTRAL_V3] = "mistral-v3",
	[CHAT_MISTRAL_TEKKEN] = "mistral-tekken",
	[CHAT_GEMMA] = "gemma",
	[CHAT_GEMMA3] = "gemma3",
	[CHAT_PHI3] = "phi3",
	[CHAT_ZEPHYR] = "zephyr",
};

const char *chat_family_name(enum chat_family f)
{
	return (unsigned)f < CHAT_N_FAMILIES ? family_names[f] : "unknown";
}

int chat_family_from_name(const char *name)
{
	for (int f = CHAT_NONE + 1; f < CHAT_N_FAMILIES; f++)
		if (!strcmp(name, family_names[f]))
			return f;
	return -1;
}

const char *chat_family_list(void)
{
	return "chatml, llama3, llama3.1, llama2, mistral, mistral-v3, mistral-tekken, gemma, "
	       "gemma3, phi3, zephyr";
}

const char *const *chat_family_markers(enum chat_family f)
{
	static const char *const none[] = { NULL };
	static const char *const chatml[] = { "<|im_start|>", "<|im_end|>", NULL };
	static const char *const llama3[] = { "<|start_header_id|>", "<|end_header_id|>",
					      "<|eot_id|>", NULL };
	static const char *const inst[] = { "[INST]", "[/INST]", NULL };
	static const char *const gemma[] = { "<start_of_turn>", "<end_of_turn>", NULL };
	static const char *const phi3[] = { "<|system|>", "<|user|>", "<|assistant|>", "<|end|>",
					    NULL };

	switch (f) {
	case CHAT_CHATML: return chatml;
	case CHAT_LLAMA3:
	case CHAT_LLAMA31: return llama3;
	case CHAT_MISTRAL_V3:
	case CHAT_MISTRAL_TEKKEN: return inst;     /* control tokens since tokenizer V3 */
	case CHAT_GEMMA:
	case CHAT_GEMMA3: return gemma;
	case CHAT_PHI3: return phi3;
	default: return none;                      /* Llama-2, Mistral V1, Zephyr: text */
	}
}

static void set_inst(struct chat_format *f, const char *open, const char *close,
		     const char *reply, enum chat_system_place system)
{
	snprintf(f->inst.open, sizeof(f->inst.open), "%s", open);
	snprintf(f->inst.close, sizeof(f->inst.close), "%s", close);
	snprintf(f->inst.reply, sizeof(f->inst.reply), "%s", reply);
	f->inst.system = system;
}

void chat_format_of_family(enum chat_family f, struct chat_format *out)
{
	memset(out, 0, sizeof(*out));
	out->family = f;
	switch (f) {
	case CHAT_MISTRAL:
		/* mistral-common puts a system prompt before the first user
		 * message (the cookbook's note under V1) */
		set_inst(out, " [INST] ", " [/INST]", " ", CHAT_SYSTEM_FIRST_USER);
		break;
	case CHAT_MISTRAL_V3:
		set_inst(out, "[INST] ", "[/INST]", " ", CHAT_SYSTEM_LAST_USER);
		break;
	case CHAT_MISTRAL_TEKKEN:
		set_inst(out, "[INST]", "[/INST]", "", CHAT_SYSTEM_LAST_USER);
		break;
	default:
		break;
	}
}

/* ---- markers ------------------------------------------------------------ */

static const char *find(const char *t, size_t n, const char *s, size_t from)
{
	size_t k = strlen(s);

	for (size_t i = from; k <= n && i + k <= n; i++)
		if (t[i] == s[0] && !memcmp(t + i, s, k))
			return t + i;
	return NULL;
}

static int has(const char *t, size_t n, const char *s)
{
	return find(t, n, s, 0) != NULL;
}

/* Is s written as a whole string literal ('s' or "s")? */
static int has_literal(const char *t, size_t n, const char *s)
{
	char q[64];

	snprintf(q, sizeof(q), "'%s'", s);
	if (has(t, n, q))
		return 1;
	snprintf(q, sizeof(q), "\"%s\"", s);
	return has(t, n, q);
}

/* Does a literal s open an expression that goes on with `+ message`
 * (white space allowed around the +)? */
static int literal_before_message(const char *t, size_t n, const char *s)
{
	for (int quote = 0; quote < 2; quote++) {
		char q[64];
		const char *p = t;

		snprintf(q, sizeof(q), quote ? "\"%s\"" : "'%s'", s);
		while ((p = find(t, n, q, (size_t)(p - t)))) {
			const char *e = t + n, *c = p + strlen(q);

			while (c < e && (*c == ' ' || *c == '\t'))
				c++;
			if (c < e && *c == '+') {
				c++;
				while (c < e && (*c == ' ' || *c == '\t'))
					c++;
				if ((size_t)(e - c) >= 7 && !memcmp(c, "message", 7))
					return 1;
			}
			p++;
		}
	}
	return 0;
}

/* The [INST] templates: their spaces and their system message, read from
 * the literals they write (each published version writes its own). */
static void detect_inst(const char *t, size_t n, struct chat_format *f)
{
	const char *open, *close, *reply;
	enum chat_system_place sys = CHAT_SYSTEM_REFUSED;

	if (has_literal(t, n, " [INST] "))
		open = " [INST] ";
	else if (has_literal(t, n, "[INST]") || has(t, n, "'[INST]' +") || has(t, n, "\"[INST]\" +"))
		open = "[INST]";
	else
		open = "[INST] ";
	close = has(t, n, "' [/INST]") || has(t, n, "\" [/INST]") ? " [/INST]" : "[/INST]";
	reply = literal_before_message(t, n, " ") ? " " : "";
	snprintf(f->inst.after, sizeof(f->inst.after), "%s",
		 has(t, n, "eos_token + ' '") || has(t, n, "eos_token + \" \"") ? " " : "");
	f->inst.trim_reply = has(t, n, "]|trim + eos_token") || has(t, n, "] | trim + eos_token");
	if (has(t, n, "system_message"))
		sys = has(t, n, "loop.last and system_message") ? CHAT_SYSTEM_LAST_USER
								  : CHAT_SYSTEM_FIRST_USER;
	if (!strcmp(open, "[INST]"))
		f->family = CHAT_MISTRAL_TEKKEN;
	else if (!strcmp(close, "[/INST]"))
		f->family = CHAT_MISTRAL_V3;
	else
		f->family = CHAT_MISTRAL;
	set_inst(f, open, close, reply, sys);
}

/* Undo a Jinja string literal's escapes in s[0..n) into out (cap bytes);
 * -1 when it does not fit. */
static int unescape(const char *s, size_t n, char *out, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '\\' && i + 1 < n) {
			c = s[++i];
			c = c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r' : c;
		}
		if (o + 1 >= cap)
			return -1;
		out[o++] = c;
	}
	out[o] = '\0';
	return 0;
}

/* ChatML's default system prompt: a literal '<|im_start|>system\n...
 * <|im_end|>' that holds the text itself (not a variable), as Qwen2's,
 * Qwen2.5's and SmolLM2's templates write it for a conversation without a
 * system message. The newline after "system" may be written \n or as
 * itself. */
static void detect_default_system(const char *t, size_t n, struct chat_format *f)
{
	static const char head[] = "<|im_start|>system";
	const char *p = t, *e = t + n;

	while ((p = find(t, n, head, (size_t)(p - t)))) {
		const char *c = p + sizeof(head) - 1, *end;
		int ok = 1;

		p++;
		if (c + 2 <= e && c[0] == '\\' && c[1] == 'n')
			c += 2;
		else if (c < e && *c == '\n')
			c++;
		else
			continue;
		end = find(t, n, "<|im_end|>", (size_t)(c - t));
		if (!end || end == c)
			continue;
		/* inside one literal: no unescaped quote, no expression */
		for (const char *q = c; q < end && ok; q++) {
			if (*q == '\\') {
				q++;
				continue;
			}
			ok = *q != '\'' && *q != '"' && *q != '{' && *q != '}';
		}
		if (ok && !unescape(c, (size_t)(end - c), f->default_system,
				    sizeof(f->default_system))) {
			f->has_default_system = 1;
			return;
		}
	}
}

int chat_format_detect(const char *t, size_t n, struct chat_format *out)
{
	memset(out, 0, sizeof(*out));
	if (!t)
		return ADA_ENOTFOUND;
	if (has(t, n, "<|im_start|>")) {
		/* Phi-4's <|im_sep|> and SmolVLM's <end_of_utterance> look
		 * like ChatML but are not */
		if (has(t, n, "<|im_sep|>") || has(t, n, "<end_of_utterance>"))
			return ADA_ENOTFOUND;
		out->family = CHAT_CHATML;
		detect_default_system(t, n, out);
		return ADA_OK;
	}
	if (has(t, n, "<|start_header_id|>") && has(t, n, "<|end_header_id|>")) {
		out->family = has(t, n, "Cutting Knowledge Date") ? CHAT_LLAMA31 : CHAT_LLAMA3;
		return ADA_OK;
	}
	if (has(t, n, "[INST]")) {
		if (has(t, n, "[SYSTEM_PROMPT]"))
			return ADA_ENOTFOUND;       /* Mistral V7: not rendered */
		if (has(t, n, "<<SYS>>") || has(t, n, "bos_token + '[INST]")) {
			out->family = CHAT_LLAMA2;
			return ADA_OK;
		}
		detect_inst(t, n, out);
		return ADA_OK;
	}
	if (has(t, n, "<start_of_turn>")) {
		out->family = has(t, n, "first_user_prefix") ? CHAT_GEMMA3 : CHAT_GEMMA;
		return ADA_OK;
	}
	if (has(t, n, "<|assistant|>") && has(t, n, "<|end|>")) {
		out->family = CHAT_PHI3;
		return ADA_OK;
	}
	if (has(t, n, "<|user|>") && has(t, n, "<|assistant|>")) {
		out->family = CHAT_ZEPHYR;
		return ADA_OK;
	}
	return ADA_ENOTFOUND;
}

int chat_format_resolve(const char *name, const char *tmpl, size_t len, const char *model,
			struct chat_format *out, struct ada_err *err)
{
	struct chat_format det;
	int recognised = tmpl && !chat_format_detect(tmpl, len, &det);

	if (name && strcmp(name, "auto")) {
		int f = chat_family_from_name(name);

		if (f < 0)
			return ada_fail_param(err, ADA_EINVAL, "chat_template",
					      "chat_template: unknown template '%.64s' (known: %s)",
					      name, chat_family_list());
		if (recognised && det.family == (enum chat_family)f)
			*out = det;
		else
			chat_format_of_family((enum chat_family)f, out);
		return ADA_OK;
	}
	if (!tmpl)
		return ada_fail_param(err, ADA_EINVAL, "chat_template",
				      "chat data needs a chat template: model %s has none (GGUF "
				      "tokenizer.chat_template, tokenizer_config.json chat_template); "
				      "name the one to use with chat_template (%s)",
				      model, chat_family_list());
	if (!recognised)
		return ada_fail_param(err, ADA_EINVAL, "chat_template",
				      "the chat template of model %s is none we render (templates are "
				      "recognised, not run as Jinja): name the family it follows with "
				      "chat_template (%s)", model, chat_family_list());
	*out = det;
	return ADA_OK;
}

/* ---- where templates are stored ----------------------------------------- */

static int copy_out(const char *s, size_t n, char **out, size_t *len, struct ada_err *err)
{
	char *c = malloc(n + 1);

	if (!c)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	memcpy(c, s, n);
	c[n] = '\0';
	*out = c;
	if (len)
		*len = n;
	return ADA_OK;
}

int chat_template_read_gguf(const struct gguf *g, char **out, size_t *len, struct ada_err *err)
{
	const struct gguf_kv *kv = gguf_find_kv(g, "tokenizer.chat_template");

	*out = NULL;
	if (len)
		*len = 0;
	if (!kv || kv->type != GGUF_TYPE_STRING || !kv->v.str.len)
		return ADA_OK;
	return copy_out(kv->v.str.s, (size_t)kv->v.str.len, out, len, err);
}

/* tokenizer_config.json's chat_template: a string, or a list of named
 * templates of which "default" is the one apply_chat_template uses. */
static const json_t *config_template(const json_t *cfg)
{
	const json_t *v = json_object_get(cfg, "chat_template"), *e;
	size_t i;

	if (json_is_string(v))
		return v;
	json_array_foreach(v, i, e) {
		const json_t *name = json_object_get(e, "name");
		const json_t *tmpl = json_object_get(e, "template");

		if (json_is_string(name) && !strcmp(json_string_value(name), "default") &&
		    json_is_string(tmpl))
			return tmpl;
	}
	return NULL;
}

int chat_template_read_hf(const char *tokenizer_path, char **out, size_t *len,
			  struct ada_err *err)
{
	char *cfg_path = tokenizer_sibling(tokenizer_path, "tokenizer_config.json");
	char *jinja = tokenizer_sibling(tokenizer_path, "chat_template.jinja");
	json_t *cfg = NULL;
	json_error_t jerr;
	int rc = ADA_OK;

	*out = NULL;
	if (len)
		*len = 0;
	if (!cfg_path || !jinja) {
		rc = ada_fail(err, ADA_ENOMEM, "out of memory");
		goto out_free;
	}
	if (file_exists(cfg_path)) {
		const json_t *t;

		cfg = json_load_file(cfg_path, 0, &jerr);
		if (!json_is_object(cfg)) {
			rc = ada_fail(err, ADA_EFORMAT, "%s: line %d: %s", cfg_path, jerr.line,
				      cfg ? "not a JSON object" : jerr.text);
			goto out_free;
		}
		if ((t = config_template(cfg)) && json_string_length(t)) {
			rc = copy_out(json_string_value(t), json_string_length(t), out, len, err);
			goto out_free;
		}
	}
	if (file_exists(jinja)) {
		struct mapped_file mf;

		if ((rc = mapped_file_open(jinja, &mf, err)))
			goto out_free;
		if (mf.size > TEMPLATE_FILE_MAX)
			rc = ada_fail(err, ADA_EFORMAT, "%s: %zu bytes is too long for a chat template",
				      jinja, mf.size);
		else if (mf.size)
			rc = copy_out((const char *)mf.data, mf.size, out, len, err);
		mapped_file_close(&mf);
	}
out_free:
	json_decref(cfg);
	free(cfg_path);
	free(jinja);
	return rc;
}
