/* scratch — paths, byte comparisons and JSON edits; see scratch.h. */
#include "scratch.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/fileio.h"

const char *scratch_path(const char *dir, const char *fmt, ...)
{
	static char bufs[16][4200];
	static int next;
	char *b = bufs[next++ % 16], name[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	snprintf(b, sizeof(bufs[0]), "%s/%s", dir, name);
	return b;
}

int files_same(const char *a, const char *b)
{
	char *x = NULL, *y = NULL;
	size_t nx = 0, ny = 0;
	int same = 0;

	if (!file_read_all(a, &x, &nx, NULL) && !file_read_all(b, &y, &ny, NULL))
		same = nx == ny && !memcmp(x, y, nx);
	free(x);
	free(y);
	return same;
}

int json_file_set(const char *path, const char *key, json_t *value, struct ada_err *err)
{
	json_error_t jerr;
	json_t *root = json_load_file(path, 0, &jerr);
	char *text;
	int rc;

	if (!root || !json_is_object(root)) {
		json_decref(root);
		json_decref(value);
		return ada_fail(err, root ? ADA_EFORMAT : ADA_ENOTFOUND, "%s: %s", path,
				root ? "not a JSON object" : jerr.text);
	}
	if (value)
		json_object_set_new(root, key, value);
	else
		json_object_del(root, key);
	text = json_dumps(root, JSON_INDENT(2));
	json_decref(root);
	if (!text)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	rc = file_write_atomic(path, text, strlen(text), err);
	free(text);
	return rc;
}
