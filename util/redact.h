/*
 * Credential redaction.  Every secret vigil learns (camera passwords, the
 * broker password) is registered here once, before any thread starts; from
 * then on every log line, libavformat message, report and payload can be
 * scrubbed of it.  A secret is matched in its raw form, percent-encoded
 * (upper- and lower-case hex) and base64-encoded at any alignment, because
 * that is how it travels inside URLs and Basic authorization headers.
 *
 * Thread safety: register during start-up only; scrubbing is read-only and
 * may run on any thread afterwards.
 */
#ifndef VIGIL_UTIL_REDACT_H
#define VIGIL_UTIL_REDACT_H

#include <stddef.h>

#define REDACT_MARK "***"

/* Registers a secret and its encoded forms; empty secrets are ignored.
 * Returns 0, or -ENOMEM. */
int redact_add_secret(const char *secret);

/* Registers "user:password" as it appears in a Basic authorization header,
 * as well as the password itself. */
int redact_add_credentials(const char *user, const char *password);

/* Forgets every registered secret (tests). */
void redact_reset(void);

/* Replaces every registered form in the NUL-terminated string buf (of
 * capacity size) with REDACT_MARK.  Returns the number of replacements. */
int redact_scrub(char *buf, size_t size);

/* Copies url into out with any password in its userinfo replaced by
 * REDACT_MARK, then scrubs registered secrets.  Always NUL-terminates. */
void redact_url(const char *url, char *out, size_t size);

/* Percent-encodes s for the userinfo part of a URL (RFC 3986 unreserved
 * characters stay as they are).  Returns 0, or -ENOSPC if out is too small. */
int url_encode_userinfo(const char *s, char *out, size_t size);

/* Standard base64 of n bytes; returns 0 or -ENOSPC. */
int base64_encode(const unsigned char *in, size_t n, char *out, size_t size);

#endif
