/*
 * The console's pages: one HTML page and its scripts and style sheet, all
 * compiled into the binary (web/assets.h), so vigil serve needs no files
 * beside it and the pages never reach for a CDN.  The page and its assets
 * are public: the page asks /api/me and shows the login form on 401, so
 * nothing here depends on a session.
 *
 * Every reply carries an ETag (from the file's hash) and "no-cache": the
 * browser asks again each time, and a 304 of a few bytes answers it until
 * a new binary brings new bytes.  The security policy allows scripts,
 * styles and media from this server only; the pages need nothing else.
 */
#include <stdio.h>
#include <string.h>

#include "web/assets.h"
#include "web/internal.h"

#include "util/banned.h"

#define PAGE_CSP                                                                                   \
	"default-src 'self'; media-src 'self' blob:; img-src 'self' data:; "                       \
	"frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

static const struct web_asset *asset_find(const char *path)
{
	for (const struct web_asset *a = web_assets; a->path; a++) {
		if (strcmp(a->path, path) == 0)
			return a;
	}
	return NULL;
}

/* Whether If-None-Match names etag: "*", or one of a comma-separated list,
 * weak or strong (a proxy may have weakened it). */
static bool etag_matches(const char *header, const char *etag)
{
	size_t n = strlen(etag);
	const char *p = header;

	while (*p) {
		while (*p == ' ' || *p == ',')
			p++;
		if (*p == '*')
			return true;
		if (strncmp(p, "W/", 2) == 0)
			p += 2;
		if (strncmp(p, etag, n) == 0 && (p[n] == '\0' || p[n] == ',' || p[n] == ' '))
			return true;
		while (*p && *p != ',')
			p++;
	}
	return false;
}

static enum MHD_Result serve_asset(struct web_request *r, const struct web_asset *a)
{
	const char *inm = web_header(r, "If-None-Match");
	bool fresh = inm && etag_matches(inm, a->etag);
	struct MHD_Response *resp;

	/* The table is static: the response points at it and never frees it. */
	resp = MHD_create_response_from_buffer(fresh ? 0 : a->len, (void *)a->data,
					       MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	if (MHD_add_response_header(resp, "Content-Type", a->type) != MHD_YES ||
	    MHD_add_response_header(resp, "ETag", a->etag) != MHD_YES ||
	    MHD_add_response_header(resp, "Cache-Control", "no-cache") != MHD_YES ||
	    MHD_add_response_header(resp, "Content-Security-Policy", PAGE_CSP) != MHD_YES) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	return web_reply_response(r, fresh ? MHD_HTTP_NOT_MODIFIED : MHD_HTTP_OK, resp);
}

static enum MHD_Result page_index(struct web_request *r)
{
	const struct web_asset *a = asset_find("/assets/index.html");

	if (!a)
		return web_reply_error(r, MHD_HTTP_NOT_FOUND, "this build has no console pages");
	return serve_asset(r, a);
}

static enum MHD_Result page_asset(struct web_request *r)
{
	char path[128];
	const struct web_asset *a = NULL;
	int n = snprintf(path, sizeof(path), "/assets/%s", r->nparams > 0 ? r->params[0] : "");

	if (n > 0 && (size_t)n < sizeof(path))
		a = asset_find(path);
	if (!a)
		return web_reply_error(r, MHD_HTTP_NOT_FOUND, "no asset '%s'", r->path);
	return serve_asset(r, a);
}

const struct web_route web_page_routes[] = {
	{ "GET", "/", WEB_PUBLIC, page_index },
	{ "GET", "/assets/{}", WEB_PUBLIC, page_asset },
	{ NULL, NULL, WEB_PUBLIC, NULL },
};
