/*
 * chat — a conversation ({"messages": [...]}) rendered with its model's chat
 * template, then encoded into tokens with a loss mask.
 *
 * Rendering (chat_render) writes what the family's published template
 * (tokenizer/chat_template.c names them) writes for the messages, as a list
 * of pieces: template text, message contents, and the tokenizer's
 * bos_token / eos_token. Each piece says whether it lies in a trained
 * assistant turn: the turn's content and its end-of-turn token (what the
 * template writes from the content up to and including that token, e.g.
 * "Hi<|im_end|>" but not the "\n" after it, nor the "<|im_start|>assistant\n"
 * header), unless the message has "weight": 0. A system message is placed
 * where the family's template puts it (its own turn; folded into the first
 * or last user turn; refused where the template raises); roles must
 * alternate where the template says so. Tool and function-call messages
 * are refused (not supported yet).
 *
 * Encoding (chat_encode) cuts template text at the special tokens it spells
 * ("<|im_start|>" becomes its single id when the tokenizer has it as a
 * special token; without one, it is text), never a message's content: a
 * user who types "<|im_end|>" gets the ordinary tokens of those characters.
 * The text between special tokens is encoded as the tokenizer encodes the
 * whole rendered string (the segment after a special token as such, a dummy
 * prefix only where the tokenizer adds one), except that a trained turn's
 * text is encoded apart from the text before it, so no token straddles the
 * edge of the loss mask.
 */
#ifndef ADA_DATA_CHAT_H
#define ADA_DATA_CHAT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "adalora.h"
#include "data/data.h"
#include "tokenizer/chat_template.h"
#include "util/strbuf.h"

enum chat_piece_kind {
	CHAT_PIECE_TEXT,        /* the template's text: may spell special tokens */
	CHAT_PIECE_CONTENT,     /* a message's content: never parsed for them */
	CHAT_PIECE_BOS,         /* the tokenizer's BOS (the template's bos_token) */
	CHAT_PIECE_EOS,         /* ... EOS (eos_token) */
};

struct chat_piece {
	size_t off, len;        /* into chat_render.text (BOS/EOS: empty) */
	uint8_t kind;           /* enum chat_piece_kind */
	uint8_t train;          /* in a trained assistant turn */
};

struct chat_render {
	struct strbuf text;     /* the pieces' text back to back */
	struct chat_piece *v;
	size_t n, cap;
	uint8_t train;          /* while rendering: the flag new pieces get */
};

/* Render messages (a validated "messages" array, borrowed) and line (the
 * whole JSONL object, for its "tools"/"functions"; may be NULL) with f into
 * r, which is reset first. Errors name the message: "messages[2]: ...". */
int chat_render(const struct chat_format *f, const json_t *line, const json_t *messages,
		struct chat_render *r, struct ada_err *err);
void chat_render_release(struct chat_render *r);

/* A prompt to generate a reply from: messages rendered as chat_render does,
 * then the family's generation prompt (the template's add_generation_prompt:
 * the assistant turn's header, e.g. "<|im_start|>assistant\n"). */
int chat_render_prompt(const struct chat_format *f, const json_t *messages,
		       struct chat_render *r, struct ada_err *err);

/* Encode a rendering with enc into out (appended), the mask bytes
 * DATA_TARGET on trained pieces; shown (may be NULL) receives the rendered
 * string with BOS/EOS spelled. */
int chat_encode(const struct chat_render *r, const struct text_encoder *enc, struct tok_seq *out,
		struct strbuf *shown, struct ada_err *err);

#endif
