/*
 * fuzz_multipart — POST /v1/files as multipart/form-data, through the
 * parser the upload runs (api/multipart.c): the boundary from the
 * Content-Type (multipart_boundary), then the body fed to multipart_feed
 * in pieces, every part's name, file name and content type, and the end of
 * the body (multipart_finish).
 *
 * Input: byte 0 picks the piece size the body is fed in (1 to 256 bytes,
 * or all at once); then the Content-Type up to the first newline (CR, LF
 * and NUL cannot be in a header and are dropped); the rest is the body.
 *
 * Checked:
 *   - every callback argument is defined (a name, never NULL; file name and
 *     content type NULL or strings), as upload.c relies on;
 *   - the verdict is the same whatever the pieces, and a complete body's
 *     parts and bytes equal those of feeding it whole (a digest of each;
 *     how much of a malformed body was delivered before the fault was seen
 *     may depend on where the pieces end);
 *   - a malformed body says why, and the API's error object for it (400
 *     invalid_multipart with that message) can be built.
 */
#include "fuzz.h"

#include <string.h>

#include "http.h"
#include "multipart.h"

/* What a parse saw, folded into a digest (FNV-1a over every event). */
struct seen {
	uint64_t h;
	size_t parts, bytes;
};

static void mix(struct seen *s, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		s->h = (s->h ^ b[i]) * 0x100000001b3ull;
}

static void mix_str(struct seen *s, const char *str)
{
	if (str)
		mix(s, str, strlen(str) + 1);
	else
		mix(s, "\xff", 1);
}

static void on_part(void *ctx, const char *name, const char *filename, const char *content_type)
{
	struct seen *s = ctx;

	FUZZ_CHECK(name != NULL, "a part without a name (upload.c compares it)");
	mix(s, "P", 1);
	mix_str(s, name);
	mix_str(s, filename);
	mix_str(s, content_type);
	s->parts++;
}

static void on_data(void *ctx, const char *data, size_t n)
{
	struct seen *s = ctx;

	mix(s, data, n);
	s->bytes += n;
}

/* Parse body in pieces of piece bytes; the verdict: 0 complete, -1 not. */
static int parse(const char *boundary, const uint8_t *body, size_t len, size_t piece,
		 struct seen *s)
{
	const struct multipart_cb cb = { .ctx = s, .part = on_part, .data = on_data };
	struct multipart *mp = multipart_new(boundary, &cb);
	int rc = 0;

	if (!mp)
		abort();
	s->h = 0xcbf29ce484222325ull;
	s->parts = s->bytes = 0;
	for (size_t at = 0; at < len && !rc;) {
		size_t n = len - at < piece ? len - at : piece;
		rc = multipart_feed(mp, (const char *)body + at, n);
		at += n;
	}
	if (!rc)
		rc = multipart_finish(mp);
	if (rc) {
		const char *why = multipart_error(mp);
		json_t *o;
		FUZZ_CHECK(why && why[0], "a malformed body without a reason");
		o = error_object(400, "invalid_multipart", NULL, why);
		FUZZ_CHECK(o != NULL, "no error object for: %s", why);
		json_decref(o);
	}
	multipart_free(mp);
	mix(s, &rc, sizeof(rc));
	return rc;
}

void fuzz_setup(void)
{
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t pieces[8] = { 1, 2, 3, 7, 64, 97, 256, (size_t)-1 };
	char ct[4096], boundary[MULTIPART_MAX_BOUNDARY + 1];
	struct seen whole, cut;
	const uint8_t *body;
	size_t i = 1, n = 0, len;
	int rc_whole, rc_cut;

	if (size < 1)
		return 0;
	for (; i < size && data[i] != '\n'; i++)
		if (data[i] != '\r' && data[i] != '\0' && n < sizeof(ct) - 1)
			ct[n++] = (char)data[i];
	ct[n] = '\0';
	body = data + (i < size ? i + 1 : size);
	len = size - (size_t)(body - data);
	if (multipart_boundary(ct, boundary, sizeof(boundary)))
		return 0;   /* refused before any body is read (415 or 400) */
	n = strlen(boundary);
	FUZZ_CHECK(n >= 1 && n <= MULTIPART_MAX_BOUNDARY, "a boundary of %zu characters", n);
	rc_whole = parse(boundary, body, len, (size_t)-1, &whole);
	rc_cut = parse(boundary, body, len, pieces[data[0] & 7], &cut);
	FUZZ_CHECK(rc_whole == rc_cut, "fed in pieces of %zu the body is %s, whole it is %s",
		   pieces[data[0] & 7], rc_cut ? "malformed" : "complete",
		   rc_whole ? "malformed" : "complete");
	FUZZ_CHECK(rc_whole || (whole.h == cut.h && whole.parts == cut.parts &&
				whole.bytes == cut.bytes),
		   "fed in pieces of %zu the body parses otherwise (%zu parts, %zu bytes; whole: "
		   "%zu parts, %zu bytes)", pieces[data[0] & 7], cut.parts, cut.bytes, whole.parts,
		   whole.bytes);
	return 0;
}
