/*
 * vigil verify: prints what retention_verify finds (the catalog against its
 * audit chain, the files against the catalog) or what an export's check
 * finds, as text or JSON, with the audit chain heads to note.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "retention/retention.h"
#include "util/json.h"
#include "util/db.h"
#include "web/web.h"
#include "util/banned.h"

struct problem_print {
	struct json_writer *json;
};

static int print_problem(const struct catalog_problem *p, void *ctx)
{
	struct problem_print *pp = ctx;
	if (pp->json) {
		jw_begin_object(pp->json);
		jw_kv_string(pp->json, "kind", p->kind);
		jw_kv_string(pp->json, "camera", p->camera);
		if (p->segment_id >= 0)
			jw_kv_int(pp->json, "segment", p->segment_id);
		else
			jw_kv_string(pp->json, "segment", NULL);
		jw_kv_string(pp->json, "path", p->path);
		jw_kv_string(pp->json, "detail", p->detail);
		jw_end_object(pp->json);
		return 0;
	}
	printf("%-22s %-12s %s%s%s\n", p->kind, *p->camera ? p->camera : "-", p->detail,
	       *p->path ? "  " : "", p->path);
	return 0;
}

struct log_print {
	struct json_writer *json;
	int64_t problems;
};

/* An access-log problem, printed like a catalog problem. */
static void print_log_problem(int64_t row, const char *kind, const char *detail, void *ctx)
{
	struct log_print *lp = ctx;
	(void)row;
	lp->problems++;
	if (lp->json) {
		jw_begin_object(lp->json);
		jw_kv_string(lp->json, "kind", kind);
		jw_kv_string(lp->json, "camera", NULL);
		jw_kv_string(lp->json, "segment", NULL);
		jw_kv_string(lp->json, "path", "");
		jw_kv_string(lp->json, "detail", detail);
		jw_end_object(lp->json);
		return;
	}
	printf("%-22s %-12s %s\n", kind, "-", detail);
}

static int print_head(const struct catalog_chain_head *h, void *ctx)
{
	struct json_writer *w = ctx;
	if (w) {
		jw_begin_object(w);
		jw_kv_string(w, "camera", h->camera);
		jw_kv_int(w, "seq", h->seq);
		jw_kv_string(w, "hash", h->hash);
		jw_end_object(w);
	} else {
		printf("  %-12s entry %" PRId64 " %s\n", h->camera, h->seq, h->hash);
	}
	return 0;
}

int cmd_verify(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "camera", required_argument, NULL, 'C' },
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 't' },
		{ "export", required_argument, NULL, 'e' },
		{ "json", no_argument, NULL, 'j' },
		{ "no-hash", no_argument, NULL, 'H' },
		{ "now", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = NULL, *export_path = NULL;
	struct verify_options opts = { .hash_files = true };
	bool json = false;
	int c;

	while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': config_path = optarg; break;
		case 'C': opts.camera = optarg; break;
		case 'e': export_path = optarg; break;
		case 'j': json = true; break;
		case 'H': opts.hash_files = false; break;
		case 'f':
			if (cmd_parse_time("--from", optarg, &opts.from_us) < 0)
				return EXIT_USAGE;
			break;
		case 't':
			if (cmd_parse_time("--to", optarg, &opts.to_us) < 0)
				return EXIT_USAGE;
			break;
		case 'n':
			if (cmd_set_now(optarg) < 0)
				return EXIT_USAGE;
			break;
		case 'h': cmd_print_usage("verify", false); return EXIT_OK;
		default: return cmd_usage_error("verify", "bad option");
		}
	}
	int usage = cmd_options_done("verify", argc, argv, config_path);
	if (usage)
		return usage;

	struct config *cfg = cmd_load_config(config_path, false, CONFIG_SKIP_CREDENTIALS);
	if (!cfg)
		return EXIT_USAGE;
	struct catalog *cat = cmd_open_catalog(cfg, CATALOG_READ_ONLY);
	int status = EXIT_NOT_OK, ret;
	if (!cat)
		goto out;
	struct json_writer w;
	struct problem_print pp = { NULL };
	struct verify_counts counts = { 0 };
	if (json) {
		jw_init_file(&w, stdout, true);
		pp.json = &w;
		jw_begin_object(&w);
		jw_key(&w, "problems");
		jw_begin_array(&w);
	}
	if (export_path)
		ret = retention_verify_export(cfg, cat, export_path, print_problem, &pp, &counts);
	else
		ret = retention_verify(cfg, cat, &opts, print_problem, &pp, &counts);
	/* the web console's access log is checked with the catalog: a row
	 * edited or removed there is a problem like a broken audit chain */
	struct log_print lp = { pp.json, 0 };
	int log_rows = 0;
	char log_err[512] = "";
	if (ret == 0 && !export_path) {
		log_rows = web_access_log_verify(cfg, print_log_problem, &lp, log_err,
						 sizeof(log_err));
		counts.problems += lp.problems;
	}
	if (json) {
		jw_end_array(&w);
		jw_kv_bool(&w, "ok", ret == 0 && counts.problems == 0 && log_rows >= 0);
		jw_kv_int(&w, "checked", counts.segments);
		jw_kv_int(&w, "audit_entries", counts.entries);
		jw_kv_int(&w, "files", counts.files);
		if (!export_path)
			jw_kv_int(&w, "access_log_rows", log_rows > 0 ? log_rows : 0);
		if (!export_path) {
			jw_key(&w, "chain_heads");
			jw_begin_array(&w);
			catalog_chain_heads(cat, print_head, &w);
			jw_end_array(&w);
		}
		jw_end_object(&w);
		jw_finish(&w);
	} else if (ret == 0 && export_path) {
		printf("%s: the export and its %" PRId64 " source segments checked; %" PRId64
		       " problem%s\n",
		       counts.problems ? "NOT OK" : "ok", counts.segments, counts.problems,
		       counts.problems == 1 ? "" : "s");
	} else if (ret == 0) {
		printf("%s: %" PRId64 " segment files, %" PRId64 " audit entries, %" PRId64
		       " files on disk, %d access-log rows checked; %" PRId64 " problem%s\n",
		       counts.problems || log_rows < 0 ? "NOT OK" : "ok", counts.segments,
		       counts.entries, counts.files, log_rows > 0 ? log_rows : 0, counts.problems,
		       counts.problems == 1 ? "" : "s");
		if (!export_path) {
			printf("audit chain heads (note them to detect a chain cut short "
			       "later):\n");
			catalog_chain_heads(cat, print_head, NULL);
		}
	}
	if (ret < 0)
		fprintf(stderr, "vigil verify: %s\n", db_errmsg(ret));
	else if (log_rows < 0)
		fprintf(stderr, "vigil verify: access log: %s\n", log_err);
	else
		status = counts.problems ? EXIT_NOT_OK : EXIT_OK;
out:
	catalog_close(&cat);
	config_free(&cfg);
	return status;
}
