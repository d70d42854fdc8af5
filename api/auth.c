/*
 * auth — bearer keys.
 *
 * The presented key is compared with every configured key, each over the
 * configured key's whole length with no early exit, so the time taken
 * says nothing about how much of a key was right (only, at most, how long
 * the configured keys are).
 */
#include <string.h>
#include <strings.h>

#include "http.h"

static int equal_ct(const char *given, size_t given_len, const char *key, size_t key_len)
{
	unsigned char diff = (unsigned char)(given_len != key_len);

	for (size_t i = 0; i < key_len; i++) {
		unsigned char g = i < given_len ? (unsigned char)given[i] : 0;
		diff |= g ^ (unsigned char)key[i];
	}
	return diff == 0;
}

int auth_ok(struct api *a, struct request *r)
{
	const char *h;
	size_t len;
	int ok = 0;

	if (!a->cfg.n_keys)
		return 1;
	h = req_header(r, MHD_HTTP_HEADER_AUTHORIZATION);
	if (!h || strncasecmp(h, "Bearer ", 7))
		return 0;
	h += 7;
	while (*h == ' ')
		h++;
	len = strlen(h);
	for (size_t i = 0; i < a->cfg.n_keys; i++)
		ok |= equal_ct(h, len, a->keys[i], a->key_lens[i]);
	return ok;
}
