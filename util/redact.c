/*
 * Redaction of registered secrets.  Secrets are stored with all the forms
 * in which they may leak (raw, percent-encoded, base64 at each of the three
 * byte alignments), and a scrub is a plain substring search for each form,
 * longest first, so a form that contains a shorter one is replaced whole.
 */
#include "util/redact.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define REDACT_MAX_FORMS 256
/* Base64 fragments shorter than this would match unrelated text. */
#define REDACT_MIN_B64 4

static char *forms[REDACT_MAX_FORMS];
static size_t nforms;

static int add_form(const char *s, size_t len)
{
	if (len == 0)
		return 0;
	for (size_t i = 0; i < nforms; i++)
		if (strlen(forms[i]) == len && memcmp(forms[i], s, len) == 0)
			return 0;
	if (nforms == REDACT_MAX_FORMS)
		return -ENOMEM;
	char *copy = strndup(s, len);
	if (!copy)
		return -ENOMEM;
	/* keep the longest first, so the scrub replaces supersets before parts */
	size_t at = nforms;
	while (at > 0 && strlen(forms[at - 1]) < len) {
		forms[at] = forms[at - 1];
		at--;
	}
	forms[at] = copy;
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
			ret = add_form(out, strlen(out)); /* whole, exact encoding too */
		if (ret == 0 && last > first && last - first >= REDACT_MIN_B64)
			ret = add_form(out + first, last - first);
	}
	if (ret == 0 &&
	    base64_encode((const unsigned char *)secret, n, out, (n + 4) / 3 * 4 + 8) == 0)
		ret = add_form(out, strlen(out));
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
	if ((ret = add_form(secret, strlen(secret))) < 0)
		return ret;
	if (percent_encode(secret, enc, sizeof(enc), false) == 0 &&
	    (ret = add_form(enc, strlen(enc))) < 0)
		return ret;
	if (percent_encode(secret, enc, sizeof(enc), true) == 0 &&
	    (ret = add_form(enc, strlen(enc))) < 0)
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
		ret = add_form(b64, strlen(b64));
	free(b64);
	return ret;
}

void redact_reset(void)
{
	for (size_t i = 0; i < nforms; i++)
		free(forms[i]);
	nforms = 0;
}

int redact_scrub(char *buf, size_t size)
{
	const size_t mark_len = strlen(REDACT_MARK);
	int count = 0;

	if (!buf || size == 0)
		return 0;
	for (size_t f = 0; f < nforms; f++) {
		const char *form = forms[f];
		size_t flen = strlen(form);
		char *hit = buf;
		while ((hit = strstr(hit, form)) != NULL) {
			/* the string fits in size, so room >= flen >= 1: a mark
			 * longer than the form is cut (and the tail after it) rather
			 * than written past the buffer */
			size_t room = size - (size_t)(hit - buf) - 1;
			size_t mlen = mark_len < room ? mark_len : room;
			size_t tail = strlen(hit + flen);
			if (mlen + tail > room)
				tail = room - mlen;
			memmove(hit + mlen, hit + flen, tail);
			memcpy(hit, REDACT_MARK, mlen);
			hit[mlen + tail] = '\0';
			hit += mlen;
			count++;
		}
	}
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
