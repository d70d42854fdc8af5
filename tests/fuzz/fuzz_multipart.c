/*
 * fuzz_multipart — POST /v1/files as multipart/form-data, through the
 * upload's own parsing (api/upload.c: upload_parser_*, the functions the
 * request path runs): the boundary from the Content-Type, the body fed in
 * pieces to libmicrohttpd's multipart parser up to the closing delimiter,
 * every part (names, file names, purpose), the upload limit, the form's
 * field checks, and the stored file's validation as training data.
 *
 * libmicrohttpd's parser reads the Content-Type from the request's
 * connection, so the harness keeps an in-process libmicrohttpd (no listen
 * socket, no thread) and hands it, for each input, a fresh socketpair
 * carrying only the request's headers; its access handler then runs the
 * parser over the body itself, with no network and no store.
 *
 * Input: byte 0 picks the piece size the body is fed in (1 to 256 bytes,
 * or all at once) and the upload limit; then the Content-Type up to the
 * first newline (CR, LF and NUL cannot be in a header and are dropped);
 * the rest is the body.
 *
 * Checked: every refusal is a 4xx (5xx only for storage) with a code, and
 * its error object can be built (the reply would otherwise be a 500).
 */
#include "fuzz.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http.h"

static struct MHD_Daemon *mhd;

/* the input being run, for the access handler */
static struct {
	const uint8_t *body;
	size_t len, piece, max_upload;
	int handled;
} cur;

void fuzz_setup(void)
{
}

static void check_failure(const struct upload *u)
{
	unsigned status;
	const char *code, *param, *msg = upload_parser_failure(u, &status, &code, &param);
	json_t *o;

	FUZZ_CHECK(status >= 400 && status < 600 && (status < 500 || !strcmp(code, "storage_error")),
		   "status %u (%s: %s)", status, code, msg);
	FUZZ_CHECK(code[0] && msg[0], "status %u without a code or message", status);
	o = error_object(status, code, param, msg);
	FUZZ_CHECK(o != NULL, "no error object for %u %s param '%s': %s", status, code, param, msg);
	json_decref(o);
}

static void parse(struct MHD_Connection *conn)
{
	const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_CONTENT_TYPE);
	const char *path = fuzz_path("upload.tmp");
	struct upload *u;
	int fd;

	if (!ct || strncasecmp(ct, "multipart/form-data", 19))
		return;   /* the raw path: bytes go to the file as they are */
	u = upload_parser_new(cur.max_upload);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (!u || fd < 0)
		abort();
	upload_parser_output(u, fd, path);
	if (upload_parser_multipart(u, conn, ct) == 0) {
		for (size_t at = 0; at < cur.len;) {
			size_t n = cur.len - at < cur.piece ? cur.len - at : cur.piece;
			if (upload_parser_feed(u, (const char *)cur.body + at, n))
				break;   /* upload_data's caller stops feeding too */
			at += n;
		}
		if (upload_parser_end(u)) {
			check_failure(u);
		} else {
			struct store_file f = { 0 };
			struct ada_err err = { 0 };
			char *labels = NULL;

			if (upload_validate(u, &f, &labels, &err)) {
				fuzz_check_err(&err);
				json_t *o = error_object(400, "invalid_file", "file", err.msg);
				FUZZ_CHECK(o != NULL, "no error object for: %s", err.msg);
				json_decref(o);
			}
			free(labels);
		}
	}
	upload_free(u);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	static const char ok[] = "";
	struct MHD_Response *resp;
	enum MHD_Result rc;

	(void)cls;
	(void)url;
	(void)method;
	(void)version;
	(void)upload_data;
	if (*upload_data_size) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	*con_cls = &cur;
	if (!cur.handled) {
		cur.handled = 1;
		parse(conn);
	}
	resp = MHD_create_response_from_buffer(0, (void *)ok, MHD_RESPMEM_PERSISTENT);
	rc = MHD_queue_response(conn, 204, resp);
	MHD_destroy_response(resp);
	return rc;
}

static void start(void)
{
	mhd = MHD_start_daemon(MHD_USE_NO_LISTEN_SOCKET, 0, NULL, NULL, on_request, NULL,
			       MHD_OPTION_END);
	if (!mhd) {
		fprintf(stderr, "fuzz_multipart: cannot start libmicrohttpd\n");
		abort();
	}
}

/* Send the request's headers on a new connection and run libmicrohttpd
 * until it answered and closed. */
static void request(const char *ct)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001) };
	char head[4096 + 256];
	int sv[2], n;
	char sink[4096];

	n = snprintf(head, sizeof(head),
		     "POST /v1/files HTTP/1.1\r\nHost: fuzz\r\nContent-Type: %s\r\n"
		     "Content-Length: 0\r\nConnection: close\r\n\r\n", ct);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		abort();
	if (write(sv[0], head, (size_t)n) != n)
		abort();
	shutdown(sv[0], SHUT_WR);
	if (MHD_add_connection(mhd, sv[1], (const struct sockaddr *)&addr, sizeof(addr)) != MHD_YES)
		abort();   /* it closed sv[1] */
	for (int spins = 0; spins < 1000; spins++) {
		ssize_t got;

		MHD_run(mhd);
		got = recv(sv[0], sink, sizeof(sink), MSG_DONTWAIT);
		if (got == 0)
			break;   /* answered (or refused) and closed */
		if (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			break;
	}
	close(sv[0]);
	MHD_run(mhd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t pieces[8] = { 1, 2, 3, 7, 64, 97, 256, (size_t)-1 };
	char ct[4096];
	size_t i = 1, n = 0;

	if (size < 1)
		return 0;
	if (!mhd)
		start();
	cur.piece = pieces[data[0] & 7];
	cur.max_upload = data[0] & 8 ? 64 : 1u << 20;
	for (; i < size && data[i] != '\n'; i++)
		if (data[i] != '\r' && data[i] != '\0' && n < sizeof(ct) - 1)
			ct[n++] = (char)data[i];
	ct[n] = '\0';
	cur.body = data + (i < size ? i + 1 : size);
	cur.len = size - (size_t)(cur.body - data);
	cur.handled = 0;
	request(ct);
	return 0;
}
