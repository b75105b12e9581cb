/*
 * vigil user: the accounts of the web console (vigil serve).  Passwords are
 * read from a file (--password-file) or standard input, never from the
 * command line, where other users of the machine could read them; an API
 * token is printed once and only its hash is kept.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "util/json.h"
#include "util/timefmt.h"
#include "web/web.h"
#include "util/banned.h"

#define PASSWORD_MAX 1024

/* The first line of f, without its line end; 0, or -1 after saying why. */
static int read_line(FILE *f, const char *what, char *out, size_t size)
{
	if (!fgets(out, (int)size, f)) {
		fprintf(stderr, "vigil user: no password in %s\n", what);
		return -1;
	}
	size_t n = strlen(out);
	if (n == size - 1 && out[n - 1] != '\n' && !feof(f)) {
		fprintf(stderr, "vigil user: the password in %s is too long\n", what);
		return -1;
	}
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
		out[--n] = '\0';
	return 0;
}

/* From a terminal: asked twice, not echoed. */
static int read_tty(char *out, size_t size)
{
	char again[PASSWORD_MAX + 2];
	struct termios old, quiet;
	bool echo_off = tcgetattr(STDIN_FILENO, &old) == 0;
	int ret;

	if (echo_off) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	fprintf(stderr, "password: ");
	ret = read_line(stdin, "standard input", out, size);
	fprintf(stderr, "\npassword again: ");
	if (ret == 0)
		ret = read_line(stdin, "standard input", again, sizeof(again));
	fprintf(stderr, "\n");
	if (echo_off)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
	if (ret == 0 && strcmp(out, again) != 0) {
		fprintf(stderr, "vigil user: the two passwords differ\n");
		ret = -1;
	}
	explicit_bzero(again, sizeof(again));
	return ret;
}

static int read_password(const char *file, char *out, size_t size)
{
	if (!file)
		return isatty(STDIN_FILENO) ? read_tty(out, size)
					    : read_line(stdin, "standard input", out, size);
	FILE *f = fopen(file, "r");
	if (!f) {
		fprintf(stderr, "vigil user: cannot open '%s': %s\n", file, strerror(errno));
		return -1;
	}
	int ret = read_line(f, file, out, size);
	fclose(f);
	return ret;
}

struct list_ctx {
	struct json_writer *json;
};

static int print_user(const struct web_user *u, void *ctx)
{
	struct list_ctx *l = ctx;
	char created[40];

	if (!l->json) {
		time_format_local(u->created_us, created, sizeof(created));
		printf("%-20s %-9s %-24s %s\n", u->name, web_role_name(u->role),
		       u->cameras[0] ? u->cameras : "(all cameras)", created);
		return 0;
	}
	jw_begin_object(l->json);
	jw_kv_string(l->json, "name", u->name);
	jw_kv_string(l->json, "role", web_role_name(u->role));
	jw_key(l->json, "cameras");
	jw_begin_array(l->json);
	for (const char *p = u->cameras; *p;) {
		const char *comma = strchr(p, ',');
		char id[WEB_CAMERAS_MAX];
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		snprintf(id, sizeof(id), "%.*s", (int)n, p);
		jw_string(l->json, id);
		if (!comma)
			break;
		p = comma + 1;
	}
	jw_end_array(l->json);
	jw_kv_string(l->json, "language", u->language);
	jw_kv_time(l->json, "created", u->created_us);
	jw_end_object(l->json);
	return 0;
}

static int user_list(const struct config *cfg, bool json)
{
	struct json_writer w;
	struct list_ctx l = { json ? &w : NULL };
	char err[512];

	if (json) {
		jw_init_file(&w, stdout, true);
		jw_begin_array(&w);
	}
	int ret = web_user_each(cfg, print_user, &l, err, sizeof(err));
	if (json) {
		jw_end_array(&w);
		jw_finish(&w);
	}
	if (ret < 0) {
		fprintf(stderr, "vigil user: %s\n", err);
		return EXIT_NOT_OK;
	}
	return EXIT_OK;
}

struct user_args {
	const char *config_path, *role, *cameras, *password_file, *label;
	bool json;
};

int cmd_user(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "role", required_argument, NULL, 'r' },
		{ "cameras", required_argument, NULL, 'C' },
		{ "password-file", required_argument, NULL, 'p' },
		{ "label", required_argument, NULL, 'l' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct user_args a = { 0 };
	char err[512], password[PASSWORD_MAX + 2];
	int c, status = EXIT_NOT_OK, ret;

	while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': a.config_path = optarg; break;
		case 'r': a.role = optarg; break;
		case 'C': a.cameras = optarg; break;
		case 'p': a.password_file = optarg; break;
		case 'l': a.label = optarg; break;
		case 'j': a.json = true; break;
		case 'h': cmd_print_usage("user", false); return EXIT_OK;
		default: return cmd_usage_error("user", "bad option");
		}
	}
	if (!a.config_path)
		return cmd_usage_error("user", "-c FILE is required");
	if (optind >= argc)
		return cmd_usage_error("user", "say add, passwd, del, list or token");
	const char *action = argv[optind];
	const char *name = optind + 1 < argc ? argv[optind + 1] : NULL;
	bool is_list = strcmp(action, "list") == 0;
	if (!is_list && strcmp(action, "add") && strcmp(action, "passwd") &&
	    strcmp(action, "del") && strcmp(action, "token"))
		return cmd_usage_error(
			"user", "unknown action '%s' (add, passwd, del, list, token)", action);
	if (!is_list && !name)
		return cmd_usage_error("user", "%s needs the user's name", action);
	if (optind + (is_list ? 1 : 2) < argc)
		return cmd_usage_error("user", "unexpected argument '%s'",
				       argv[optind + (is_list ? 1 : 2)]);
	enum web_role role = WEB_VIEWER;
	if (strcmp(action, "add") == 0) {
		if (!a.role)
			return cmd_usage_error("user", "add needs --role viewer|operator|admin");
		if (web_role_parse(a.role, &role) < 0)
			return cmd_usage_error(
				"user", "'%s' is not a role (viewer, operator, admin)", a.role);
	}

	struct config *cfg = cmd_load_config(a.config_path, false, CONFIG_SKIP_CREDENTIALS);
	if (!cfg)
		return EXIT_USAGE;
	if (is_list) {
		status = user_list(cfg, a.json);
		goto out;
	}
	if (strcmp(action, "del") == 0) {
		ret = web_user_del(cfg, name, err, sizeof(err));
	} else if (strcmp(action, "token") == 0) {
		char token[128];
		ret = web_token_new(cfg, name, a.label, token, sizeof(token), err, sizeof(err));
		if (ret == 0)
			printf("%s\n", token); /* shown once: only its hash is kept */
		explicit_bzero(token, sizeof(token));
	} else {
		if (read_password(a.password_file, password, sizeof(password)) < 0) {
			status = EXIT_USAGE;
			goto out;
		}
		if (strcmp(action, "add") == 0)
			ret = web_user_add(cfg, name, role, password, a.cameras, err, sizeof(err));
		else
			ret = web_user_passwd(cfg, name, password, err, sizeof(err));
		explicit_bzero(password, sizeof(password));
	}
	if (ret < 0) {
		fprintf(stderr, "vigil user: %s\n", err);
		status = ret == -EINVAL ? EXIT_USAGE : EXIT_NOT_OK;
	} else {
		status = EXIT_OK;
	}
out:
	config_free(&cfg);
	return status;
}
