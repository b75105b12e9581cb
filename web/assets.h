/*
 * The console's page files, compiled into the binary by tools/asset2c from
 * web/assets/ (the generated table is $(BUILD)/gen/web_assets.c).  Only
 * web/pages.c reads it.
 */
#ifndef VIGIL_WEB_ASSETS_H
#define VIGIL_WEB_ASSETS_H

#include <stddef.h>

struct web_asset {
	const char *path; /* "/assets/app.js" */
	const char *type; /* the Content-Type */
	const char *etag; /* quoted, as the ETag header carries it */
	const unsigned char *data;
	size_t len; /* data[len] is a NUL the file does not have */
};

/* Ends with an entry whose path is NULL. */
extern const struct web_asset web_assets[];

#endif
