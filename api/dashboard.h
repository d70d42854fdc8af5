/*
 * dashboard — the static files of the web dashboard (api/dashboard/),
 * compiled into the daemon.
 *
 * scripts/embed_files.py generates the table at build time (a meson
 * custom_target), so adalorad serves its page with no files installed
 * beside it and no build step beyond the daemon's own. Everything here
 * is constant data in the binary: pointers are borrowed forever.
 */
#ifndef ADALORAD_API_DASHBOARD_H
#define ADALORAD_API_DASHBOARD_H

#include <stddef.h>

struct dashboard_asset {
	const char *name;               /* "app.js": served as /dashboard/app.js */
	const char *content_type;
	const char *etag;               /* quoted digest of the bytes */
	const unsigned char *data;
	size_t len;
};

/* Sorted by name. */
extern const struct dashboard_asset dashboard_assets[];
extern const size_t dashboard_n_assets;

#endif
