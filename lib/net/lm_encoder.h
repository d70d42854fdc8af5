/*
 * lm_encoder — how a causal language model's data becomes tokens: the
 * job's tokenizer behind data/data.h's text_encoder, with the framing the
 * job asks for (append_eos, chat_template) resolved against the model.
 *
 * Shared by training (trainer_lm.c), `adalora eval` and `adalora render`,
 * so all three read a file the same way.
 */
#ifndef ADA_NET_LM_ENCODER_H
#define ADA_NET_LM_ENCODER_H

#include "adalora.h"
#include "data/data.h"
#include "tokenizer/chat_template.h"

struct tokenizer;

struct lm_encoder {
	struct text_encoder enc;    /* points into this struct: do not move it */
	struct chat_format chat;
	int has_chat;               /* chat lines can be rendered (enc.chat set) */
	int chat_named;             /* the family was named, not the model's own */
	int append_eos;             /* the framing resolved: 1 EOS after each text */
	char chat_refusal[512];     /* without has_chat: why (param chat_template) */
};

/* Set up e over tokenizer t (borrowed; outlives e). chat_template: a family
 * name, or NULL / "" / "auto" for the model's own template (the tokenizer's);
 * append_eos: 0, 1 or -1 for default_append_eos, the model's
 * (model_default_append_eos). model_name names the model in messages.
 * An unknown family name is ADA_EINVAL naming "chat_template"; a model
 * without a usable template is no error here: chat lines are then refused
 * when read, with the reason in chat_refusal. */
int lm_encoder_init(struct lm_encoder *e, const struct tokenizer *t, const char *chat_template,
		    int append_eos, int default_append_eos, const char *model_name,
		    struct ada_err *err);

/* The template's special tokens ("<|im_start|>", ...) that t does not have
 * as special tokens (so they are encoded as text), comma-separated into buf;
 * 0 when it has them all. */
int lm_encoder_missing_markers(const struct lm_encoder *e, const struct tokenizer *t, char *buf,
			       size_t cap);

#endif
