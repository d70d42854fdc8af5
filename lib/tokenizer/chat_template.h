/*
 * chat_template — a model's chat template: where its text is stored, and
 * which family of published templates it is.
 *
 * A chat template is a Jinja program (GGUF tokenizer.chat_template, Hugging
 * Face tokenizer_config.json "chat_template" or chat_template.jinja). We do
 * not run Jinja: a template is recognised by markers that every published
 * version of a family writes (its special tokens, the literals around a
 * turn, how it treats a system message), never by comparing whole strings,
 * and rendered by our own renderer for that family (data/chat.h). Which
 * published template each family follows is written in chat_template.c.
 *
 * This lives beside the tokenizer because the template is tokenizer
 * configuration in both formats (tokenizer_config.json, tokenizer.*), and
 * because both the model probe (lib/model) and the renderer (lib/data) need
 * the recognition.
 */
#ifndef ADA_TOKENIZER_CHAT_TEMPLATE_H
#define ADA_TOKENIZER_CHAT_TEMPLATE_H

#include <stddef.h>

#include "adalora.h"

struct gguf;

enum chat_family {
	CHAT_NONE = 0,
	CHAT_CHATML,          /* <|im_start|>role\n...<|im_end|>\n: Qwen2, Qwen2.5, SmolLM2 */
	CHAT_LLAMA3,          /* Llama 3.0: <|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|> */
	CHAT_LLAMA31,         /* Llama 3.1 / 3.2: the same, with the system header's
	                       * knowledge-date lines always written */
	CHAT_LLAMA2,          /* Llama-2-chat: <s>[INST] <<SYS>>...<</SYS>> user [/INST] a </s> */
	CHAT_MISTRAL,         /* Mistral tokenizer V1: <s> [INST] user [/INST] a</s> */
	CHAT_MISTRAL_V3,      /* Mistral tokenizers V2/V3: <s>[INST] user[/INST] a</s> */
	CHAT_MISTRAL_TEKKEN,  /* Mistral V3-Tekken: <s>[INST]user[/INST]a</s> */
	CHAT_GEMMA,           /* Gemma 1 and 2: <start_of_turn>user\n...<end_of_turn>\n; no system role */
	CHAT_GEMMA3,          /* Gemma 3: the same, the system prompt opens the first user turn */
	CHAT_PHI3,            /* Phi-3: <|user|>\n...<|end|>\n */
	CHAT_ZEPHYR,          /* Zephyr: <|user|>\n...</s>\n */
	CHAT_N_FAMILIES
};

/* Where the [INST] families put a system message. */
enum chat_system_place {
	CHAT_SYSTEM_REFUSED = 0,   /* the template raises on one: so do we */
	CHAT_SYSTEM_FIRST_USER,    /* "system\n\n" opens the first user turn */
	CHAT_SYSTEM_LAST_USER,     /* ... the last user turn */
};

/* The longest default system prompt we keep from a template. */
#define CHAT_SYSTEM_MAX 2048

struct chat_format {
	enum chat_family family;
	/* The system prompt the template writes when a conversation has none
	 * (Qwen2/2.5's and SmolLM2's ChatML templates do); valid when
	 * has_default_system. */
	int has_default_system;
	char default_system[CHAT_SYSTEM_MAX];
	/* The Mistral families: the literals around a turn, as the template
	 * writes them (the published templates differ in their spaces) */
	struct {
		char open[12];             /* "[INST] ", " [INST] ", "[INST]" */
		char close[12];            /* " [/INST]", "[/INST]" */
		char reply[4];             /* before an assistant message: " " or "" */
		char after[4];             /* after its eos_token: "" (Mistral-7B-Instruct-
		                            * v0.1's first template wrote " ") */
		int trim_reply;            /* the assistant's content | trim (v0.3's HF template) */
		enum chat_system_place system;
	} inst;
};

/* "chatml", "llama3", "llama3.1", "llama2", "mistral", "mistral-v3",
 * "mistral-tekken", "gemma", "gemma3", "phi3", "zephyr"; "none". */
const char *chat_family_name(enum chat_family f);
/* The family of a name above (not "none"), or -1. */
int chat_family_from_name(const char *name);
/* Every name, comma-separated, for messages. */
const char *chat_family_list(void);
/* The strings of a family's template that its own tokenizers have as
 * special tokens ("<|im_start|>", "<|im_end|>"), NULL-terminated. */
const char *const *chat_family_markers(enum chat_family f);
/* The format a family's name stands for when no template says more: its
 * current published template. */
void chat_format_of_family(enum chat_family f, struct chat_format *out);

/* Recognise a template's text: ADA_OK with *out filled, or ADA_ENOTFOUND
 * when it is no family we render (out is then zeroed). */
int chat_format_detect(const char *tmpl, size_t len, struct chat_format *out);

/*
 * The chat format a job uses: the family named by name (NULL or "auto":
 * none named), else the family of tmpl (the model's template text, NULL
 * when it has none). A name that is the family of tmpl takes tmpl's
 * details (its default system prompt, its spaces). An unknown name, no
 * name and no template, or an unrecognised template is ADA_EINVAL naming
 * param "chat_template"; model names the model in those messages.
 */
int chat_format_resolve(const char *name, const char *tmpl, size_t len, const char *model,
			struct chat_format *out, struct ada_err *err);

/* The template text of a GGUF file (tokenizer.chat_template), as a
 * malloc'ed NUL-terminated copy in *out (NULL when there is none or it is
 * not a string); *len may be NULL. */
int chat_template_read_gguf(const struct gguf *g, char **out, size_t *len, struct ada_err *err);

/* The template text beside a Hugging Face tokenizer file (tokenizer_path
 * is the tokenizer.json, or any file in the directory): tokenizer_config
 * .json's "chat_template" (a string, or the entry named "default" of a list
 * of {"name", "template"}), else chat_template.jinja. *out as above. */
int chat_template_read_hf(const char *tokenizer_path, char **out, size_t *len,
			  struct ada_err *err);

#endif
