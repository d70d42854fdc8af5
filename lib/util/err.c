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

static void set_msg(struct ada_err *err, const char *fmt, va_list ap)
{
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
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
	snprintf(err->param, sizeof(err->param), "%s", param ? param : "");
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
	snprintf(err->msg, sizeof(err->msg), "%s: %s", prefix, old);
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
