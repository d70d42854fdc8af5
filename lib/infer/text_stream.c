/*
 * text_stream — the text of a completion as its tokens arrive
 * (ada_text_stream_*, adalora.h).
 *
 * Pieces are bytes: a byte-level token may be half a character. The stream
 * keeps such a tail until it completes (or cannot: then each maximal
 * subpart of an ill-formed sequence becomes one U+FFFD, as the WHATWG
 * decoder of browsers and Node does), so what it hands out is always valid
 * UTF-8. Stop strings are searched in the
 * decoded text, across pieces; text that is a prefix of a stop string is
 * held back until it is known not to be one, so a client never receives
 * part of a stop string (OpenAI's stop semantics: the text ends just
 * before it).
 */
#include <stdlib.h>
#include <string.h>

#include "adalora.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/strbuf.h"
#include "util/utf8.h"

struct ada_text_stream {
	char **stops;
	size_t *stop_len;
	int n_stops;
	struct strbuf raw;      /* bytes not yet decoded (an unfinished character) */
	struct strbuf text;     /* decoded, not yet handed out */
	struct strbuf out;      /* what the last call hands out */
	int stopped;
};

int ada_text_stream_new(const char *const *stops, int n_stops, struct ada_text_stream **out,
			struct ada_err *err)
{
	struct ada_text_stream *t = xcalloc(1, sizeof(*t));

	*out = NULL;
	if (!t)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	t->stops = xcalloc((size_t)(n_stops > 0 ? n_stops : 1), sizeof(*t->stops));
	t->stop_len = xcalloc((size_t)(n_stops > 0 ? n_stops : 1), sizeof(*t->stop_len));
	if (!t->stops || !t->stop_len)
		goto out_oom;
	for (int i = 0; i < n_stops; i++) {
		if (!stops[i] || !stops[i][0])
			continue;
		if (!(t->stops[t->n_stops] = xstrdup(stops[i])))
			goto out_oom;
		t->stop_len[t->n_stops++] = strlen(stops[i]);
	}
	*out = t;
	return ADA_OK;
out_oom:
	ada_text_stream_free(t);
	return ada_fail(err, ADA_ENOMEM, "out of memory");
}

void ada_text_stream_free(struct ada_text_stream *t)
{
	if (!t)
		return;
	for (int i = 0; i < t->n_stops; i++)
		free(t->stops[i]);
	free(t->stops);
	free(t->stop_len);
	strbuf_release(&t->raw);
	strbuf_release(&t->text);
	strbuf_release(&t->out);
	free(t);
}

/* How many bytes of s[0..n) (n >= 1) begin a well-formed character: its
 * "maximal subpart" (Unicode 15, section 3.9), 0 when s[0] begins none. A
 * whole character is a subpart of its own length. */
static size_t subpart(const unsigned char *s, size_t n)
{
	const unsigned char c = s[0];
	size_t need, k;
	unsigned char lo = 0x80, hi = 0xbf;

	if (c >= 0xc2 && c <= 0xdf)
		need = 2;
	else if (c >= 0xe0 && c <= 0xef)
		need = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		need = 4;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	for (k = 1; k < need && k < n; k++)
		if (s[k] < (k == 1 ? lo : 0x80) || s[k] > (k == 1 ? hi : 0xbf))
			break;
	return k;
}

/* Could s[0..n) (n >= 1, not a whole character) still become one? */
static int unfinished(const unsigned char *s, size_t n)
{
	const size_t k = subpart(s, n);

	return k == n && k > 0 && utf8_decode(s, n, &(uint32_t){ 0 }) == 0;
}

/* Move what of raw is decided into text; at_end: an unfinished tail too. */
static int decode(struct ada_text_stream *t, int at_end)
{
	const unsigned char *s = (const unsigned char *)t->raw.p;
	size_t i = 0, n = t->raw.n, sub;

	while (i < n) {
		uint32_t cp;
		int k = utf8_decode(s + i, n - i, &cp);

		if (k > 0) {
			if (strbuf_add(&t->text, s + i, (size_t)k))
				return -1;
			i += (size_t)k;
			continue;
		}
		if (!at_end && unfinished(s + i, n - i))
			break;
		/* one U+FFFD per maximal subpart (Unicode's recommended practice,
		 * and the WHATWG decoder's that browsers and Node use), so a
		 * client decoding the tokens' bytes itself gets this text */
		if (strbuf_add(&t->text, "\xef\xbf\xbd", 3))
			return -1;
		sub = subpart(s + i, n - i);
		i += sub ? sub : 1;
	}
	if (i && n > i)
		memmove(t->raw.p, t->raw.p + i, n - i);
	t->raw.n = n - i;
	return 0;
}

/* Hand out text up to the first stop string (1), or all but what may begin
 * one (0); at_end: hold nothing back. */
static int emit(struct ada_text_stream *t, int at_end)
{
	size_t cut = t->text.n, keep = 0;
	int stopped = 0;

	for (int i = 0; i < t->n_stops; i++) {
		const char *p = t->text.n >= t->stop_len[i]
					? memmem(t->text.p, t->text.n, t->stops[i], t->stop_len[i])
					: NULL;
		if (p && (size_t)(p - t->text.p) < cut) {
			cut = (size_t)(p - t->text.p);
			stopped = 1;
		}
	}
	if (!stopped && !at_end)
		for (int i = 0; i < t->n_stops; i++)
			for (size_t k = t->stop_len[i] - 1; k > keep; k--)
				if (k <= t->text.n &&
				    !memcmp(t->text.p + t->text.n - k, t->stops[i], k)) {
					keep = k;
					break;
				}
	if (!stopped)
		cut = t->text.n - keep;
	strbuf_reset(&t->out);
	if (cut && strbuf_add(&t->out, t->text.p, cut))
		return -1;
	if (stopped) {
		t->stopped = 1;
		strbuf_reset(&t->text);
		strbuf_reset(&t->raw);
	} else if (cut) {
		memmove(t->text.p, t->text.p + cut, t->text.n - cut);
		t->text.n -= cut;
	}
	return stopped;
}

static void hand_out(struct ada_text_stream *t, const char **out, size_t *out_len)
{
	*out = t->out.p ? t->out.p : "";
	*out_len = t->out.n;
}

int ada_text_stream_push(struct ada_text_stream *t, const char *piece, size_t n,
			 const char **out, size_t *out_len)
{
	int rc;

	strbuf_reset(&t->out);
	hand_out(t, out, out_len);
	if (t->stopped)
		return 1;
	if ((n && strbuf_add(&t->raw, piece, n)) || decode(t, 0))
		return -1;
	rc = emit(t, 0);
	hand_out(t, out, out_len);
	return rc;
}

int ada_text_stream_finish(struct ada_text_stream *t, const char **out, size_t *out_len)
{
	int rc;

	strbuf_reset(&t->out);
	hand_out(t, out, out_len);
	if (t->stopped)
		return 1;
	if (decode(t, 1))
		return -1;
	rc = emit(t, 1);
	hand_out(t, out, out_len);
	return rc;
}
