/* err — result codes and one-line messages; see err.h. */
#include "util/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void ada_err_clear(struct ada_err *err)
{
	if (!err)
		return;
	err->code = ADA_OK;
	err->param[0] = '\0';
	err->msg[0] = '\0';
}

/* A text cut to fit buf (len > what it holds) must not end inside a UTF-8
 * character: a client's field name or file name can be anything, and the
 * API sends param and msg as JSON strings, which must be valid UTF-8. */
static void cut_to_char(char *buf, size_t cap, int len)
{
	size_t n, lead, need;
	unsigned char c;

	if (len < 0 || (size_t)len < cap)
		return;   /* not cut */
	n = strlen(buf);
	lead = n;
	while (lead > 0 && lead + 4 > n && ((unsigned char)buf[lead - 1] & 0xc0) == 0x80)
		lead--;
	if (lead == 0)
		return;
	c = (unsigned char)buf[lead - 1];
	need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
	if (n - (lead - 1) < need)
		buf[lead - 1] = '\0';
}

/* A message is one line (err.h): what it quotes from a file (a tensor's
 * name, a key) may hold line breaks and other control characters, which
 * would split a log line or forge one. They become spaces. */
static void one_line(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = ' ';
}

static void set_msg(struct ada_err *err, const char *fmt, va_list ap)
{
	cut_to_char(err->msg, sizeof(err->msg), vsnprintf(err->msg, sizeof(err->msg), fmt, ap));
	one_line(err->msg);
}

int ada_fail(struct ada_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return code;
	err->code = code;
	err->param[0] = '\0';
	va_start(ap, fmt);
	set_msg(err, fmt, ap);
	va_end(ap);
	return code;
}

int ada_fail_param(struct ada_err *err, int code, const char *param,
		   const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return code;
	err->code = code;
	cut_to_char(err->param, sizeof(err->param),
		    snprintf(err->param, sizeof(err->param), "%s", param ? param : ""));
	va_start(ap, fmt);
	set_msg(err, fmt, ap);
	va_end(ap);
	return code;
}

int ada_err_prefix(struct ada_err *err, int rc, const char *fmt, ...)
{
	char prefix[256], old[sizeof(err->msg)];
	va_list ap;

	if (!err)
		return rc;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	cut_to_char(err->msg, sizeof(err->msg),
		    snprintf(err->msg, sizeof(err->msg), "%s: %s", prefix, old));
	one_line(err->msg);
	return rc;
}

const char *ada_code_name(int code)
{
	switch (code) {
	case ADA_OK:           return "ok";
	case ADA_EINVAL:       return "invalid_argument";
	case ADA_EIO:          return "io_error";
	case ADA_EFORMAT:      return "bad_format";
	case ADA_ENOMEM:       return "out_of_memory";
	case ADA_ECANCELLED:   return "cancelled";
	case ADA_ESTOPPED:     return "stopped";
	case ADA_ENUMERIC:     return "numeric_error";
	case ADA_EUNSUPPORTED: return "unsupported";
	case ADA_ENOTFOUND:    return "not_found";
	}
	return "unknown_error";
}
