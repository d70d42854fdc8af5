/*
 * multipart — a streaming parser of multipart/form-data bodies (RFC 7578,
 * framing by RFC 2046), internal to api/.
 *
 * Ours rather than libmicrohttpd's post processor, which refuses what the
 * RFCs allow (a one-character boundary, an epilogue after the closing
 * delimiter: the openai SDK sends a final CRLF there) and hands its
 * iterator a NULL field name for a part without name=. Here every
 * callback argument is defined: a part's name is "" when its
 * Content-Disposition names none, filename and content type are NULL when
 * absent.
 *
 * Bytes are fed as they arrive; a part's data reaches the callback in
 * pieces, never buffered whole (an upload costs its network buffers, not
 * its size). Only a part's header block is held, up to
 * MULTIPART_MAX_HEADERS bytes. Everything after the closing delimiter is
 * epilogue and ignored.
 */
#ifndef ADALORAD_API_MULTIPART_H
#define ADALORAD_API_MULTIPART_H

#include <stddef.h>

#define MULTIPART_MAX_BOUNDARY 70      /* RFC 2046: 1 to 70 characters */
#define MULTIPART_MAX_HEADERS 8192     /* one part's header block */

struct multipart_cb {
	void *ctx;
	/* A new part: name is never NULL ("" without name=); filename and
	 * content_type are NULL when the part has none. */
	void (*part)(void *ctx, const char *name, const char *filename, const char *content_type);
	/* The next piece of the current part's content. */
	void (*data)(void *ctx, const char *data, size_t n);
};

struct multipart;

/* The boundary parameter of a multipart/form-data Content-Type, validated
 * (1..70 characters of RFC 2046's bchars, not ending in a space) into out
 * (>= MULTIPART_MAX_BOUNDARY + 1 bytes): 0, or -1 when it has none or a
 * bad one. */
int multipart_boundary(const char *content_type, char *out, size_t cap);

/* A parser for a body with this boundary; NULL when out of memory. cb is
 * copied. */
struct multipart *multipart_new(const char *boundary, const struct multipart_cb *cb);
/* Parse the next bytes: 0, or -1 once the body is malformed (and from then
 * on; multipart_error() says why). */
int multipart_feed(struct multipart *mp, const char *data, size_t n);
/* The body has ended: 0 when it was complete (the closing delimiter went
 * by), else -1. */
int multipart_finish(struct multipart *mp);
/* Why the body is malformed ("" while it is not). */
const char *multipart_error(const struct multipart *mp);
void multipart_free(struct multipart *mp);

#endif
