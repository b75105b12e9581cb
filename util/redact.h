/*
 * Credential redaction.  Every secret vigil learns (camera passwords, the
 * broker password) is registered here once, before any thread starts; from
 * then on every log line, libavformat message, report and payload can be
 * scrubbed of it.  A secret is matched in its raw form, percent-encoded
 * (upper- and lower-case hex) and base64-encoded at any alignment, because
 * that is how it travels inside URLs and Basic authorization headers.
 *
 * A secret shorter than REDACT_MIN_ANYWHERE characters would match ordinary
 * text (with a password "x", "1280x720"), so its raw and percent-encoded
 * forms are replaced only where a secret can stand: a URL's userinfo
 * password (always masked) and query, and the value of a credential field
 * (Authorization:, Session-Token:, X-Redmine-API-Key:, password=, ...).
 *
 * Thread safety: register during start-up only; scrubbing is read-only and
 * may run on any thread afterwards.
 */
#ifndef VIGIL_UTIL_REDACT_H
#define VIGIL_UTIL_REDACT_H

#include <stddef.h>

#define REDACT_MARK "***"
#define REDACT_MIN_ANYWHERE 8

/* Caps the number of forms held (0, the default: no cap), so that tests can
 * see what a registration that runs out of memory does. */
void redact_set_max_forms(size_t max);

/* Registers a secret and its encoded forms; empty secrets are ignored.  The
 * table grows as needed.  Returns 0, or -ENOMEM (the secret may then be
 * only partly registered: the caller must not go on as if it were). */
int redact_add_secret(const char *secret);

/* Registers "user:password" as it appears in a Basic authorization header,
 * as well as the password itself. */
int redact_add_credentials(const char *user, const char *password);

/* Forgets every registered secret (tests); keeps the cap. */
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

/* Replaces in place every control character of s (C0, DEL, UTF-8 encoded
 * C1) with '?', a tab with a space: text that came from a camera or another
 * system (an RTSP reply, SDP, a ticket system's answer) must not start a new
 * log line, forge a report row or drive a terminal. */
void redact_clean_controls(char *s);

/* Standard base64 of n bytes; returns 0 or -ENOSPC. */
int base64_encode(const unsigned char *in, size_t n, char *out, size_t size);

#endif
