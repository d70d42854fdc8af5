/*
 * infer — inference requests between a connection and the engine: the job
 * object (struct api_infer, api.h), OpenAI's response objects and stream
 * chunks, and waking the connection.
 *
 * A request's handler (h_infer.c) checks the body, makes the job and hands
 * it to the engine (hooks.infer_submit), then suspends its connection:
 * decoding takes far longer than a request should hold an HTTP thread.
 * The engine reports on its own thread (api_infer_start, _emit, _end,
 * _fail, _classified); each report formats what the client gets into the
 * job's buffer under the job's lock and resumes the connection when it
 * sleeps. A non-streaming request is answered once the job ends; a
 * stream's headers go out at the start and each chunk as it comes, the
 * content reader suspending the connection whenever the buffer is empty
 * (as sse.c does), so no thread waits on a slow generation.
 *
 * A client that leaves ends its generation: the request's completion
 * callback marks the job gone (a failed write ends a stream's request), and
 * while a connection is suspended api_infer_gone looks at its socket for a
 * hang-up, which the engine asks before every step. A stream whose client
 * stops reading is dropped when API_INFER_MAX_PENDING bytes wait unsent.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "http.h"
#include "util/alloc.h"
#include "util/utf8.h"

/* Unsent bytes of a stream beyond which its client counts as gone. */
#define API_INFER_MAX_PENDING (1u << 20)

static void job_free(struct api_infer *j)
{
	pthread_mutex_destroy(&j->lock);
	json_decref(j->body);
	json_decref(j->messages);
	json_decref(j->inputs);
	json_decref(j->lp);
	json_decref(j->result);
	free(j->ids);
	for (int i = 0; i < j->p.n_stop; i++)
		free((char *)j->p.stop[i]);
	strbuf_release(&j->out);
	strbuf_release(&j->text);
	free(j);
}

struct api_infer *infer_job_new(struct request *r, enum api_infer_kind kind)
{
	struct api_infer *j = xcalloc(1, sizeof(*j));
	unsigned char rnd[12];
	static const char hex[] = "0123456789abcdef";
	const char *prefix = kind == API_INFER_CHAT ? "chatcmpl-"
			     : kind == API_INFER_COMPLETION ? "cmpl-"
			     : kind == API_INFER_QA ? "qa-" : "clf-";
	size_t n;

	if (!j)
		return NULL;
	atomic_init(&j->refs, 1);
	pthread_mutex_init(&j->lock, NULL);
	j->api = r->api;
	j->conn = r->conn;
	j->fd = -1;
	{
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		if (ci)
			j->fd = ci->connect_fd;
	}
	j->p.kind = kind;
	j->created = (int64_t)time(NULL);
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		memset(rnd, 0, sizeof(rnd));
	n = (size_t)snprintf(j->id, sizeof(j->id), "%s", prefix);
	for (size_t i = 0; i < sizeof(rnd) && n + 2 < sizeof(j->id); i++) {
		j->id[n++] = hex[rnd[i] >> 4];
		j->id[n++] = hex[rnd[i] & 15];
	}
	j->id[n] = '\0';
	return j;
}

const struct api_infer_params *api_infer_params(const struct api_infer *j)
{
	return &j->p;
}

struct api_infer *api_infer_ref(struct api_infer *j)
{
	atomic_fetch_add(&j->refs, 1);
	return j;
}

void api_infer_unref(struct api_infer *j)
{
	if (j && atomic_fetch_sub(&j->refs, 1) == 1)
		job_free(j);
}

/* Wake the connection if it sleeps. Caller holds j->lock. */
static void wake_locked(struct api_infer *j)
{
	if (j->suspended && j->conn) {
		j->suspended = 0;
		MHD_resume_connection(j->conn);
	}
}

int api_infer_gone(struct api_infer *j)
{
	int gone;

	pthread_mutex_lock(&j->lock);
	if (!j->gone && j->conn && j->suspended && stream_peer_gone(j->fd)) {
		j->gone = 1;
		wake_locked(j);   /* libmicrohttpd then sees the close and ends the request */
	}
	gone = j->gone;
	pthread_mutex_unlock(&j->lock);
	return gone;
}

/* ---- OpenAI's objects ----------------------------------------------------- */

/* A token's text for logprobs: itself when valid UTF-8, else OpenAI's
 * "bytes:\xNN..." spelling of its bytes. */
static json_t *token_string(const char *b, size_t n)
{
	char buf[512];
	size_t o;

	if (utf8_validate(b, n) == n)
		return json_stringn(b, n);
	o = (size_t)snprintf(buf, sizeof(buf), "bytes:");
	for (size_t i = 0; i < n && o + 5 < sizeof(buf); i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "\\x%02x", (unsigned char)b[i]);
	return json_stringn(buf, o);
}

static json_t *byte_array(const char *b, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_integer((unsigned char)b[i]));
	return a;
}

static json_t *real(float v)
{
	return json_real(isfinite(v) ? (double)v : -9999.0);
}

/* Chat: one entry of logprobs.content. */
static json_t *chat_logprob(const struct api_infer_token *t)
{
	json_t *top = json_array();

	for (int i = 0; i < t->n_top; i++)
		json_array_append_new(top, json_pack("{s:o,s:o,s:o}", "token",
						     token_string(t->top_bytes[i], t->top_n[i]),
						     "logprob", real(t->top_logprob[i]), "bytes",
						     byte_array(t->top_bytes[i], t->top_n[i])));
	return json_pack("{s:o,s:o,s:o,s:o}", "token", token_string(t->bytes, t->n), "logprob",
			 real(t->logprob), "bytes", byte_array(t->bytes, t->n), "top_logprobs", top);
}

/* Completions: append one token to a logprobs object {tokens,
 * token_logprobs, top_logprobs, text_offset}. */
static void completion_logprob(json_t *lp, const struct api_infer_token *t, size_t offset)
{
	json_t *top = json_object();

	json_array_append_new(json_object_get(lp, "tokens"), token_string(t->bytes, t->n));
	json_array_append_new(json_object_get(lp, "token_logprobs"), real(t->logprob));
	for (int i = 0; i < t->n_top; i++) {
		json_t *k = token_string(t->top_bytes[i], t->top_n[i]);
		if (!json_object_get(top, json_string_value(k)))
			json_object_set_new(top, json_string_value(k), real(t->top_logprob[i]));
		json_decref(k);
	}
	json_array_append_new(json_object_get(lp, "top_logprobs"), top);
	json_array_append_new(json_object_get(lp, "text_offset"), json_integer((json_int_t)offset));
}

static json_t *new_completion_logprobs(void)
{
	return json_pack("{s:[],s:[],s:[],s:[]}", "tokens", "token_logprobs", "top_logprobs",
			 "text_offset");
}

static json_t *usage(const struct api_infer *j)
{
	return json_pack("{s:i,s:i,s:i}", "prompt_tokens", j->prompt_tokens, "completion_tokens",
			 j->completion_tokens, "total_tokens", j->prompt_tokens + j->completion_tokens);
}

static json_t *chunk_head(const struct api_infer *j)
{
	json_t *o = json_pack("{s:s,s:s,s:I,s:s,s:n}", "id", j->id, "object",
			      j->p.kind == API_INFER_CHAT ? "chat.completion.chunk" : "text_completion",
			      "created", (json_int_t)j->created, "model", j->p.model,
			      "system_fingerprint");

	if (j->p.include_usage)
		json_object_set_new(o, "usage", json_null());
	return o;
}

/* Append "data: <obj>\n\n" (obj stolen). Caller holds the lock. */
static void send_event(struct api_infer *j, json_t *obj)
{
	char *text = obj ? json_dumps(obj, API_JSON_FLAGS) : NULL;

	json_decref(obj);
	if (!text) {
		j->gone = 1;
		return;
	}
	strbuf_addstr(&j->out, "data: ");
	strbuf_addstr(&j->out, text);
	strbuf_add(&j->out, "\n\n", 2);
	free(text);
	if (j->out.failed || j->out.n - j->off > API_INFER_MAX_PENDING)
		j->gone = 1;   /* out of memory, or a client that does not read */
}

/* A stream chunk of one choice: text (or the chat delta's content), its
 * logprobs (may be NULL), finish_reason (NULL: null). */
static void send_chunk(struct api_infer *j, const char *text, size_t n, json_t *logprobs,
		       const char *finish)
{
	json_t *o = chunk_head(j), *choice;

	if (j->p.kind == API_INFER_CHAT) {
		json_t *delta = json_object();
		if (!j->role_sent) {
			json_object_set_new(delta, "role", json_string("assistant"));
			j->role_sent = 1;
		}
		if (text)
			json_object_set_new(delta, "content", json_stringn(text, n));
		choice = json_pack("{s:i,s:o}", "index", 0, "delta", delta);
	} else {
		choice = json_pack("{s:s%,s:i}", "text", text ? text : "", text ? n : 0, "index", 0);
	}
	json_object_set_new(choice, "logprobs", logprobs ? logprobs : json_null());
	json_object_set_new(choice, "finish_reason", finish ? json_string(finish) : json_null());
	json_object_set_new(o, "choices", json_pack("[o]", choice));
	send_event(j, o);
}

/* ---- the engine's reports ---------------------------------------------------- */

void api_infer_start(struct api_infer *j, int prompt_tokens)
{
	pthread_mutex_lock(&j->lock);
	j->prompt_tokens = prompt_tokens;
	j->started = 1;
	if (j->p.logprobs && j->p.kind == API_INFER_COMPLETION)
		j->lp = new_completion_logprobs();
	else if (j->p.logprobs)
		j->lp = json_array();
	if (j->p.stream) {
		if (j->p.kind == API_INFER_CHAT)
			send_chunk(j, "", 0, NULL, NULL);   /* the role, as OpenAI's first chunk */
		j->ready = 1;
		wake_locked(j);
	}
	pthread_mutex_unlock(&j->lock);
}

void api_infer_emit(struct api_infer *j, const char *text, size_t n,
		    const struct api_infer_token *tok)
{
	pthread_mutex_lock(&j->lock);
	if (!j->p.stream) {
		strbuf_add(&j->text, text, n);
		if (tok && j->lp && j->p.kind == API_INFER_CHAT)
			json_array_append_new(j->lp, chat_logprob(tok));
		else if (tok && j->lp)
			completion_logprob(j->lp, tok, j->text_offset);
	} else if (n || (tok && j->lp)) {
		json_t *lp = NULL;
		if (tok && j->lp && j->p.kind == API_INFER_CHAT) {
			lp = json_pack("{s:[o]}", "content", chat_logprob(tok));
		} else if (tok && j->lp) {
			lp = new_completion_logprobs();
			completion_logprob(lp, tok, j->text_offset);
		}
		send_chunk(j, text, n, lp, NULL);
		wake_locked(j);
	}
	if (tok)
		j->text_offset += tok->n;
	pthread_mutex_unlock(&j->lock);
}

/* The non-streaming response, as text (malloc'ed). Caller holds the lock. */
static char *final_object(struct api_infer *j)
{
	json_t *o, *choice;
	char *text;

	if (j->p.kind == API_INFER_CLASSIFY || j->p.kind == API_INFER_QA) {
		o = json_pack("{s:s,s:s,s:s,s:I,s:O,s:{s:i,s:i}}", "id", j->id, "object", "list",
			      "model", j->p.model, "created", (json_int_t)j->created, "data",
			      j->result, "usage", "prompt_tokens", j->prompt_tokens, "total_tokens",
			      j->prompt_tokens);
	} else {
		json_t *lp = j->lp ? json_incref(j->lp) : json_null();
		if (j->p.kind == API_INFER_CHAT) {
			if (j->lp) {
				json_decref(lp);
				lp = json_pack("{s:O,s:n}", "content", j->lp, "refusal");
			}
			choice = json_pack("{s:i,s:{s:s,s:s%,s:n},s:o,s:s}", "index", 0, "message",
					   "role", "assistant", "content", j->text.p ? j->text.p : "",
					   j->text.n, "refusal", "logprobs", lp, "finish_reason",
					   j->finish);
		} else {
			choice = json_pack("{s:s%,s:i,s:o,s:s}", "text", j->text.p ? j->text.p : "",
					   j->text.n, "index", 0, "logprobs", lp, "finish_reason",
					   j->finish);
		}
		o = json_pack("{s:s,s:s,s:I,s:s,s:n,s:[o],s:o}", "id", j->id, "object",
			      j->p.kind == API_INFER_CHAT ? "chat.completion" : "text_completion",
			      "created", (json_int_t)j->created, "model", j->p.model,
			      "system_fingerprint", "choices", choice, "usage", usage(j));
	}
	text = o ? json_dumps(o, API_JSON_FLAGS) : NULL;
	json_decref(o);
	return text;
}

void api_infer_end(struct api_infer *j, const char *finish_reason, int completion_tokens)
{
	pthread_mutex_lock(&j->lock);
	snprintf(j->finish, sizeof(j->finish), "%s", finish_reason);
	j->completion_tokens = completion_tokens;
	if (j->p.stream) {
		send_chunk(j, j->p.kind == API_INFER_CHAT ? NULL : "", 0, NULL, j->finish);
		if (j->p.include_usage) {
			json_t *o = chunk_head(j);
			json_object_set_new(o, "choices", json_array());
			json_object_set_new(o, "usage", usage(j));
			send_event(j, o);
		}
		strbuf_addstr(&j->out, "data: [DONE]\n\n");
	}
	j->done = 1;
	j->ready = 1;
	wake_locked(j);
	pthread_mutex_unlock(&j->lock);
}

void api_infer_classified(struct api_infer *j, json_t *data, int prompt_tokens)
{
	pthread_mutex_lock(&j->lock);
	json_decref(j->result);
	j->result = data;
	j->prompt_tokens = prompt_tokens;
	j->started = j->done = j->ready = 1;
	wake_locked(j);
	pthread_mutex_unlock(&j->lock);
}

void api_infer_fail(struct api_infer *j, unsigned status, const char *code, const char *param,
		    const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&j->lock);
	va_start(ap, fmt);
	vsnprintf(j->fail_msg, sizeof(j->fail_msg), fmt, ap);
	va_end(ap);
	j->fail_msg[utf8_validate(j->fail_msg, strlen(j->fail_msg))] = '\0';
	j->fail_status = status;
	snprintf(j->fail_code, sizeof(j->fail_code), "%s", code ? code : "");
	snprintf(j->fail_param, sizeof(j->fail_param), "%s", param ? param : "");
	if (j->started && j->p.stream) {
		/* Headers are out: OpenAI ends such a stream with an error event. */
		send_event(j, error_object(status, code, param, j->fail_msg));
		strbuf_addstr(&j->out, "data: [DONE]\n\n");
	}
	j->failed = j->done = j->ready = 1;
	wake_locked(j);
	pthread_mutex_unlock(&j->lock);
}

/* ---- the connection's side --------------------------------------------------- */

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct api_infer *j = cls;
	ssize_t n;

	(void)pos;
	pthread_mutex_lock(&j->lock);
	if (j->off < j->out.n) {
		n = (ssize_t)(j->out.n - j->off < max ? j->out.n - j->off : max);
		memcpy(buf, j->out.p + j->off, (size_t)n);
		j->off += (size_t)n;
		if (j->off == j->out.n) {
			strbuf_reset(&j->out);
			j->off = 0;
		}
	} else if (j->done || j->gone) {
		n = MHD_CONTENT_READER_END_OF_STREAM;
	} else {
		j->suspended = 1;
		MHD_suspend_connection(j->conn);
		n = 0;
	}
	pthread_mutex_unlock(&j->lock);
	return n;
}

static void stream_release(void *cls)
{
	api_infer_unref(cls);
}

/* Answer from the job's state; suspend again when there is nothing yet. */
static void respond(struct request *r)
{
	struct api_infer *j = r->infer;
	struct MHD_Response *resp;
	char *text;

	pthread_mutex_lock(&j->lock);
	if (!j->ready && !j->gone) {
		j->suspended = 1;
		r->waiting = 1;
		MHD_suspend_connection(r->conn);
		pthread_mutex_unlock(&j->lock);
		return;
	}
	r->waiting = 0;
	if (j->failed && !(j->started && j->p.stream)) {
		unsigned status = j->fail_status;
		char code[48], param[128], msg[512];

		snprintf(code, sizeof(code), "%s", j->fail_code);
		snprintf(param, sizeof(param), "%s", j->fail_param);
		snprintf(msg, sizeof(msg), "%s", j->fail_msg);
		pthread_mutex_unlock(&j->lock);
		reply_error(r, status, code[0] ? code : NULL, param[0] ? param : NULL, "%s", msg);
		return;
	}
	if (j->gone && !j->started) {
		pthread_mutex_unlock(&j->lock);
		reply_error(r, 503, "client_gone", NULL, "the request was dropped");
		return;
	}
	if (j->p.stream) {
		pthread_mutex_unlock(&j->lock);
		if (!(resp = stream_response(stream_read, api_infer_ref(j), stream_release))) {
			api_infer_unref(j);
			reply_error(r, 500, "out_of_memory", NULL, "out of memory");
			return;
		}
		reply_response(r, 200, resp);
		return;
	}
	text = final_object(j);
	pthread_mutex_unlock(&j->lock);
	reply_text(r, 200, text, text ? strlen(text) : 0);
}

void infer_wait(struct request *r)
{
	respond(r);
}

void infer_request_done(struct request *r)
{
	struct api_infer *j = r->infer;

	if (!j)
		return;
	pthread_mutex_lock(&j->lock);
	j->conn = NULL;
	j->suspended = 0;
	if (!j->done)
		j->gone = 1;
	pthread_mutex_unlock(&j->lock);
	r->infer = NULL;
	api_infer_unref(j);
}
