/* util/redact: secrets scrubbed in every form they travel in; URL and
 * base64 helpers against known vectors. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tests/unit/test.h"
#include "util/log.h"
#include "util/redact.h"

/* A canary with characters that URLs and base64 treat specially. */
#define CANARY "Cn@ry!%/:"
#define CANARY_UPPER "Cn%40ry%21%25%2F%3A"
#define CANARY_LOWER "Cn%40ry%21%25%2f%3a"
/* base64("viewer:" CANARY), computed independently (python3 base64) */
#define CANARY_BASIC "dmlld2VyOkNuQHJ5ISUvOg=="
/* base64(CANARY) */
#define CANARY_B64 "Q25AcnkhJS86"

/* Scrubs a copy of in and compares it with want. */
static void scrub_case(const char *in, const char *want, int min_count)
{
	char buf[512];
	snprintf(buf, sizeof(buf), "%s", in);
	int n = redact_scrub(buf, sizeof(buf));
	CHECK_STR(buf, want);
	CHECK(n >= min_count);
}

static void raw_and_percent_forms(void)
{
	redact_reset();
	CHECK_INT(redact_add_credentials("viewer", CANARY), 0);

	scrub_case("password=" CANARY " end", "password=*** end", 1);
	scrub_case(CANARY CANARY, "******", 2);
	scrub_case("rtsp://viewer:" CANARY_UPPER "@10.0.0.1/x", "rtsp://viewer:***@10.0.0.1/x", 1);
	scrub_case("rtsp://viewer:" CANARY_LOWER "@10.0.0.1/x", "rtsp://viewer:***@10.0.0.1/x", 1);
	scrub_case("Authorization: Basic " CANARY_BASIC "\r\n", "Authorization: Basic ***\r\n", 1);
	scrub_case("b64=" CANARY_B64 ";", "b64=***;", 1);

	/* nothing of the canary left in any form */
	char buf[512];
	snprintf(buf, sizeof(buf), "a %s b %s c %s d %s e", CANARY, CANARY_UPPER, CANARY_LOWER,
		 CANARY_BASIC);
	CHECK_INT(redact_scrub(buf, sizeof(buf)), 4);
	CHECK(!strstr(buf, CANARY));
	CHECK(!strstr(buf, "Cn%40"));
	CHECK(!strstr(buf, "OkNuQHJ5"));
	CHECK_STR(buf, "a *** b *** c *** d *** e");
	redact_reset();
}

static void unrelated_text_untouched(void)
{
	static const char *const texts[] = {
		"camera gate3 connected to rtsp://10.0.0.1/x at 25 fps",
		"Cn@r y!%/ almost but not quite",
		"Cn%40ry%21%25%2F%3", /* one character short */
		"dmlld2VyOk",	      /* base64 of "viewer:" alone */
		"",
	};
	redact_reset();
	CHECK_INT(redact_add_credentials("viewer", CANARY), 0);
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		char buf[256];
		snprintf(buf, sizeof(buf), "%s", texts[i]);
		CHECK_INT(redact_scrub(buf, sizeof(buf)), 0);
		CHECK_STR(buf, texts[i]);
	}
	redact_reset();
	/* with nothing registered, the canary itself is left alone */
	char buf[64] = CANARY;
	CHECK_INT(redact_scrub(buf, sizeof(buf)), 0);
	CHECK_STR(buf, CANARY);
	/* empty secrets are ignored rather than matching everywhere */
	CHECK_INT(redact_add_secret(""), 0);
	CHECK_INT(redact_add_credentials("viewer", ""), 0);
	CHECK_INT(redact_scrub(buf, sizeof(buf)), 0);
	CHECK_STR(buf, CANARY);
	redact_reset();
}

static void reset_forgets(void)
{
	redact_reset();
	CHECK_INT(redact_add_secret(CANARY), 0);
	char buf[64] = CANARY;
	CHECK_INT(redact_scrub(buf, sizeof(buf)), 1);
	redact_reset();
	snprintf(buf, sizeof(buf), "%s", CANARY);
	CHECK_INT(redact_scrub(buf, sizeof(buf)), 0);
	CHECK_STR(buf, CANARY);
	redact_reset();
}

/*
 * The secret inside a longer byte string that is base64-encoded as a whole
 * (a Basic header with a longer user name, a token blob): whatever its byte
 * offset, the characters that encode only secret bits must disappear, and
 * the characters that encode only the surrounding bytes must stay.
 */
static void base64_every_alignment_one(const char *secret)
{
	static const char filler[] = "user-name:with;more~bytes";
	size_t n = strlen(secret);

	redact_reset();
	CHECK_INT(redact_add_secret(secret), 0);
	for (size_t pre = 0; pre <= 8; pre++) {
		for (size_t post = 0; post <= 3; post++) {
			unsigned char raw[128];
			char enc[256], scrubbed[256];
			memcpy(raw, filler, pre);
			memcpy(raw + pre, secret, n);
			memcpy(raw + pre + n, filler, post);
			CHECK_INT(base64_encode(raw, pre + n + post, enc, sizeof(enc)), 0);

			/* character k covers bits [6k, 6k+6) of the input */
			size_t first = (pre * 8 + 5) / 6;  /* first pure-secret char */
			size_t last = ((pre + n) * 8) / 6; /* one past the last */
			size_t keep_head = (pre * 8) / 6;  /* pure-prefix chars */
			char core[128];
			snprintf(core, sizeof(core), "%.*s", (int)(last - first), enc + first);

			snprintf(scrubbed, sizeof(scrubbed), "%s", enc);
			int count = redact_scrub(scrubbed, sizeof(scrubbed));
			if (count < 1 || strstr(scrubbed, core) || !strstr(scrubbed, REDACT_MARK) ||
			    strncmp(scrubbed, enc, keep_head) != 0)
				test_fail(
					__FILE__, __LINE__,
					"secret '%s' at offset %zu (+%zu after): '%s' scrubbed to "
					"'%s' (core '%s', %d replacements)",
					secret, pre, post, enc, scrubbed, core, count);
		}
	}
	redact_reset();
}

static void base64_every_alignment(void)
{
	base64_every_alignment_one(CANARY);	   /* 9 bytes: n % 3 == 0 */
	base64_every_alignment_one(CANARY "x");	   /* n % 3 == 1 */
	base64_every_alignment_one(CANARY "xy");   /* n % 3 == 2 */
	base64_every_alignment_one("s3cr3t-P4ss"); /* plain ASCII */
}

static void url_password_hidden(void)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "rtsp://viewer:pa%40ss@10.0.0.1/x", "rtsp://viewer:***@10.0.0.1/x" },
		{ "rtsp://viewer:pa%40ss@10.0.0.1:554/Streaming/Channels/101?a=b#f",
		  "rtsp://viewer:***@10.0.0.1:554/Streaming/Channels/101?a=b#f" },
		/* a raw '@' in the password: the last '@' ends the userinfo */
		{ "rtsp://u:p@ss@cam/x", "rtsp://u:***@cam/x" },
		/* no password: nothing to hide */
		{ "rtsp://viewer@10.0.0.1/x", "rtsp://viewer@10.0.0.1/x" },
		{ "rtsp://10.0.0.1/x", "rtsp://10.0.0.1/x" },
		/* an '@' after the authority is not userinfo */
		{ "rtsp://10.0.0.1/a:b@c", "rtsp://10.0.0.1/a:b@c" },
		{ "https://glpi.example/apirest.php", "https://glpi.example/apirest.php" },
		{ "", "" },
	};
	redact_reset();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[256];
		redact_url(cases[i].in, out, sizeof(out));
		CHECK_STR(out, cases[i].want);
	}
	/* registered secrets elsewhere in the URL are scrubbed too */
	CHECK_INT(redact_add_secret("tok3n-XYZ"), 0);
	char out[256];
	redact_url("rtsp://cam/x?auth=tok3n-XYZ", out, sizeof(out));
	CHECK_STR(out, "rtsp://cam/x?auth=***");
	/* a small output buffer is still NUL-terminated, and holds no secret */
	char small[16];
	memset(small, 'Z', sizeof(small));
	redact_url("rtsp://viewer:pa%40ss@10.0.0.1/x", small, sizeof(small));
	CHECK(memchr(small, '\0', sizeof(small)) != NULL);
	CHECK(!strstr(small, "pa%40ss"));
	CHECK_STR(small, "rtsp://viewer:*");
	redact_reset();
}

static void url_encode_vectors(void)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ CANARY, CANARY_UPPER },
		{ "AZaz09-._~", "AZaz09-._~" }, /* RFC 3986 unreserved */
		{ "a b+c", "a%20b%2Bc" },
		{ "@:/?#[]!$&'()*,;=", "%40%3A%2F%3F%23%5B%5D%21%24%26%27%28%29%2A%2C%3B%3D" },
		{ "\xc3\xa9t\xc3\xa9", "%C3%A9t%C3%A9" }, /* UTF-8 bytes, upper-case hex */
		{ "", "" },
	};
	redact_reset();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[128];
		CHECK_INT(url_encode_userinfo(cases[i].in, out, sizeof(out)), 0);
		CHECK_STR(out, cases[i].want);
	}
	/* exactly enough room, and one byte short */
	char out[sizeof(CANARY_UPPER)];
	CHECK_INT(url_encode_userinfo(CANARY, out, sizeof(out)), 0);
	CHECK_STR(out, CANARY_UPPER);
	CHECK_INT(url_encode_userinfo(CANARY, out, sizeof(out) - 1), -ENOSPC);
	CHECK_INT(url_encode_userinfo("abc", out, 3), -ENOSPC);
	CHECK_INT(url_encode_userinfo("", out, 1), 0);
	CHECK_STR(out, "");
	redact_reset();
}

static void base64_vectors(void)
{
	/* RFC 4648 section 10 */
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "", "" },
		{ "f", "Zg==" },
		{ "fo", "Zm8=" },
		{ "foo", "Zm9v" },
		{ "foob", "Zm9vYg==" },
		{ "fooba", "Zm9vYmE=" },
		{ "foobar", "Zm9vYmFy" },
	};
	redact_reset();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[32];
		memset(out, 'Z', sizeof(out));
		CHECK_INT(base64_encode((const unsigned char *)cases[i].in, strlen(cases[i].in),
					out, sizeof(out)),
			  0);
		CHECK_STR(out, cases[i].want);
	}
	/* the two last letters of the alphabet, and bytes with the top bit */
	static const unsigned char hi[] = { 0xfb, 0xff, 0xbf, 0x00, 0x10, 0x83 };
	char out[32];
	CHECK_INT(base64_encode(hi, sizeof(hi), out, sizeof(out)), 0);
	CHECK_STR(out, "+/+/ABCD");
	CHECK_INT(base64_encode((const unsigned char *)"viewer:" CANARY, 16, out, sizeof(out)), 0);
	CHECK_STR(out, CANARY_BASIC);
	/* room for the text and its NUL, then one byte short */
	CHECK_INT(base64_encode((const unsigned char *)"foobar", 6, out, 9), 0);
	CHECK_STR(out, "Zm9vYmFy");
	CHECK_INT(base64_encode((const unsigned char *)"foobar", 6, out, 8), -ENOSPC);
	CHECK_INT(base64_encode((const unsigned char *)"f", 1, out, 4), -ENOSPC);
	redact_reset();
}

/* A secret shorter than the mark grows the text: the scrub must stay inside
 * the buffer it was given. */
static void scrub_respects_capacity(void)
{
	static const char text[] = "pwd=xy";
	char big[32];

	redact_reset();
	CHECK_INT(redact_add_secret("xy"), 0);
	for (size_t cap = 1; cap <= sizeof(text) + 2; cap++) {
		size_t len = cap - 1 < strlen(text) ? cap - 1 : strlen(text);
		memset(big, 'Z', sizeof(big));
		memcpy(big, text, len);
		big[len] = '\0'; /* the longest prefix of the text that fits cap */
		redact_scrub(big, cap);
		for (size_t i = cap; i < sizeof(big); i++)
			if (big[i] != 'Z') {
				test_fail(__FILE__, __LINE__,
					  "scrub with capacity %zu wrote byte %zu", cap, i);
				break;
			}
		CHECK(memchr(big, '\0', cap) != NULL);
		CHECK(!strstr(big, "xy"));
	}
	/* with room, the whole mark */
	memcpy(big, text, sizeof(text));
	CHECK_INT(redact_scrub(big, sizeof(big)), 1);
	CHECK_STR(big, "pwd=***");
	redact_reset();
}

/* Past 256 forms (about 34 passwords) the old table refused more, and the
 * later passwords went unscrubbed: every one of 200 cameras' is. */
static void many_secrets_all_scrubbed(void)
{
	char pass[64], user[32], buf[256];

	redact_reset();
	for (int i = 0; i < 200; i++) {
		snprintf(user, sizeof(user), "cam%d", i);
		snprintf(pass, sizeof(pass), "Pw-%03d-%08x!", i, (unsigned)(i * 2654435761u));
		CHECK_INT(redact_add_credentials(user, pass), 0);
	}
	for (int i = 0; i < 200; i++) {
		snprintf(pass, sizeof(pass), "Pw-%03d-%08x!", i, (unsigned)(i * 2654435761u));
		snprintf(buf, sizeof(buf), "camera %d said %s twice: %s", i, pass, pass);
		CHECK_INT(redact_scrub(buf, sizeof(buf)), 2);
		CHECK(!strstr(buf, pass));
	}
	redact_reset();
	/* a table that cannot grow says so, and the caller learns it */
	redact_set_max_forms(5); /* the five forms of the first */
	CHECK_INT(redact_add_secret("first-secret-1"), 0);
	CHECK(redact_add_secret("second-secret-2") == -ENOMEM);
	redact_set_max_forms(0);
	redact_reset();
}

/*
 * A password too short to be told from ordinary text ("x", a camera's
 * default "12345") is scrubbed only where a secret can stand; elsewhere the
 * text is left alone.  A password of normal length goes everywhere.
 */
static void short_secret_only_in_context(void)
{
	static const struct {
		const char *secret, *in, *want;
	} cases[] = {
		/* ordinary text keeps its x and its digits */
		{ "x", "video 1280x720 at 25 fps", "video 1280x720 at 25 fps" },
		{ "x", "0x5645 bytes", "0x5645 bytes" },
		{ "12345", "2026-12-02T12:34:56.123456Z frame 123456 ts 912345",
		  "2026-12-02T12:34:56.123456Z frame 123456 ts 912345" },
		/* a URL's userinfo, whatever its password, and its query */
		{ "x", "rtsp://admin:x@10.0.0.1:554/x", "rtsp://admin:***@10.0.0.1:554/x" },
		{ "12345", "opening 'rtsp://admin:12345@10.0.1.23/Streaming/101'",
		  "opening 'rtsp://admin:***@10.0.1.23/Streaming/101'" },
		{ "12345", "GET http://cam/snap.cgi?user=admin&pwd=12345 failed",
		  "GET http://cam/snap.cgi?user=admin&pwd=*** failed" },
		{ "12345", "rtsp://cam/x?code=12345&ch=1 at 12345",
		  "rtsp://cam/x?code=***&ch=1 at 12345" },
		/* credential fields: headers and key=value */
		{ "12345", "Authorization: user_token 12345\r\nAccept: 12345",
		  "Authorization: user_token ***\r\nAccept: 12345" },
		{ "s3ss", "Session-Token: s3ss", "Session-Token: ***" },
		{ "x", "password=x width=1280x720", "password=*** width=1280x720" },
		{ "12345", "X-Redmine-API-Key: 12345", "X-Redmine-API-Key: ***" },
		/* a normal password is scrubbed wherever it is */
		{ "Tr0ub4dor&3", "said Tr0ub4dor&3 at 12:00", "said *** at 12:00" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char buf[256];
		redact_reset();
		CHECK_INT(redact_add_credentials("admin", cases[i].secret), 0);
		snprintf(buf, sizeof(buf), "%s", cases[i].in);
		redact_scrub(buf, sizeof(buf));
		CHECK_STR(buf, cases[i].want);
	}
	redact_reset();
}

static void controls_cleaned(void)
{
	char s[64] = "RTSP/1.0 200 OK\r\n2026 fake: ok\x1b[2J\tend\x7f\xc2\x9b\xc3\xa9";
	redact_clean_controls(s);
	CHECK_STR(s, "RTSP/1.0 200 OK??2026 fake: ok?[2J end???\xc3\xa9");
}

/* What the log writes for one message, read back from a file standing in
 * for stderr. */
static void log_capture(const char *msg, char *out, size_t size)
{
	FILE *f = tmpfile();
	int saved = dup(STDERR_FILENO);
	out[0] = '\0';
	if (!f || saved < 0) {
		test_fail(__FILE__, __LINE__, "cannot capture stderr");
		return;
	}
	dup2(fileno(f), STDERR_FILENO);
	log_error("%s", msg);
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(f);
	size_t n = fread(out, 1, size - 1, f);
	out[n] = '\0';
	fclose(f);
}

/* A secret across the 2048-byte cut of a log line must not leave its first
 * half behind; and a camera's CR/LF must not start a forged line. */
static void log_scrubs_before_cut(void)
{
	static char msg[4096], out[8192];
	const char *secret = "Sp1it-Acr0ss-The-Cut";

	redact_reset();
	CHECK_INT(redact_add_secret(secret), 0);
	for (size_t at = 2030; at <= 2050; at += 4) {
		memset(msg, 'a', at);
		snprintf(msg + at, sizeof(msg) - at, "%s and more after it", secret);
		log_capture(msg, out, sizeof(out));
		CHECK(strstr(out, "Sp1it-A") == NULL);
		CHECK(strstr(out, "Sp1it") == NULL);
	}
	log_capture("camera 'x': server said OK\r\n2026-12-02 vigil[1] error: forged", out,
		    sizeof(out));
	CHECK_INT(strchr(out, '\n') == out + strlen(out) - 1, 1);
	CHECK(strstr(out, "OK??2026") != NULL);
	redact_reset();
}

const struct test_case redact_tests[] = {
	{ "raw_and_percent_forms", raw_and_percent_forms },
	{ "unrelated_text_untouched", unrelated_text_untouched },
	{ "reset_forgets", reset_forgets },
	{ "base64_every_alignment", base64_every_alignment },
	{ "url_password_hidden", url_password_hidden },
	{ "url_encode_vectors", url_encode_vectors },
	{ "base64_vectors", base64_vectors },
	{ "scrub_respects_capacity", scrub_respects_capacity },
	{ "many_secrets_all_scrubbed", many_secrets_all_scrubbed },
	{ "short_secret_only_in_context", short_secret_only_in_context },
	{ "controls_cleaned", controls_cleaned },
	{ "log_scrubs_before_cut", log_scrubs_before_cut },
	{ NULL, NULL },
};
