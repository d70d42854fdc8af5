/* strbuf — a growable byte string; see strbuf.h. */
#include "util/strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "util/alloc.h"

int strbuf_grow(struct strbuf *sb, size_t extra)
{
	size_t need;
	char *p;

	if (sb->failed)
		return -1;
	/* n + extra bytes and the NUL */
	if (size_add(sb->n, extra, &need) || size_add(need, 1, &need) ||
	    !(p = array_grow(sb->p, &sb->cap, need, 1))) {
		sb->failed = 1;
		return -1;
	}
	if (!sb->p)
		p[0] = '\0';
	sb->p = p;
	return 0;
}

int strbuf_addf(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (len < 0) {
		sb->failed = 1;
		return -1;
	}
	if (strbuf_reserve(sb, (size_t)len))
		return -1;
	va_start(ap, fmt);
	vsnprintf(sb->p + sb->n, (size_t)len + 1, fmt, ap);
	va_end(ap);
	sb->n += (size_t)len;
	return 0;
}

void strbuf_reset(struct strbuf *sb)
{
	sb->n = 0;
	sb->failed = 0;
	if (sb->p)
		sb->p[0] = '\0';
}

char *strbuf_detach(struct strbuf *sb, size_t *len)
{
	char *p;

	if (sb->failed || strbuf_reserve(sb, 0)) {
		strbuf_release(sb);
		return NULL;
	}
	p = sb->p;
	if (len)
		*len = sb->n;
	memset(sb, 0, sizeof(*sb));
	return p;
}

void strbuf_release(struct strbuf *sb)
{
	free(sb->p);
	memset(sb, 0, sizeof(*sb));
}
