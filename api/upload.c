/*
 * upload — POST /v1/files: a training file from a multipart form (what the
 * openai SDKs send: fields "file" and "purpose") or a raw body
 * (?purpose=fine-tune&filename=x.jsonl).
 *
 * The bytes stream into a temporary file under files_dir as they arrive,
 * so an upload costs no more memory than its network buffers. Once the
 * body is complete the file is checked (ada_data_validate: UTF-8 JSONL,
 * known line shapes, line numbers in errors), fsynced, renamed to its
 * permanent name and the directory fsynced, and only then is the row
 * committed and 200 returned: an acknowledged upload survives a crash.
 *
 * libmicrohttpd's multipart parser refuses an epilogue (bytes after the
 * closing boundary, which RFC 2046 allows and the openai SDK sends as a
 * final CRLF), so the stream is fed to it only up to the closing
 * delimiter.
 *
 * The client's filename is metadata. It never becomes part of a path:
 * files are stored under their random id. Names with path separators or
 * control characters are refused all the same, since no honest client
 * sends them.
 *
 * The parsing half (upload_parser_*: boundary, multipart feed, parts,
 * field checks, the file's validation) needs no request and no store, so
 * tests/fuzz drives it exactly as the request path does.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http.h"
#include "util/err.h"
#include "util/fileio.h"
#include "util/utf8.h"

struct upload {
	int fd;                         /* the temporary file, -1 once closed */
	char id[STORE_ID_MAX];          /* the new file's id, also its stored name */
	char tmp_path[4096];            /* "" once renamed or removed */
	char filename[STORE_NAME_MAX];
	char purpose[32];
	int have_file, have_purpose;
	uint64_t bytes;
	size_t max_upload;              /* limits.max_upload */
	struct MHD_PostProcessor *pp;   /* multipart bodies */
	char close_delim[96];           /* "\r\n--<boundary>--" */
	size_t close_len;
	char tail[96];                  /* the last close_len - 1 bytes fed, to find a
					 * delimiter split across two reads */
	size_t tail_len;
	int closed;                     /* the closing delimiter went by */

	/* the first failure, replied when the body ends */
	unsigned fail_status;
	char fail_code[32];
	char fail_param[64];
	char fail_msg[512];
};

static void fail(struct upload *u, unsigned status, const char *code, const char *param,
		 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void fail(struct upload *u, unsigned status, const char *code, const char *param,
		 const char *fmt, ...)
{
	va_list ap;

	if (u->fail_status)
		return;
	u->fail_status = status;
	snprintf(u->fail_code, sizeof(u->fail_code), "%s", code);
	snprintf(u->fail_param, sizeof(u->fail_param), "%s", param ? param : "");
	va_start(ap, fmt);
	vsnprintf(u->fail_msg, sizeof(u->fail_msg), fmt, ap);
	va_end(ap);
}

/* A display name, not a path: 1..255 bytes of UTF-8, no separators or
 * control characters, not "." or "..". */
static const char *bad_filename(const char *name, size_t len)
{
	if (len == 0)
		return "is empty";
	if (len >= STORE_NAME_MAX)
		return "is longer than 255 bytes";
	if (utf8_validate(name, len) != len || memchr(name, '\0', len))
		return "is not valid UTF-8";
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c < 0x20 || c == 0x7f)
			return "contains a control character";
		if (c == '/' || c == '\\')
			return "contains a path separator (send the file's base name)";
	}
	if ((len == 1 && name[0] == '.') || (len == 2 && !memcmp(name, "..", 2)))
		return "is not a file name";
	return NULL;
}

static int set_filename(struct upload *u, const char *name, const char *param)
{
	const char *why = bad_filename(name, strlen(name));

	if (why) {
		fail(u, 400, "invalid_value", param, "the file name %s", why);
		return -1;
	}
	snprintf(u->filename, sizeof(u->filename), "%s", name);
	return 0;
}

static void write_bytes(struct upload *u, const char *data, size_t size)
{
	if (u->fail_status)
		return;
	u->bytes += size;
	if (u->bytes > u->max_upload) {
		fail(u, 413, "body_too_large", NULL, "the file exceeds the upload limit of %zu bytes",
		     u->max_upload);
		return;
	}
	while (size) {
		ssize_t n = write(u->fd, data, size);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fail(u, errno == ENOSPC ? 503 : 500, "storage_error", NULL,
			     "cannot store the upload: %s", strerror(errno));
			return;
		}
		data += n;
		size -= (size_t)n;
	}
}

static enum MHD_Result on_part(void *cls, enum MHD_ValueKind kind, const char *key,
			       const char *filename, const char *content_type,
			       const char *transfer_encoding, const char *data, uint64_t off,
			       size_t size)
{
	struct upload *u = cls;

	(void)kind;
	(void)content_type;
	(void)transfer_encoding;
	if (u->fail_status)
		return MHD_YES;   /* keep reading, to answer once the body ends */
	if (!key) {           /* "Content-Disposition: form-data" without name= */
		fail(u, 400, "invalid_multipart", NULL,
		     "a form part has no name (Content-Disposition: form-data; name=...)");
		return MHD_YES;
	}
	if (!strcmp(key, "file")) {
		if (off == 0) {   /* a new part */
			if (u->have_file) {
				fail(u, 400, "invalid_value", "file", "only one file per upload");
				return MHD_YES;
			}
			if (!filename) {
				fail(u, 400, "invalid_value", "file",
				     "the file part needs a filename (Content-Disposition)");
				return MHD_YES;
			}
			if (set_filename(u, filename, "file"))
				return MHD_YES;
			u->have_file = 1;
		}
		write_bytes(u, data, size);
		return MHD_YES;
	}
	if (!strcmp(key, "purpose")) {
		size_t have = off == 0 ? 0 : strlen(u->purpose);
		if (have + size >= sizeof(u->purpose) || memchr(data, '\0', size)) {
			fail(u, 400, "invalid_value", "purpose", "purpose must be \"fine-tune\"");
			return MHD_YES;
		}
		memcpy(u->purpose + have, data, size);
		u->purpose[have + size] = '\0';
		u->have_purpose = 1;
		return MHD_YES;
	}
	{
		char k[48];
		snprintf(k, sizeof(k), "%s", key);
		k[utf8_validate(k, strlen(k))] = '\0';
		fail(u, 400, "unknown_parameter", k, "%s: unknown form field (expected file and purpose)",
		     k);
	}
	return MHD_YES;
}

/* The closing delimiter of a multipart body, from its Content-Type. */
static int set_close_delim(struct upload *u, const char *ct)
{
	const char *b = strcasestr(ct, "boundary=");
	size_t n;

	if (!b)
		return -1;
	b += 9;
	if (*b == '"') {
		const char *end = strchr(++b, '"');
		n = end ? (size_t)(end - b) : 0;
	} else {
		n = strcspn(b, "; \t");
	}
	if (n == 0 || n > 70)   /* RFC 2046: 1 to 70 characters */
		return -1;
	u->close_len = (size_t)snprintf(u->close_delim, sizeof(u->close_delim), "\r\n--%.*s--",
					(int)n, b);
	return 0;
}

/* Feed multipart bytes to the parser, stopping at the closing delimiter. */
static void feed_multipart(struct upload *u, const char *data, size_t size)
{
	char window[2 * sizeof(u->tail) + 4096];
	size_t done = 0;

	while (!u->closed && done < size) {
		size_t take = size - done < 4096 ? size - done : 4096, w = u->tail_len + take;
		const char *hit;

		memcpy(window, u->tail, u->tail_len);
		memcpy(window + u->tail_len, data + done, take);
		hit = memmem(window, w, u->close_delim, u->close_len);
		if (hit) {
			/* Feed up to the delimiter's end; what follows is epilogue. */
			take = (size_t)(hit - window) + u->close_len - u->tail_len;
			u->closed = 1;
		}
		if (MHD_post_process(u->pp, data + done, take) != MHD_YES)
			fail(u, 400, "invalid_multipart", NULL, "malformed multipart/form-data body");
		done += take;
		if (w >= u->close_len - 1) {
			u->tail_len = u->close_len - 1;
			memcpy(u->tail, window + w - u->tail_len, u->tail_len);
		} else {
			u->tail_len = w;
			memcpy(u->tail, window, w);
		}
	}
}

static int raw_type_ok(const char *ct)
{
	static const char *const ok[] = {
		"application/octet-stream", "application/jsonl", "application/x-jsonlines",
		"application/json-lines", "application/x-ndjson", "application/ndjson",
		"text/plain", "text/jsonl",
	};

	if (!ct)
		return 1;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		size_t n = strlen(ok[i]);
		if (!strncasecmp(ct, ok[i], n) && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' '))
			return 1;
	}
	return 0;
}

int upload_begin(struct request *r)
{
	struct api *a = r->api;
	const char *ct = req_header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
	struct ada_err err = { 0 };
	struct upload *u;
	char name[STORE_ID_MAX + 8];

	u = upload_parser_new(a->cfg.limits.max_upload);
	if (!u) {
		reply_error(r, 500, "out_of_memory", NULL, "out of memory");
		return -1;
	}
	r->upload = u;
	if (ct && !strncasecmp(ct, "multipart/form-data", 19)) {
		if (upload_parser_multipart(u, r->conn, ct)) {
			reply_error(r, 400, "invalid_multipart", NULL,
				    "multipart/form-data without a usable boundary");
			return -1;
		}
	} else if (!raw_type_ok(ct)) {
		reply_error(r, 415, "unsupported_media_type", NULL,
			    "upload a file as multipart/form-data, or as a raw body "
			    "(application/octet-stream, application/jsonl) with ?purpose=fine-tune&filename=NAME; not %s",
			    ct);
		return -1;
	} else {
		const char *purpose = req_arg(r, "purpose"), *filename = req_arg(r, "filename");
		if (!purpose || strcmp(purpose, "fine-tune")) {
			reply_error(r, 400, "invalid_value", "purpose",
				    "purpose must be \"fine-tune\" (?purpose=fine-tune)");
			return -1;
		}
		if (!filename) {
			reply_error(r, 400, "missing_required_parameter", "filename",
				    "a raw upload needs ?filename=NAME");
			return -1;
		}
		if (set_filename(u, filename, "filename")) {
			reply_error(r, u->fail_status, u->fail_code, u->fail_param, "%s", u->fail_msg);
			return -1;
		}
		snprintf(u->purpose, sizeof(u->purpose), "%s", purpose);
		u->have_file = u->have_purpose = 1;
	}
	if (store_new_id("file", u->id, sizeof(u->id), &err)) {
		reply_error(r, 500, "internal_error", NULL, "%s", err.msg);
		return -1;
	}
	snprintf(name, sizeof(name), "tmp-%s", u->id);
	snprintf(u->tmp_path, sizeof(u->tmp_path), "%s/%s", a->files_dir, name);
	u->fd = open(u->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (u->fd < 0) {
		u->tmp_path[0] = '\0';
		reply_error(r, 500, "storage_error", NULL, "cannot store the upload: %s",
			    strerror(errno));
		return -1;
	}
	return 0;
}

struct upload *upload_parser_new(size_t max_upload)
{
	struct upload *u = calloc(1, sizeof(*u));

	if (u) {
		u->fd = -1;
		u->max_upload = max_upload;
	}
	return u;
}

void upload_parser_output(struct upload *u, int fd, const char *path)
{
	u->fd = fd;
	snprintf(u->tmp_path, sizeof(u->tmp_path), "%s", path);
}

int upload_parser_multipart(struct upload *u, struct MHD_Connection *conn, const char *ct)
{
	u->pp = MHD_create_post_processor(conn, 64 * 1024, on_part, u);
	return !u->pp || set_close_delim(u, ct) ? -1 : 0;
}

int upload_parser_feed(struct upload *u, const char *data, size_t size)
{
	if (u->pp) {
		feed_multipart(u, data, size);
	} else {
		write_bytes(u, data, size);
	}
	return u->fail_status ? -1 : 0;
}

int upload_data(struct request *r, const char *data, size_t size)
{
	return upload_parser_feed(r->upload, data, size);
}

int upload_parser_end(struct upload *u)
{
	if (u->pp) {
		MHD_destroy_post_processor(u->pp);   /* flushes the last part */
		u->pp = NULL;
	}
	if (!u->fail_status && !u->have_file)
		fail(u, 400, "missing_required_parameter", "file", "the form has no file field");
	if (!u->fail_status && !u->have_purpose)
		fail(u, 400, "missing_required_parameter", "purpose",
		     "the form has no purpose field (purpose=fine-tune)");
	if (!u->fail_status && strcmp(u->purpose, "fine-tune"))
		fail(u, 400, "invalid_value", "purpose", "purpose must be \"fine-tune\"");
	return u->fail_status ? -1 : 0;
}

const char *upload_parser_failure(const struct upload *u, unsigned *status, const char **code,
				  const char **param)
{
	*status = u->fail_status;
	*code = u->fail_code;
	*param = u->fail_param;
	return u->fail_msg;
}

int upload_validate(struct upload *u, struct store_file *f, char **labels, struct ada_err *err)
{
	struct mapped_file mf;
	struct ada_data_info info;
	json_t *lj = NULL;
	int rc = mapped_file_open(u->tmp_path, &mf, err);

	*labels = NULL;
	if (rc)
		return rc;
	rc = ada_data_validate((const char *)mf.data, mf.size, ADA_DATA_JSONL_ONLY, &info, err);
	if (!rc && (info.shape == ADA_SHAPE_CLASSIFY || info.shape == ADA_SHAPE_CLASSIFY_PAIR)) {
		rc = ada_data_labels((const char *)mf.data, mf.size, &lj, err);
		if (!rc && !(*labels = json_dumps(lj, JSON_COMPACT)))
			rc = ada_fail(err, ADA_ENOMEM, "out of memory");
		json_decref(lj);
	}
	mapped_file_close(&mf);
	if (rc)
		return ada_err_prefix(err, "%s", u->filename);
	f->line_count = info.line_count;
	f->record_count = info.record_count;
	snprintf(f->format, sizeof(f->format), "%s", ada_data_format_name(info.format));
	snprintf(f->shape, sizeof(f->shape), "%s", ada_data_shape_name(info.shape));
	return ADA_OK;
}

void upload_finish(struct request *r)
{
	struct api *a = r->api;
	struct upload *u = r->upload;
	struct ada_err err = { 0 };
	struct store_file f = { 0 };
	char final_path[4096], *labels = NULL;
	int rc;

	if (!u)
		return;   /* upload_begin already replied */
	if (upload_parser_end(u)) {
		reply_error(r, u->fail_status, u->fail_code, u->fail_param, "%s", u->fail_msg);
		return;
	}
	if (fsync(u->fd)) {
		reply_error(r, 500, "storage_error", NULL, "cannot store the upload: %s",
			    strerror(errno));
		return;
	}
	close(u->fd);
	u->fd = -1;
	if ((rc = upload_validate(u, &f, &labels, &err))) {
		if (rc == ADA_EIO || rc == ADA_ENOMEM)
			reply_error(r, 500, "storage_error", NULL, "%s", err.msg);
		else
			reply_error(r, 400, "invalid_file", "file", "%s", err.msg);
		goto out_free;
	}
	snprintf(final_path, sizeof(final_path), "%s/%s", a->files_dir, u->id);
	if (rename(u->tmp_path, final_path)) {
		reply_error(r, 500, "storage_error", NULL, "cannot store the upload: %s",
			    strerror(errno));
		goto out_free;
	}
	u->tmp_path[0] = '\0';
	if ((rc = fsync_dir(a->files_dir, &err))) {
		unlink(final_path);
		reply_error(r, 500, "storage_error", NULL, "%s", err.msg);
		goto out_free;
	}
	snprintf(f.id, sizeof(f.id), "%s", u->id);
	snprintf(f.filename, sizeof(f.filename), "%s", u->filename);
	snprintf(f.purpose, sizeof(f.purpose), "%s", u->purpose);
	snprintf(f.storage, sizeof(f.storage), "%s", u->id);
	f.bytes = (int64_t)u->bytes;
	f.labels = labels;
	if ((rc = store_file_add(a->cfg.store, &f, &err))) {
		unlink(final_path);
		reply_error(r, 500, "storage_error", NULL, "%s", err.msg);
		goto out_free;
	}
	reply_json(r, 200, file_object(&f));
out_free:
	free(labels);
}

void upload_free(struct upload *u)
{
	if (!u)
		return;
	if (u->pp)
		MHD_destroy_post_processor(u->pp);
	if (u->fd >= 0)
		close(u->fd);
	if (u->tmp_path[0])
		unlink(u->tmp_path);
	free(u);
}
