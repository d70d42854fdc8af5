/* multipart — streaming multipart/form-data parser; see multipart.h.
 *
 * The stream is read as if it began with CRLF, so every delimiter,
 * the first included, is the same string "\r\n--" boundary. A boundary
 * holds no CR, so the only place a partial match can restart is at a CR:
 * the matcher keeps nothing but how many delimiter bytes it has matched
 * (their values are known), and on a mismatch hands those bytes on as
 * content.
 */
#include "multipart.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_VALUE 2048   /* a name, filename or content type */

enum state { S_PREAMBLE, S_AFTER_DELIM, S_HEADERS, S_BODY, S_EPILOGUE, S_FAILED };

struct multipart {
	struct multipart_cb cb;
	char delim[4 + MULTIPART_MAX_BOUNDARY + 1];   /* "\r\n--" boundary */
	size_t dlen;
	size_t matched;             /* delimiter bytes matched so far */
	enum state state;
	int after;                  /* S_AFTER_DELIM: 0 start, 1 one '-', 2 padding, 3 CR */
	char headers[MULTIPART_MAX_HEADERS + 4];
	size_t hlen;
	char error[160];
};

/* RFC 2046 bchars. */
static int bchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       strchr("'()+_,-./:=? ", c) != NULL;
}

static const char *skip_ows(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* One parameter value at p (a token, or a quoted-string with backslash
 * escapes) into out; returns the end, or NULL when malformed or too long. */
static const char *param_value(const char *p, char *out, size_t cap)
{
	size_t n = 0;

	if (*p == '"') {
		for (p++; *p != '"'; p++) {
			if (!*p)
				return NULL;
			if (*p == '\\' && p[1])
				p++;
			if (n + 1 >= cap)
				return NULL;
			out[n++] = *p;
		}
		p++;
	} else {
		for (; *p && *p != ';' && *p != ' ' && *p != '\t'; p++) {
			if (n + 1 >= cap)
				return NULL;
			out[n++] = *p;
		}
	}
	out[n] = '\0';
	return p;
}

int multipart_boundary(const char *ct, char *out, size_t cap)
{
	const char *p;
	char name[32], value[MAX_VALUE];
	size_t n;

	if (!ct || strncasecmp(ct, "multipart/form-data", 19))
		return -1;
	for (p = skip_ows(ct + 19); *p == ';';) {
		p = skip_ows(p + 1);
		n = strcspn(p, "=; \t");
		if (p[n] != '=' || n == 0 || n >= sizeof(name))
			return -1;
		memcpy(name, p, n);
		name[n] = '\0';
		if (!(p = param_value(p + n + 1, value, sizeof(value))))
			return -1;
		p = skip_ows(p);
		if (strcasecmp(name, "boundary"))
			continue;
		n = strlen(value);
		if (n == 0 || n > MULTIPART_MAX_BOUNDARY || n >= cap || value[n - 1] == ' ')
			return -1;
		for (size_t i = 0; i < n; i++)
			if (!bchar((unsigned char)value[i]))
				return -1;
		memcpy(out, value, n + 1);
		return 0;
	}
	return -1;
}

struct multipart *multipart_new(const char *boundary, const struct multipart_cb *cb)
{
	struct multipart *mp;
	size_t n = strlen(boundary);

	if (n == 0 || n > MULTIPART_MAX_BOUNDARY)
		return NULL;
	mp = calloc(1, sizeof(*mp));
	if (!mp)
		return NULL;
	mp->cb = *cb;
	mp->dlen = (size_t)snprintf(mp->delim, sizeof(mp->delim), "\r\n--%s", boundary);
	mp->state = S_PREAMBLE;
	mp->matched = 2;   /* the CRLF the stream is read as beginning with */
	return mp;
}

void multipart_free(struct multipart *mp)
{
	free(mp);
}

const char *multipart_error(const struct multipart *mp)
{
	return mp->error;
}

static int fail(struct multipart *mp, const char *why)
{
	if (mp->state != S_FAILED)
		snprintf(mp->error, sizeof(mp->error), "malformed multipart/form-data body: %s", why);
	mp->state = S_FAILED;
	return -1;
}

static void content(struct multipart *mp, const char *p, size_t n)
{
	if (n && mp->state == S_BODY && mp->cb.data)
		mp->cb.data(mp->cb.ctx, p, n);
}

/* Content-Disposition: form-data; name="x"; filename="y" */
static int disposition(struct multipart *mp, const char *v, char *name, int *have_name,
		       char *filename, int *have_filename)
{
	char pname[32], value[MAX_VALUE];
	size_t n = strcspn(v, "; \t");

	if (n != 9 || strncasecmp(v, "form-data", 9))
		return fail(mp, "a part's Content-Disposition is not form-data");
	for (v = skip_ows(v + n); *v;) {
		if (*v != ';')
			return fail(mp, "a bad Content-Disposition parameter");
		v = skip_ows(v + 1);
		if (!*v)
			break;   /* a trailing ';' */
		n = strcspn(v, "=; \t");
		if (v[n] != '=' || n == 0 || n >= sizeof(pname))
			return fail(mp, "a bad Content-Disposition parameter");
		memcpy(pname, v, n);
		pname[n] = '\0';
		if (!(v = param_value(v + n + 1, value, sizeof(value))))
			return fail(mp, "a Content-Disposition parameter is malformed or too long");
		v = skip_ows(v);
		if (!strcasecmp(pname, "name") && !*have_name) {
			strcpy(name, value);
			*have_name = 1;
		} else if (!strcasecmp(pname, "filename") && !*have_filename) {
			strcpy(filename, value);
			*have_filename = 1;
		}
	}
	return 0;
}

/* The header block (without its final CRLF CRLF) is in; start the part. */
static int begin_part(struct multipart *mp)
{
	char name[MAX_VALUE], filename[MAX_VALUE], ctype[MAX_VALUE];
	char *line = mp->headers + 2, *end = mp->headers + mp->hlen - 4;
	int have_name = 0, have_filename = 0, have_ctype = 0;

	for (char *p = line; p < end; p++)
		if (((unsigned char)*p < 0x20 && *p != '\t' && *p != '\r' && *p != '\n') ||
		    *p == 0x7f)
			return fail(mp, "a control character in a part's headers");
	*end = '\0';
	while (line < end) {
		char *eol = strstr(line, "\r\n"), *colon;
		if (eol)
			*eol = '\0';
		colon = strchr(line, ':');
		if (!colon || colon == line)
			return fail(mp, "a part header without a name");
		*colon = '\0';
		if (!strcasecmp(line, "Content-Disposition")) {
			if (disposition(mp, skip_ows(colon + 1), name, &have_name, filename,
					&have_filename))
				return -1;
		} else if (!strcasecmp(line, "Content-Type") && !have_ctype) {
			char *v = (char *)skip_ows(colon + 1), *e = v + strlen(v);
			while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
				*--e = '\0';
			snprintf(ctype, sizeof(ctype), "%s", v);
			have_ctype = 1;
		}
		line = eol ? eol + 2 : end;
	}
	mp->state = S_BODY;
	mp->matched = 0;
	if (mp->cb.part)
		mp->cb.part(mp->cb.ctx, have_name ? name : "", have_filename ? filename : NULL,
			    have_ctype ? ctype : NULL);
	return 0;
}

/* Preamble or content up to the next delimiter: bytes before it go to
 * content() (dropped in the preamble); returns how many bytes of p were
 * used, having moved to S_AFTER_DELIM when the delimiter completed. */
static size_t scan(struct multipart *mp, const char *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		if (mp->matched == 0) {
			const char *cr = memchr(p + i, '\r', n - i);
			size_t run = cr ? (size_t)(cr - (p + i)) : n - i;
			content(mp, p + i, run);
			i += run;
			if (!cr)
				break;
			mp->matched = 1;
			i++;
			continue;
		}
		if (p[i] == mp->delim[mp->matched]) {
			i++;
			if (++mp->matched == mp->dlen) {
				mp->matched = 0;
				mp->state = S_AFTER_DELIM;
				mp->after = 0;
				break;
			}
			continue;
		}
		/* Not the delimiter after all: what matched was content. */
		content(mp, mp->delim, mp->matched);
		mp->matched = 0;
	}
	return i;
}

int multipart_feed(struct multipart *mp, const char *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		switch (mp->state) {
		case S_PREAMBLE:
		case S_BODY:
			i += scan(mp, p + i, n - i);
			break;
		case S_AFTER_DELIM: {
			char c = p[i++];
			if (mp->after == 0 && c == '-') {
				mp->after = 1;
			} else if (mp->after == 1) {
				if (c != '-')
					return fail(mp, "a delimiter followed by a single '-'");
				mp->state = S_EPILOGUE;
			} else if (mp->after < 3 && (c == ' ' || c == '\t')) {
				mp->after = 2;   /* transport padding */
			} else if (mp->after < 3 && c == '\r') {
				mp->after = 3;
			} else if (mp->after == 3 && c == '\n') {
				mp->state = S_HEADERS;
				memcpy(mp->headers, "\r\n", 2);
				mp->hlen = 2;
			} else {
				return fail(mp, "a delimiter not followed by CRLF");
			}
			break;
		}
		case S_HEADERS:
			while (i < n && mp->state == S_HEADERS) {
				if (mp->hlen >= sizeof(mp->headers) - 1)
					return fail(mp, "a part's headers are longer than 8 KiB");
				mp->headers[mp->hlen++] = p[i++];
				if (mp->hlen >= 4 && !memcmp(mp->headers + mp->hlen - 4, "\r\n\r\n", 4) &&
				    begin_part(mp))
					return -1;
			}
			break;
		case S_EPILOGUE:
			return 0;
		case S_FAILED:
			return -1;
		}
	}
	return mp->state == S_FAILED ? -1 : 0;
}

int multipart_finish(struct multipart *mp)
{
	if (mp->state == S_FAILED)
		return -1;
	if (mp->state != S_EPILOGUE)
		return fail(mp, "the body ends before its closing boundary");
	return 0;
}
