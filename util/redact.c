/*
 * Redaction of registered secrets.  Secrets are stored with all the forms
 * in which they may leak (raw, percent-encoded, base64 at each of the three
 * byte alignments), and a scrub is a plain substring search for each form,
 * longest first, so a form that contains a shorter one is replaced whole.
 *
 * A short secret ("x", a camera's default "12345") would match unrelated
 * text everywhere (frame sizes, timestamps), so the raw and percent-encoded
 * forms of a secret under REDACT_MIN_ANYWHERE characters are replaced only
 * where a secret can stand: the password of a URL's userinfo (masked
 * whatever it holds), a URL's query, and the value of a credential-bearing
 * field (Authorization, *-Token, password=, ...).  The table grows as
 * secrets are registered, so any number of cameras can have their own.
 */
#include "util/redact.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "util/banned.h"

/* Base64 fragments shorter than this would match unrelated text. */
#define REDACT_MIN_B64 4

struct form {
	char *s;
	size_t len;
	bool anywhere; /* false: only inside a credential context */
};

static struct form *forms;
static size_t nforms, cap_forms;
static size_t max_forms; /* 0: no limit (redact_set_max_forms, tests) */

void redact_set_max_forms(size_t max)
{
	max_forms = max;
}

static int add_form(const char *s, size_t len, bool anywhere)
{
	if (len == 0)
		return 0;
	for (size_t i = 0; i < nforms; i++)
		if (forms[i].len == len && memcmp(forms[i].s, s, len) == 0) {
			forms[i].anywhere |= anywhere;
			return 0;
		}
	if (max_forms && nforms >= max_forms)
		return -ENOMEM;
	if (nforms == cap_forms) {
		size_t cap = cap_forms ? cap_forms * 2 : 64;
		struct form *grown = realloc(forms, cap * sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		forms = grown;
		cap_forms = cap;
	}
	char *copy = strndup(s, len);
	if (!copy)
		return -ENOMEM;
	/* keep the longest first, so the scrub replaces supersets before parts */
	size_t at = nforms;
	while (at > 0 && forms[at - 1].len < len) {
		forms[at] = forms[at - 1];
		at--;
	}
	forms[at] = (struct form){ .s = copy, .len = len, .anywhere = anywhere };
	nforms++;
	return 0;
}

int base64_encode(const unsigned char *in, size_t n, char *out, size_t size)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t need = (n + 2) / 3 * 4 + 1;
	size_t o = 0;

	if (size < need)
		return -ENOSPC;
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)in[i] << 16;
		if (i + 1 < n)
			v |= (unsigned)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		out[o++] = alphabet[(v >> 18) & 63];
		out[o++] = alphabet[(v >> 12) & 63];
		out[o++] = i + 1 < n ? alphabet[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? alphabet[v & 63] : '=';
	}
	out[o] = '\0';
	return 0;
}

static bool is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

static int percent_encode(const char *s, char *out, size_t size, bool lower)
{
	const char *hex = lower ? "0123456789abcdef" : "0123456789ABCDEF";
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (is_unreserved(*p)) {
			if (o + 1 >= size)
				return -ENOSPC;
			out[o++] = (char)*p;
		} else {
			if (o + 3 >= size)
				return -ENOSPC;
			out[o++] = '%';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		}
	}
	if (o >= size)
		return -ENOSPC;
	out[o] = '\0';
	return 0;
}

int url_encode_userinfo(const char *s, char *out, size_t size)
{
	return percent_encode(s, out, size, false);
}

/*
 * The secret inside a longer base64 text is encoded differently depending
 * on its offset modulo 3; for each offset, the characters that depend on the
 * secret alone form a fixed core that can be searched for.
 */
static int add_base64_forms(const char *secret)
{
	size_t n = strlen(secret);
	unsigned char *in = malloc(n + 2);
	char *out = malloc((n + 4) / 3 * 4 + 8);
	int ret = -ENOMEM;

	if (!in || !out)
		goto out;
	ret = 0;
	for (size_t shift = 0; shift < 3 && ret == 0; shift++) {
		memset(in, 0, shift);
		memcpy(in + shift, secret, n);
		size_t total = n + shift;
		if (base64_encode(in, total, out, (n + 4) / 3 * 4 + 8) < 0) {
			ret = -ENOSPC;
			break;
		}
		/* characters covering only secret bits: skip the first ones
		 * mixed with padding bytes and the last ones mixed with what
		 * follows the secret */
		size_t first = (shift * 8 + 5) / 6;
		size_t last = (total * 8) / 6; /* exclusive */
		if (shift == 0 && n % 3 == 0)
			ret = add_form(out, strlen(out), true); /* whole, exact encoding */
		if (ret == 0 && last > first && last - first >= REDACT_MIN_B64)
			ret = add_form(out + first, last - first, true);
	}
	if (ret == 0 &&
	    base64_encode((const unsigned char *)secret, n, out, (n + 4) / 3 * 4 + 8) == 0)
		ret = add_form(out, strlen(out), true);
out:
	free(in);
	free(out);
	return ret;
}

int redact_add_secret(const char *secret)
{
	char enc[1024];
	int ret;

	if (!secret || !*secret)
		return 0;
	bool anywhere = strlen(secret) >= REDACT_MIN_ANYWHERE;
	if ((ret = add_form(secret, strlen(secret), anywhere)) < 0)
		return ret;
	if (percent_encode(secret, enc, sizeof(enc), false) == 0 &&
	    (ret = add_form(enc, strlen(enc), anywhere)) < 0)
		return ret;
	if (percent_encode(secret, enc, sizeof(enc), true) == 0 &&
	    (ret = add_form(enc, strlen(enc), anywhere)) < 0)
		return ret;
	return add_base64_forms(secret);
}

int redact_add_credentials(const char *user, const char *password)
{
	char pair[1024];
	int ret;

	if (!password || !*password)
		return 0;
	if ((ret = redact_add_secret(password)) < 0)
		return ret;
	size_t ul = user ? strlen(user) : 0, pl = strlen(password);
	if (ul + pl + 2 > sizeof(pair))
		return 0;
	memcpy(pair, user ? user : "", ul);
	pair[ul] = ':';
	memcpy(pair + ul + 1, password, pl + 1);
	char *b64 = malloc((ul + pl + 1 + 2) / 3 * 4 + 1);
	if (!b64)
		return -ENOMEM;
	ret = base64_encode((const unsigned char *)pair, ul + pl + 1, b64,
			    (ul + pl + 1 + 2) / 3 * 4 + 1);
	if (ret == 0)
		ret = add_form(b64, strlen(b64), true);
	free(b64);
	return ret;
}

void redact_reset(void)
{
	for (size_t i = 0; i < nforms; i++)
		free(forms[i].s);
	free(forms);
	forms = NULL;
	nforms = cap_forms = 0;
}

/*
 * Replaces the flen bytes at hit with the mark.  The string fits in size,
 * so room >= flen >= 1: a mark longer than the form is cut (and the tail
 * after it) rather than written past the buffer.  Returns the mark's length.
 */
static size_t replace_at(char *buf, size_t size, char *hit, size_t flen)
{
	const size_t mark_len = strlen(REDACT_MARK);
	size_t room = size - (size_t)(hit - buf) - 1;
	size_t mlen = mark_len < room ? mark_len : room;
	size_t tail = strlen(hit + flen);
	if (mlen + tail > room)
		tail = room - mlen;
	memmove(hit + mlen, hit + flen, tail);
	memcpy(hit, REDACT_MARK, mlen);
	hit[mlen + tail] = '\0';
	return mlen;
}

/* Replaces each form that may be replaced anywhere, or (context) each of
 * the short ones, within buf[from, *to); *to follows the text as it shrinks
 * or grows. */
static int scrub_span(char *buf, size_t size, size_t from, size_t *to, bool context)
{
	int count = 0;

	for (size_t f = 0; f < nforms; f++) {
		if (forms[f].anywhere == context)
			continue;
		size_t at = from;
		while (at < *to && *to - at >= forms[f].len) {
			char *hit = memmem(buf + at, *to - at, forms[f].s, forms[f].len);
			if (!hit)
				break;
			size_t mlen = replace_at(buf, size, hit, forms[f].len);
			*to = *to + mlen - forms[f].len;
			size_t len = strlen(buf);
			if (*to > len)
				*to = len;
			at = (size_t)(hit - buf) + mlen;
			count++;
		}
	}
	return count;
}

static bool url_end_char(char c)
{
	return c == '\0' || isspace((unsigned char)c) || c == '"' || c == '\'' || c == '<' ||
	       c == '>' || c == '`';
}

/*
 * Every URL in buf: the password of its userinfo is masked whatever it is
 * (registered or not), and its query is scrubbed of the short forms.
 */
static int scrub_urls(char *buf, size_t size)
{
	int count = 0;
	char *p = buf;

	while ((p = strstr(p, "://")) != NULL) {
		char *auth = p + 3;
		size_t n = 0;
		while (!url_end_char(auth[n]))
			n++;
		size_t auth_len = strcspn(auth, "/?#");
		if (auth_len > n)
			auth_len = n;
		char *at = NULL;
		for (size_t i = 0; i < auth_len; i++)
			if (auth[i] == '@')
				at = auth + i; /* the last '@' ends the userinfo */
		if (at) {
			char *colon = memchr(auth, ':', (size_t)(at - auth));
			size_t plen = colon ? (size_t)(at - colon - 1) : 0;
			if (colon && plen > 0 &&
			    !(plen == strlen(REDACT_MARK) &&
			      memcmp(colon + 1, REDACT_MARK, plen) == 0)) {
				size_t mlen = replace_at(buf, size, colon + 1, plen);
				n = n + mlen - plen;
				count++;
			}
		}
		size_t end = (size_t)(auth - buf) + n;
		if (end > strlen(buf))
			end = strlen(buf);
		char *q = memchr(auth, '?', end - (size_t)(auth - buf));
		if (q)
			count += scrub_span(buf, size, (size_t)(q - buf), &end, true);
		p = buf + end;
	}
	return count;
}

/* Names of fields whose value is a credential: headers (Authorization,
 * Session-Token, X-Redmine-API-Key), query and form keys (password=). */
static const char *const secret_keys[] = { "auth",   "token",	"pass",	  "pwd",
					   "secret", "api-key", "apikey", NULL };

static bool name_char(char c)
{
	return isalnum((unsigned char)c) || c == '-' || c == '_';
}

static int scrub_fields(char *buf, size_t size)
{
	int count = 0;
	size_t i = 0;

	while (buf[i]) {
		if (!name_char(buf[i]) || (i > 0 && name_char(buf[i - 1]))) {
			i++;
			continue;
		}
		/* a name: does it hold one of the keys? */
		size_t start = i, end = i;
		while (name_char(buf[end]))
			end++;
		bool secret = false;
		for (int k = 0; secret_keys[k] && !secret; k++) {
			size_t kl = strlen(secret_keys[k]);
			for (size_t j = start; j + kl <= end && !secret; j++)
				secret = strncasecmp(buf + j, secret_keys[k], kl) == 0;
		}
		size_t v = end;
		while (buf[v] == ' ')
			v++;
		if (!secret || (buf[v] != ':' && buf[v] != '=')) {
			i = end;
			continue;
		}
		/* a header's value runs to the end of the line, a key=value's to
		 * the next separator */
		const char *stop = buf[v] == ':' ? "\r\n" : " \t\r\n&;,\"'";
		size_t vend = v + 1 + strcspn(buf + v + 1, stop);
		count += scrub_span(buf, size, v + 1, &vend, true);
		i = vend;
	}
	return count;
}

int redact_scrub(char *buf, size_t size)
{
	int count = 0;

	if (!buf || size == 0)
		return 0;
	size_t len = strlen(buf);
	count += scrub_span(buf, size, 0, &len, false);
	count += scrub_urls(buf, size);
	count += scrub_fields(buf, size);
	return count;
}

void redact_url(const char *url, char *out, size_t size)
{
	size_t o = 0;
	const char *scheme_end = strstr(url, "://");
	const char *auth = scheme_end ? scheme_end + 3 : url;
	const char *auth_end = auth + strcspn(auth, "/?#");
	const char *at = NULL;

	if (size == 0)
		return;
	for (const char *p = auth; p < auth_end; p++)
		if (*p == '@')
			at = p; /* the last '@' ends the userinfo */
	const char *colon = NULL;
	if (at) {
		colon = memchr(auth, ':', (size_t)(at - auth));
	}
	for (const char *p = url; *p && o + 1 < size; p++) {
		if (colon && p == colon + 1) {
			for (const char *m = REDACT_MARK; *m && o + 1 < size; m++)
				out[o++] = *m;
			p = at - 1;
			continue;
		}
		out[o++] = *p;
	}
	out[o] = '\0';
	redact_scrub(out, size);
}

void redact_clean_controls(char *s)
{
	if (!s)
		return;
	for (unsigned char *p = (unsigned char *)s; *p; p++) {
		if (*p == '\t')
			*p = ' ';
		else if (*p < 0x20 || *p == 0x7f)
			*p = '?';
		else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			/* a C1 control in UTF-8 (U+0080..U+009F): CSI for some terminals */
			p[0] = '?';
			p[1] = '?';
			p++;
		}
	}
}
