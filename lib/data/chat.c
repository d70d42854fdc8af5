/*
 * chat — rendering conversations per template family, and encoding the
 * rendering; see chat.h. What each renderer writes is its family's
 * published template (tokenizer/chat_template.c lists them), read with
 * Hugging Face's Jinja settings (trim_blocks, lstrip_blocks) and with
 * add_generation_prompt false, as training renders a finished conversation.
 * Where we part from a template it is said at the renderer.
 */
#include "data/chat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer.h"   /* TOK_* flags only */
#include "tokenizer/unicode.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/utf8.h"

enum role { ROLE_SYSTEM, ROLE_USER, ROLE_ASSISTANT };

static const char *const role_names[] = { "system", "user", "assistant" };

struct msg {
	enum role role;
	const char *s;           /* content (borrowed from the JSON) */
	size_t n;
	int train;               /* an assistant turn with weight 1 */
};

struct ctx {
	const struct chat_format *f;
	struct chat_render *r;
	struct msg *m;
	size_t n;
	int oom;
	struct ada_err *err;
};

/* ---- pieces ------------------------------------------------------------- */

static void put(struct ctx *c, enum chat_piece_kind kind, const char *s, size_t n)
{
	struct chat_render *r = c->r;
	size_t off = r->text.n;

	if (c->oom || ((kind == CHAT_PIECE_TEXT || kind == CHAT_PIECE_CONTENT) && !n))
		return;
	if (ALLOC_GROW(r->v, r->n + 1, r->cap) || strbuf_add(&r->text, s, n)) {
		c->oom = 1;
		return;
	}
	r->v[r->n++] = (struct chat_piece){ .off = off, .len = n, .kind = (uint8_t)kind,
					    .train = r->train };
}

static void text(struct ctx *c, const char *s)
{
	put(c, CHAT_PIECE_TEXT, s, strlen(s));
}

static void content(struct ctx *c, const struct msg *m)
{
	put(c, CHAT_PIECE_CONTENT, m->s, m->n);
}

static void token(struct ctx *c, enum chat_piece_kind kind)
{
	put(c, kind, "", 0);
}

static void train(struct ctx *c, int on)
{
	c->r->train = (uint8_t)on;
}

/* Python's str.isspace(), which Jinja's trim and str.strip() use: White_Space
 * and the four ASCII separators U+001C..U+001F. */
static int is_space(uint32_t cp)
{
	return (cp >= 0x1c && cp <= 0x1f) || ucd_is_white_space(cp);
}

static size_t lead_space(const char *s, size_t n)
{
	size_t i = 0;
	uint32_t cp;
	int k;

	while (i < n && (k = utf8_decode((const unsigned char *)s + i, n - i, &cp)) > 0 &&
	       is_space(cp))
		i += (size_t)k;
	return i;
}

static size_t trail_space(const char *s, size_t n)
{
	size_t end = n;

	while (end > 0) {
		size_t start = end - 1;
		uint32_t cp;

		while (start > 0 && ((unsigned char)s[start] & 0xc0) == 0x80)
			start--;
		if (utf8_decode((const unsigned char *)s + start, end - start, &cp) !=
		    (int)(end - start) || !is_space(cp))
			break;
		end = start;
	}
	return n - end;
}

/* str.strip() of the text that pieces [first, r->n) spell together. */
static void strip_pieces(struct ctx *c, size_t first)
{
	struct chat_render *r = c->r;

	for (size_t i = first; i < r->n; i++) {
		struct chat_piece *p = &r->v[i];
		size_t k = lead_space(r->text.p + p->off, p->len);

		p->off += k;
		p->len -= k;
		if (p->len)
			break;
	}
	for (size_t i = r->n; i > first; i--) {
		struct chat_piece *p = &r->v[i - 1];
		size_t k = trail_space(r->text.p + p->off, p->len);

		p->len -= k;
		if (p->len)
			break;
	}
}

/* A message's content, | trim (or .strip()) applied. */
static void content_trimmed(struct ctx *c, const struct msg *m)
{
	size_t first = c->r->n;

	content(c, m);
	strip_pieces(c, first);
}

/* ---- checks the templates make ------------------------------------------ */

/* An error about message i (its index in the line's "messages"). */
static int fail_msg(struct ctx *c, size_t i, const char *fmt, const char *detail)
{
	char what[256];

	snprintf(what, sizeof(what), fmt, detail);
	return ada_fail(c->err, ADA_EFORMAT, "messages[%zu]: %s", i, what);
}

/* After an optional first system message (skipped: from is 0 or 1), roles
 * must go user, assistant, user, ...: the Llama-2, Mistral and Gemma
 * templates raise otherwise, and a later system message has no place. */
static int check_alternating(struct ctx *c, size_t from)
{
	for (size_t i = from; i < c->n; i++) {
		if (c->m[i].role == ROLE_SYSTEM)
			return fail_msg(c, i, "the %s template takes a system message only as the "
					"first message", chat_family_name(c->f->family));
		if ((c->m[i].role == ROLE_USER) != ((i - from) % 2 == 0))
			return fail_msg(c, i, "the %s template needs roles to alternate user, "
					"assistant, user, ... (after an optional system message)",
					chat_family_name(c->f->family));
	}
	return ADA_OK;
}

/* ---- the families -------------------------------------------------------- */

/* ChatML: '<|im_start|>' + role + '\n' + content + '<|im_end|>' + '\n' per
 * message; Qwen2/2.5 and SmolLM2 write their default system turn first
 * when the conversation does not start with one. */
static int render_chatml(struct ctx *c)
{
	const struct chat_format *f = c->f;

	if (f->has_default_system && c->m[0].role != ROLE_SYSTEM) {
		text(c, "<|im_start|>system\n");
		text(c, f->default_system);
		text(c, "<|im_end|>\n");
	}
	for (size_t i = 0; i < c->n; i++) {
		text(c, "<|im_start|>");
		text(c, role_names[c->m[i].role]);
		text(c, "\n");
		train(c, c->m[i].train);
		content(c, &c->m[i]);
		text(c, "<|im_end|>");
		train(c, 0);
		text(c, "\n");
	}
	return ADA_OK;
}

static void llama3_turn(struct ctx *c, const struct msg *m)
{
	text(c, "<|start_header_id|>");
	text(c, role_names[m->role]);
	text(c, "<|end_header_id|>\n\n");
	train(c, m->train);
	content_trimmed(c, m);
	text(c, "<|eot_id|>");
	train(c, 0);
}

/* Llama 3.0: bos_token, then '<|start_header_id|>' + role +
 * '<|end_header_id|>\n\n' + content | trim + '<|eot_id|>' per message. */
static int render_llama3(struct ctx *c)
{
	token(c, CHAT_PIECE_BOS);
	for (size_t i = 0; i < c->n; i++)
		llama3_turn(c, &c->m[i]);
	return ADA_OK;
}

/* Llama 3.1/3.2: the system header is always written, with the knowledge
 * date and "Today Date: " + date_string. The templates take date_string
 * from the caller (3.2: strftime_now, today) and fall back to "26 Jul
 * 2024"; training needs the same text every run, so we always write the
 * fallback. A first system message is trimmed into that header. */
static int render_llama31(struct ctx *c)
{
	size_t from = c->m[0].role == ROLE_SYSTEM;

	token(c, CHAT_PIECE_BOS);
	text(c, "<|start_header_id|>system<|end_header_id|>\n\n"
		"Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n");
	if (from)
		content_trimmed(c, &c->m[0]);
	text(c, "<|eot_id|>");
	for (size_t i = from; i < c->n; i++)
		llama3_turn(c, &c->m[i]);
	return ADA_OK;
}

/* Llama-2-chat: bos_token + '[INST] ' + content.strip() + ' [/INST]' per
 * user turn, the first system message folded in as '<<SYS>>\n' + system +
 * '\n<</SYS>>\n\n' before the first user content (the strip() is of the
 * whole); ' ' + content.strip() + ' ' + eos_token per assistant turn. */
static int render_llama2(struct ctx *c)
{
	size_t from = c->m[0].role == ROLE_SYSTEM;
	int rc = check_alternating(c, from);

	if (rc)
		return rc;
	for (size_t i = from; i < c->n; i++) {
		const struct msg *m = &c->m[i];

		if (m->role == ROLE_USER) {
			size_t first;

			token(c, CHAT_PIECE_BOS);
			text(c, "[INST] ");
			first = c->r->n;
			if (i == from && from) {
				text(c, "<<SYS>>\n");
				content(c, &c->m[0]);
				text(c, "\n<</SYS>>\n\n");
			}
			content(c, m);
			strip_pieces(c, first);
			text(c, " [/INST]");
		} else {
			train(c, m->train);
			text(c, " ");
			content_trimmed(c, m);
			text(c, " ");
			token(c, CHAT_PIECE_EOS);
			train(c, 0);
		}
	}
	return ADA_OK;
}

/* The Mistral families: bos_token, then open + content + close per user
 * turn and reply + content + eos_token per assistant turn (the literals as
 * the template writes them). A system message goes before the first or the
 * last user content with "\n\n" after it, as mistral-common does; V2/V3's
 * published Jinja tests loop.last, which drops it from a conversation that
 * ends with the assistant: we keep it in the last user turn. Templates that
 * raise on a system message make it an error here too. */
static int render_inst(struct ctx *c)
{
	const struct chat_format *f = c->f;
	size_t from = c->m[0].role == ROLE_SYSTEM, last_user = 0;
	int rc;

	if (from && f->inst.system == CHAT_SYSTEM_REFUSED)
		return fail_msg(c, 0, "the %s template has no system role (it raises on one)",
				chat_family_name(f->family));
	if ((rc = check_alternating(c, from)))
		return rc;
	for (size_t i = from; i < c->n; i++)
		if (c->m[i].role == ROLE_USER)
			last_user = i;
	token(c, CHAT_PIECE_BOS);
	for (size_t i = from; i < c->n; i++) {
		const struct msg *m = &c->m[i];

		if (m->role == ROLE_USER) {
			text(c, f->inst.open);
			if (from && ((f->inst.system == CHAT_SYSTEM_FIRST_USER && i == from) ||
				     (f->inst.system == CHAT_SYSTEM_LAST_USER && i == last_user))) {
				content(c, &c->m[0]);
				text(c, "\n\n");
			}
			content(c, m);
			text(c, f->inst.close);
		} else {
			train(c, m->train);
			text(c, f->inst.reply);
			if (f->inst.trim_reply)
				content_trimmed(c, m);
			else
				content(c, m);
			token(c, CHAT_PIECE_EOS);
			train(c, 0);
			text(c, f->inst.after);
		}
	}
	return ADA_OK;
}

/* Gemma: bos_token, then '<start_of_turn>' + role + '\n' + content | trim +
 * '<end_of_turn>\n' per message, the assistant's role written "model".
 * Gemma 1 and 2 raise on a system message; Gemma 3 writes its content +
 * '\n\n' at the start of the first user turn (before the trimmed content). */
static int render_gemma(struct ctx *c)
{
	size_t from = c->m[0].role == ROLE_SYSTEM;
	int rc;

	if (from && c->f->family == CHAT_GEMMA)
		return fail_msg(c, 0, "the %s template has no system role (Gemma 1 and 2 raise "
				"'System role not supported'; gemma3 puts it in the first user turn)",
				"gemma");
	if ((rc = check_alternating(c, from)))
		return rc;
	token(c, CHAT_PIECE_BOS);
	for (size_t i = from; i < c->n; i++) {
		const struct msg *m = &c->m[i];

		text(c, m->role == ROLE_ASSISTANT ? "<start_of_turn>model\n" : "<start_of_turn>user\n");
		if (i == from && from) {
			content(c, &c->m[0]);
			text(c, "\n\n");
		}
		train(c, m->train);
		content_trimmed(c, m);
		text(c, "<end_of_turn>");
		train(c, 0);
		text(c, "\n");
	}
	return ADA_OK;
}

/* Phi-3: '<|' + role + '|>\n' + content + '<|end|>\n' per message, then
 * eos_token (the template's add_generation_prompt=false branch). */
static int render_phi3(struct ctx *c)
{
	static const char *const heads[] = { "<|system|>\n", "<|user|>\n", "<|assistant|>\n" };

	for (size_t i = 0; i < c->n; i++) {
		text(c, heads[c->m[i].role]);
		train(c, c->m[i].train);
		content(c, &c->m[i]);
		text(c, "<|end|>");
		train(c, 0);
		text(c, "\n");
	}
	token(c, CHAT_PIECE_EOS);
	return ADA_OK;
}

/* Zephyr: '<|' + role + '|>\n' + content + eos_token per message, and the
 * newline trim_blocks leaves after each "}}". */
static int render_zephyr(struct ctx *c)
{
	static const char *const heads[] = { "<|system|>\n", "<|user|>\n", "<|assistant|>\n" };

	for (size_t i = 0; i < c->n; i++) {
		text(c, heads[c->m[i].role]);
		train(c, c->m[i].train);
		content(c, &c->m[i]);
		token(c, CHAT_PIECE_EOS);
		train(c, 0);
		text(c, "\n");
	}
	return ADA_OK;
}

/* ---- messages ----------------------------------------------------------- */

static int refuse_tools(struct ctx *c, const json_t *line)
{
	static const char *const line_keys[] = { "tools", "functions", "parallel_tool_calls" };

	for (size_t k = 0; line && k < sizeof(line_keys) / sizeof(line_keys[0]); k++)
		if (json_object_get(line, line_keys[k]))
			return ada_fail(c->err, ADA_EUNSUPPORTED,
					"%s: tool and function calling is not supported yet",
					line_keys[k]);
	return ADA_OK;
}

static int read_messages(struct ctx *c, const json_t *line, const json_t *messages)
{
	size_t i;
	json_t *m;
	int rc;

	if ((rc = refuse_tools(c, line)))
		return rc;
	c->n = json_array_size(messages);
	if (!c->n)
		return ada_fail(c->err, ADA_EINVAL, "messages: no messages");
	c->m = xcalloc(c->n, sizeof(*c->m));
	if (!c->m)
		return ada_fail(c->err, ADA_ENOMEM, "out of memory");
	json_array_foreach(messages, i, m) {
		const char *role = json_string_value(json_object_get(m, "role"));
		const json_t *body = json_object_get(m, "content");
		const json_t *weight = json_object_get(m, "weight");
		struct msg *out = &c->m[i];

		if (json_object_get(m, "tool_calls") || json_object_get(m, "function_call"))
			return ada_fail(c->err, ADA_EUNSUPPORTED,
					"messages[%zu].%s: tool and function calling is not supported yet",
					i, json_object_get(m, "tool_calls") ? "tool_calls" : "function_call");
		if (!role || (strcmp(role, "system") && strcmp(role, "user") && strcmp(role, "assistant")))
			return ada_fail(c->err, ADA_EUNSUPPORTED,
					"messages[%zu].role: \"%s\" messages (tool and function calling) "
					"are not supported yet", i, role && strlen(role) < 32 ? role : "?");
		if (!json_is_string(body))
			return ada_fail(c->err, ADA_EINVAL, "messages[%zu].content must be a string", i);
		out->role = !strcmp(role, "system") ? ROLE_SYSTEM :
			    !strcmp(role, "user") ? ROLE_USER : ROLE_ASSISTANT;
		out->s = json_string_value(body);
		out->n = json_string_length(body);
		out->train = out->role == ROLE_ASSISTANT &&
			     !(json_is_integer(weight) && json_integer_value(weight) == 0);
	}
	return ADA_OK;
}

int chat_render(const struct chat_format *f, const json_t *line, const json_t *messages,
		struct chat_render *r, struct ada_err *err)
{
	struct ctx c = { .f = f, .r = r, .err = err };
	int rc;

	r->text.n = 0;
	r->n = 0;
	r->train = 0;
	if ((rc = read_messages(&c, line, messages)))
		goto out;
	switch (f->family) {
	case CHAT_CHATML: rc = render_chatml(&c); break;
	case CHAT_LLAMA3: rc = render_llama3(&c); break;
	case CHAT_LLAMA31: rc = render_llama31(&c); break;
	case CHAT_LLAMA2: rc = render_llama2(&c); break;
	case CHAT_MISTRAL:
	case CHAT_MISTRAL_V3:
	case CHAT_MISTRAL_TEKKEN: rc = render_inst(&c); break;
	case CHAT_GEMMA:
	case CHAT_GEMMA3: rc = render_gemma(&c); break;
	case CHAT_PHI3: rc = render_phi3(&c); break;
	case CHAT_ZEPHYR: rc = render_zephyr(&c); break;
	default:
		rc = ada_fail(err, ADA_EINVAL, "no chat template to render with");
		break;
	}
	if (!rc && c.oom)
		rc = ada_fail(err, ADA_ENOMEM, "out of memory");
out:
	free(c.m);
	return rc;
}

/* What each family's template writes with add_generation_prompt true
 * after the conversation: the header of the assistant's turn. Llama-2's and
 * the Mistral families' turns need none (the reply follows [/INST]); Phi-3
 * writes "<|assistant|>\n" instead of its closing eos_token. */
int chat_render_prompt(const struct chat_format *f, const json_t *messages,
		       struct chat_render *r, struct ada_err *err)
{
	struct ctx c = { .f = f, .r = r, .err = err };
	int rc = chat_render(f, NULL, messages, r, err);

	if (rc)
		return rc;
	switch (f->family) {
	case CHAT_CHATML: text(&c, "<|im_start|>assistant\n"); break;
	case CHAT_LLAMA3:
	case CHAT_LLAMA31: text(&c, "<|start_header_id|>assistant<|end_header_id|>\n\n"); break;
	case CHAT_GEMMA:
	case CHAT_GEMMA3: text(&c, "<start_of_turn>model\n"); break;
	case CHAT_PHI3:
		if (r->n && r->v[r->n - 1].kind == CHAT_PIECE_EOS)
			r->n--;
		text(&c, "<|assistant|>\n");
		break;
	case CHAT_ZEPHYR: text(&c, "<|assistant|>\n"); break;
	default: break;
	}
	return c.oom ? ada_fail(err, ADA_ENOMEM, "out of memory") : ADA_OK;
}

void chat_render_release(struct chat_render *r)
{
	strbuf_release(&r->text);
	free(r->v);
	memset(r, 0, sizeof(*r));
}

/* ---- encoding ------------------------------------------------------------ */

enum where { AT_START, AFTER_SPECIAL, CONTINUES };

struct encoder {
	const struct text_encoder *enc;
	struct tok_seq *out;
	struct strbuf *shown;
	struct strbuf run;       /* plain text not encoded yet */
	uint8_t run_train;
	enum where where;
	struct ada_err *err;
};

static int flush(struct encoder *e)
{
	unsigned flags = e->where == AT_START ? 0 : e->where == AFTER_SPECIAL ? TOK_AFTER_SPECIAL
									: TOK_NO_PREFIX_SPACE;
	size_t from = e->out->tok.n;
	int rc;

	if (!e->run.n)
		return ADA_OK;
	rc = e->enc->encode(e->enc->ctx, e->run.p, e->run.n, flags, &e->out->tok, e->err);
	if (!rc)
		rc = tok_seq_mark(e->out, from, e->run_train ? DATA_TARGET : 0, e->err);
	e->run.n = 0;
	e->where = CONTINUES;
	return rc;
}

static int plain(struct encoder *e, const char *s, size_t n, uint8_t trained)
{
	int rc;

	if (!n)
		return ADA_OK;
	if (e->run.n && e->run_train != trained && (rc = flush(e)))
		return rc;
	e->run_train = trained;
	if (strbuf_add(&e->run, s, n) || (e->shown && strbuf_add(e->shown, s, n)))
		return ada_fail(e->err, ADA_ENOMEM, "out of memory");
	return ADA_OK;
}

static int special(struct encoder *e, int32_t id, const char *spelled, size_t n, uint8_t trained)
{
	char fallback[32];
	int rc;

	if ((rc = flush(e)))
		return rc;
	if ((rc = tok_seq_push(e->out, id, trained ? DATA_TARGET : 0, e->err)))
		return rc;
	e->where = AFTER_SPECIAL;
	if (!e->shown)
		return ADA_OK;
	if (!spelled) {
		n = (size_t)snprintf(fallback, sizeof(fallback), "<id %d>", (int)id);
		spelled = fallback;
	}
	if (strbuf_add(e->shown, spelled, n))
		return ada_fail(e->err, ADA_ENOMEM, "out of memory");
	return ADA_OK;
}

/* Template text: cut at the special tokens it spells. */
static int template_text(struct encoder *e, const char *s, size_t n, uint8_t trained)
{
	size_t pos = 0, at, mlen;
	int32_t id;
	int rc;

	while (e->enc->special && pos < n &&
	       e->enc->special(e->enc->ctx, s, n, pos, &at, &mlen, &id)) {
		if ((rc = plain(e, s + pos, at - pos, trained)) ||
		    (rc = special(e, id, s + at, mlen, trained)))
			return rc;
		pos = at + mlen;
	}
	return plain(e, s + pos, n - pos, trained);
}

static int bos_eos(struct encoder *e, int eos, uint8_t trained)
{
	const struct text_encoder *enc = e->enc;
	int32_t id = eos ? enc->eos : enc->bos;
	const char *spelled = NULL;
	size_t n = 0;

	if (id < 0)
		return ada_fail(e->err, ADA_EINVAL,
				"the chat template writes %s, and the tokenizer has none",
				eos ? "eos_token" : "bos_token");
	if (enc->spell)
		spelled = enc->spell(enc->ctx, id, &n);
	return special(e, id, spelled, n, trained);
}

int chat_encode(const struct chat_render *r, const struct text_encoder *enc, struct tok_seq *out,
		struct strbuf *shown, struct ada_err *err)
{
	struct encoder e = { .enc = enc, .out = out, .shown = shown, .where = AT_START, .err = err };
	size_t i = 0;
	int rc = ADA_OK;

	while (i < r->n && !rc) {
		const struct chat_piece *p = &r->v[i];

		if (p->kind == CHAT_PIECE_TEXT) {
			/* adjacent template text is one string: a special token may
			 * span two pieces ("<|" + "im_start|>") */
			struct strbuf joined = STRBUF_INIT;
			size_t j = i;

			for (; j < r->n && r->v[j].kind == CHAT_PIECE_TEXT &&
			       r->v[j].train == p->train; j++)
				if (strbuf_add(&joined, r->text.p + r->v[j].off, r->v[j].len))
					rc = ada_fail(err, ADA_ENOMEM, "out of memory");
			if (!rc)
				rc = template_text(&e, joined.p ? joined.p : "", joined.n, p->train);
			strbuf_release(&joined);
			i = j;
			continue;
		}
		if (p->kind == CHAT_PIECE_CONTENT)
			rc = plain(&e, r->text.p + p->off, p->len, p->train);
		else
			rc = bos_eos(&e, p->kind == CHAT_PIECE_EOS, p->train);
		i++;
	}
	if (!rc)
		rc = flush(&e);
	strbuf_release(&e.run);
	return rc;
}
