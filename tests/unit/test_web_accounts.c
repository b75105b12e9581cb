/* web/accounts and web/store: argon2id hashes, logins and their rate limit,
 * sessions and their expiry, tokens, camera scope, and the access log's
 * chain against an attacker who edits the file. */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "tests/unit/test.h"
#include "util/clock.h"
#include "web/auth.h"
#include "web/internal.h"

#define T0 (INT64_C(1796220000) * USEC_PER_SEC) /* 2026-12-01 */
#define PW "correct horse"

static struct config *load_config(void)
{
	struct config_problems p = { 0 };
	char text[1024];
	snprintf(text, sizeof(text),
		 "[storage]\npath = %s\n[web]\nsession_hours = 2\n"
		 "[camera a]\nurl = rtsp://127.0.0.1:1/a\n[camera b]\nurl = rtsp://127.0.0.1:1/b\n",
		 test_dir());
	struct config *cfg = config_load(test_write_file("vigil.ini", text), &p);
	if (!cfg)
		test_fail(__FILE__, __LINE__, "config does not load");
	config_problems_release(&p);
	return cfg;
}

static struct web_store *open_store(const struct config *cfg)
{
	char err[512];
	struct web_store *st = web_store_open(cfg, true, err, sizeof(err));
	if (!st)
		test_fail(__FILE__, __LINE__, "open: %s", err);
	return st;
}

static void roles(void)
{
	enum web_role r;
	CHECK_INT(web_role_parse("operator", &r), 0);
	CHECK_INT(r, WEB_OPERATOR);
	CHECK_STR(web_role_name(WEB_ADMIN), "admin");
	CHECK_INT(web_role_parse("root", &r), -EINVAL);
	CHECK_INT(web_role_parse(NULL, &r), -EINVAL);
}

static void password_hashes(void)
{
	char a[WEB_PWHASH_MAX], b[WEB_PWHASH_MAX];
	CHECK_INT(web_password_hash(PW, a, sizeof(a)), 0);
	CHECK_CONTAINS(a, "$argon2id$v=19$m=19456,t=2,p=1$");
	CHECK_INT(web_password_check(a, PW), 0);
	CHECK_INT(web_password_check(a, PW "!"), -EACCES);
	CHECK_INT(web_password_check(a, ""), -EACCES);
	CHECK_INT(web_password_check("not a hash", PW), -EACCES);
	/* a salt of its own each time */
	CHECK_INT(web_password_hash(PW, b, sizeof(b)), 0);
	CHECK(strcmp(a, b) != 0);
	CHECK_INT(web_password_hash(PW, b, 20), -ENOBUFS);

	CHECK(web_secret_equal("abc", "abc"));
	CHECK(!web_secret_equal("abc", "abd"));
	CHECK(!web_secret_equal("abc", "ab"));
	CHECK(!web_secret_equal("", "a"));
}

static void account_rules(void)
{
	struct config *cfg = load_config();
	struct web_store *st = cfg ? open_store(cfg) : NULL;
	char err[256];
	if (!st)
		goto out;
	CHECK_INT(web_accounts_add(st, cfg, "ann", WEB_VIEWER, PW, "a", err, sizeof(err)), 0);
	CHECK_INT(web_accounts_add(st, cfg, "ann", WEB_VIEWER, PW, "", err, sizeof(err)), -EEXIST);
	CHECK_CONTAINS(err, "exists");
	CHECK_INT(web_accounts_add(st, cfg, "bob", WEB_VIEWER, "short", "", err, sizeof(err)),
		  -EINVAL);
	CHECK_INT(web_accounts_add(st, cfg, "bob", WEB_VIEWER, PW, "a,zz", err, sizeof(err)),
		  -EINVAL);
	CHECK_CONTAINS(err, "'zz'");
	CHECK_INT(web_accounts_add(st, cfg, "b o b", WEB_VIEWER, PW, "", err, sizeof(err)),
		  -EINVAL);
	CHECK_INT(web_accounts_passwd(st, "nobody", PW, err, sizeof(err)), -ENOENT);
	CHECK_INT(web_accounts_del(st, "nobody", err, sizeof(err)), -ENOENT);

	struct web_user u;
	char hash[WEB_PWHASH_MAX];
	CHECK_INT(web_store_user_get(st, "ann", &u, hash, sizeof(hash)), 0);
	CHECK_STR(u.cameras, "a");
	CHECK_INT(u.role, WEB_VIEWER);
	/* the file holds the argon2id string, never the password */
	CHECK_CONTAINS(hash, "$argon2id$");
	CHECK(!strstr(hash, PW));

	CHECK(web_user_sees_camera(&u, "a"));
	CHECK(!web_user_sees_camera(&u, "b"));
	CHECK(!web_user_sees_camera(&u, ""));
	snprintf(u.cameras, sizeof(u.cameras), "gate1,gate10");
	CHECK(web_user_sees_camera(&u, "gate10"));
	CHECK(web_user_sees_camera(&u, "gate1"));
	CHECK(!web_user_sees_camera(&u, "gate"));
	CHECK(!web_user_sees_camera(&u, "gate100"));
	u.cameras[0] = '\0';
	CHECK(web_user_sees_camera(&u, "b"));
out:
	web_store_close(&st);
	config_free(&cfg);
}

static void sessions(void)
{
	struct config *cfg = load_config();
	struct web_store *st = cfg ? open_store(cfg) : NULL;
	struct web_login l;
	struct web_user u;
	char err[256], csrf[WEB_SECRET_HEX];
	if (!st)
		goto out;
	clock_set_now(T0);
	CHECK_INT(web_accounts_add(st, cfg, "ann", WEB_OPERATOR, PW, "", err, sizeof(err)), 0);

	CHECK_INT(web_login(st, cfg, "ann", "wrong password", "10.0.0.1", &l), -EACCES);
	CHECK_INT(web_login(st, cfg, "nobody", PW, "10.0.0.1", &l), -EACCES);
	int64_t before = clock_wall_us();
	CHECK_INT(web_login(st, cfg, "ann", PW, "10.0.0.1", &l), 0);
	CHECK_INT(strlen(l.cookie), 64);
	CHECK_INT(strlen(l.csrf), 64);
	CHECK(strcmp(l.cookie, l.csrf) != 0);
	CHECK_STR(l.user.name, "ann");
	/* the pinned clock runs on: the session starts at the login's time */
	CHECK(l.expires_us >= before + 2 * 3600 * USEC_PER_SEC);
	CHECK(l.expires_us < before + 2 * 3600 * USEC_PER_SEC + USEC_PER_SEC);

	CHECK_INT(web_session_user(st, l.cookie, &u, csrf), 0);
	CHECK_STR(u.name, "ann");
	CHECK_INT(u.role, WEB_OPERATOR);
	CHECK_STR(csrf, l.csrf);
	/* a cookie that is not ours, a malformed one, the CSRF token as cookie */
	char other[WEB_SECRET_HEX];
	CHECK_INT(web_random_hex(other), 0);
	CHECK_INT(web_session_user(st, other, &u, NULL), -EACCES);
	CHECK_INT(web_session_user(st, "x", &u, NULL), -EACCES);
	CHECK_INT(web_session_user(st, l.csrf, &u, NULL), -EACCES);

	/* expiry: alive just before session_hours, gone at it */
	clock_set_now(l.expires_us - USEC_PER_SEC);
	CHECK_INT(web_session_user(st, l.cookie, &u, NULL), 0);
	clock_set_now(l.expires_us);
	CHECK_INT(web_session_user(st, l.cookie, &u, NULL), -EACCES);

	/* logout ends the session; a new password ends every session */
	clock_set_now(T0 + 3 * 3600 * USEC_PER_SEC);
	struct web_login l2;
	CHECK_INT(web_login(st, cfg, "ann", PW, "10.0.0.1", &l), 0);
	CHECK_INT(web_login(st, cfg, "ann", PW, "10.0.0.2", &l2), 0);
	CHECK_INT(web_logout(st, l.cookie), 0);
	CHECK_INT(web_session_user(st, l.cookie, &u, NULL), -EACCES);
	CHECK_INT(web_session_user(st, l2.cookie, &u, NULL), 0);
	CHECK_INT(web_accounts_passwd(st, "ann", PW "2", err, sizeof(err)), 0);
	CHECK_INT(web_session_user(st, l2.cookie, &u, NULL), -EACCES);
	CHECK_INT(web_login(st, cfg, "ann", PW, "10.0.0.1", &l), -EACCES);
	CHECK_INT(web_login(st, cfg, "ann", PW "2", "10.0.0.1", &l), 0);

	/* deleting the user ends its sessions */
	CHECK_INT(web_accounts_del(st, "ann", err, sizeof(err)), 0);
	CHECK_INT(web_session_user(st, l.cookie, &u, NULL), -EACCES);
out:
	web_store_close(&st);
	config_free(&cfg);
}

static void tokens(void)
{
	struct config *cfg = load_config();
	struct web_store *st = cfg ? open_store(cfg) : NULL;
	struct web_user u;
	char err[256], tok[WEB_SECRET_HEX];
	if (!st)
		goto out;
	CHECK_INT(web_accounts_add(st, cfg, "bot", WEB_VIEWER, PW, "b", err, sizeof(err)), 0);
	CHECK_INT(web_accounts_token(st, "nobody", "x", tok, err, sizeof(err)), -ENOENT);
	CHECK_INT(web_accounts_token(st, "bot", "nightly", tok, err, sizeof(err)), 0);
	CHECK_INT(strlen(tok), 64);
	CHECK_INT(web_token_user(st, tok, &u), 0);
	CHECK_STR(u.name, "bot");
	CHECK_STR(u.cameras, "b");
	char other[WEB_SECRET_HEX];
	CHECK_INT(web_random_hex(other), 0);
	CHECK_INT(web_token_user(st, other, &u), -EACCES);
	/* a token is no session cookie */
	CHECK_INT(web_session_user(st, tok, &u, NULL), -EACCES);
	CHECK_INT(web_accounts_del(st, "bot", err, sizeof(err)), 0);
	CHECK_INT(web_token_user(st, tok, &u), -EACCES);
out:
	web_store_close(&st);
	config_free(&cfg);
}

static void rate_limit(void)
{
	struct config *cfg = load_config();
	struct web_store *st = cfg ? open_store(cfg) : NULL;
	struct web_login l;
	char err[256], name[32];
	if (!st)
		goto out;
	clock_set_now(T0);
	CHECK_INT(web_accounts_add(st, cfg, "ann", WEB_VIEWER, PW, "", err, sizeof(err)), 0);
	CHECK_INT(web_accounts_add(st, cfg, "bob", WEB_VIEWER, PW, "", err, sizeof(err)), 0);

	/* per user: five failures, then even the right password is refused */
	for (int i = 0; i < WEB_LOGIN_USER_FAILURES; i++) {
		clock_set_now(T0 + i * USEC_PER_SEC);
		CHECK_INT(web_login(st, cfg, "ann", "guess guess", "10.0.0.9", &l), -EACCES);
	}
	clock_set_now(T0 + 10 * USEC_PER_SEC);
	CHECK_INT(web_login(st, cfg, "ann", PW, "10.0.0.1", &l), -EAGAIN);
	/* the oldest failure leaves the window in 590 s, rounded up: the test's
	 * clock keeps running from what clock_set_now set */
	CHECK(l.retry_after_s >= 590 && l.retry_after_s <= 591);
	/* another user from the same address is not affected */
	CHECK_INT(web_login(st, cfg, "bob", PW, "10.0.0.9", &l), 0);
	/* the window passes; a success clears the user's count */
	clock_set_now(T0 + WEB_LOGIN_WINDOW_US + 5 * USEC_PER_SEC);
	CHECK_INT(web_login(st, cfg, "ann", PW, "10.0.0.1", &l), 0);
	CHECK_INT(web_login(st, cfg, "ann", "guess guess", "10.0.0.1", &l), -EACCES);
	CHECK_INT(web_login(st, cfg, "ann", PW, "10.0.0.1", &l), 0);

	/* per address: twenty failures over many names, then that address is
	 * refused for anyone, and other addresses are not */
	int64_t t1 = T0 + 2 * WEB_LOGIN_WINDOW_US;
	clock_set_now(t1);
	for (int i = 0; i < WEB_LOGIN_ADDR_FAILURES; i++) {
		snprintf(name, sizeof(name), "guess%d", i);
		CHECK_INT(web_login(st, cfg, name, "guess guess", "10.6.6.6", &l), -EACCES);
	}
	CHECK_INT(web_login(st, cfg, "bob", PW, "10.6.6.6", &l), -EAGAIN);
	CHECK(l.retry_after_s > 0 && l.retry_after_s <= 600);
	CHECK_INT(web_login(st, cfg, "bob", PW, "10.0.0.2", &l), 0);
out:
	web_store_close(&st);
	config_free(&cfg);
}

struct problems {
	int n;
	char kinds[256];
	int64_t rows[8];
};

static void note_problem(int64_t row, const char *kind, const char *detail, void *ctx)
{
	struct problems *p = ctx;
	(void)detail;
	if (p->n < 8)
		p->rows[p->n] = row;
	p->n++;
	size_t len = strlen(p->kinds);
	snprintf(p->kinds + len, sizeof(p->kinds) - len, "%s ", kind);
}

static void attacker_sql(const char *path, const char *sql)
{
	sqlite3 *db;
	char *msg = NULL;
	if (sqlite3_open(path, &db) != SQLITE_OK) {
		test_fail(__FILE__, __LINE__, "cannot open %s", path);
		return;
	}
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		test_fail(__FILE__, __LINE__, "%s: %s", sql, msg ? msg : "?");
	sqlite3_free(msg);
	sqlite3_close(db);
}

static void access_log_chain(void)
{
	struct config *cfg = load_config();
	struct problems p = { 0 };
	char err[256];
	if (!cfg)
		return;
	/* no web database yet: nothing to check, not an error */
	CHECK_INT(web_access_log_verify(cfg, NULL, NULL, note_problem, &p, err, sizeof(err)), 0);

	struct web_store *st = open_store(cfg);
	if (!st)
		goto out;
	struct web web = { .cfg = cfg, .store = st };
	struct web_request r = { .web = &web, .authenticated = true };
	snprintf(r.addr, sizeof(r.addr), "127.0.0.1");
	snprintf(r.user.name, sizeof(r.user.name), "ann");
	web_audit(&r, "login", NULL, 0, 0, "");
	web_audit(&r, "view", "a", T0, T0 + 60 * USEC_PER_SEC, "video.mp4");
	web_audit(&r, "export", "a", T0, T0 + 60 * USEC_PER_SEC, "export 1");
	/* a detail of several lines hashes and checks like any other */
	web_audit(&r, "hold-add", "b", T0, T0 + 1, "reason\nwith:\nlines");
	web_audit_as(&r, "mallory", "login-failed", NULL, 0, 0, "wrong password");
	web_store_close(&st);

	CHECK_INT(web_access_log_verify(cfg, NULL, NULL, note_problem, &p, err, sizeof(err)), 5);
	CHECK_INT(p.n, 0);

	/* the triggers refuse an edit through SQL as it is */
	sqlite3 *db;
	char path[4096];
	web_store_path(cfg, path, sizeof(path));
	CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
	CHECK(sqlite3_exec(db, "UPDATE access_log SET detail = 'x' WHERE id = 2", NULL, NULL,
			   NULL) != SQLITE_OK);
	CHECK(sqlite3_exec(db, "DELETE FROM access_log WHERE id = 2", NULL, NULL, NULL) !=
	      SQLITE_OK);
	sqlite3_close(db);

	/* an attacker drops the triggers and changes the interval of a view */
	attacker_sql(path, "DROP TRIGGER access_log_no_update; DROP TRIGGER access_log_no_delete;"
			   "UPDATE access_log SET to_us = to_us + 1 WHERE id = 2");
	memset(&p, 0, sizeof(p));
	CHECK_INT(web_access_log_verify(cfg, NULL, NULL, note_problem, &p, err, sizeof(err)), 5);
	CHECK_INT(p.n, 1);
	CHECK_INT(p.rows[0], 2);
	CHECK_STR(p.kinds, "access-log-row-edited ");

	/* ... then removes the export */
	attacker_sql(path, "DELETE FROM access_log WHERE id = 3");
	memset(&p, 0, sizeof(p));
	CHECK_INT(web_access_log_verify(cfg, NULL, NULL, note_problem, &p, err, sizeof(err)), 4);
	CHECK_INT(p.n, 2);
	CHECK_CONTAINS(p.kinds, "access-log-row-removed");
	CHECK_INT(p.rows[1], 4);

	/* ... and rewrites a row with a fresh hash of the same encoding: the
	 * next row no longer links to it */
	attacker_sql(path, "UPDATE access_log SET user_name = 'bob', hash = "
			   "'1111111111111111111111111111111111111111111111111111111111111111' "
			   "WHERE id = 1");
	memset(&p, 0, sizeof(p));
	CHECK_INT(web_access_log_verify(cfg, NULL, NULL, note_problem, &p, err, sizeof(err)), 4);
	CHECK_CONTAINS(p.kinds, "access-log-chain-broken");
out:
	config_free(&cfg);
}

static int count_rows(const struct web_log_row *row, void *ctx)
{
	int *n = ctx;
	if (*n == 0 && (!row->camera || strcmp(row->camera, "a") != 0))
		test_fail(__FILE__, __LINE__, "first row of camera a is %s",
			  row->camera ? row->camera : "(none)");
	(*n)++;
	return 0;
}

static void access_log_read(void)
{
	struct config *cfg = load_config();
	struct web_store *st = cfg ? open_store(cfg) : NULL;
	int n = 0;
	if (!st)
		goto out;
	CHECK_INT(web_store_log_append(st, T0, "ann", "::1", "login", NULL, -1, -1, ""), 0);
	CHECK_INT(web_store_log_append(st, T0 + 1, "ann", "::1", "view", "a", 5, 9, ""), 0);
	CHECK_INT(web_store_log_append(st, T0 + 2, "ann", "::1", "view", "b", 5, 9, ""), 0);
	CHECK_INT(web_store_log_each(st, T0, T0 + 3, "a", 100, count_rows, &n), 0);
	CHECK_INT(n, 1);
	n = -100; /* skip the first-row check */
	CHECK_INT(web_store_log_each(st, T0 + 1, T0 + 3, NULL, 100, count_rows, &n), 0);
	CHECK_INT(n, -98);
	n = -100;
	CHECK_INT(web_store_log_each(st, T0, T0 + 3, NULL, 2, count_rows, &n), 0);
	CHECK_INT(n, -98);
out:
	web_store_close(&st);
	config_free(&cfg);
}

const struct test_case web_accounts_tests[] = {
	{ "roles", roles },
	{ "password_hashes", password_hashes },
	{ "account_rules", account_rules },
	{ "sessions", sessions },
	{ "tokens", tokens },
	{ "rate_limit", rate_limit },
	{ "access_log_chain", access_log_chain },
	{ "access_log_read", access_log_read },
	{ NULL, NULL },
};
