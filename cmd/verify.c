/*
 * vigil verify: prints what retention_verify finds (the catalog against its
 * audit chain, the files against the catalog) or what an export's check
 * finds, as text or JSON, with the audit chain heads to note.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "retention/retention.h"
#include "util/buf.h"
#include "util/db.h"
#include "util/fsutil.h"
#include "util/jread.h"
#include "util/json.h"
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

/* ---- heads noted earlier -------------------------------------------------- */

/* The heads in the JSON an earlier `vigil verify --json` printed: its
 * chain_heads and its access_log_head. */
struct noted_heads {
	struct catalog_chain_head *chains;
	int nchains;
	struct web_log_head log;
	bool has_log;
};

static int noted_field(const struct buf *b, const char *path, char *out, size_t size,
		       const char *file)
{
	int ret = jread_scalar(b->data, b->len, path, out, size);
	if (ret == -EINVAL)
		fprintf(stderr, "vigil verify: %s: not JSON\n", file);
	return ret;
}

/* Reads the heads file; 0, or EXIT_USAGE after saying what is wrong. */
static int read_noted(const char *file, struct noted_heads *n)
{
	struct buf b = { 0 };
	char path[64], v[256], *end;
	int ret = fs_read_file(file, &b, 64 << 20);
	if (ret < 0) {
		fprintf(stderr, "vigil verify: --heads %s: %s\n", file, strerror(-ret));
		return EXIT_USAGE;
	}
	for (int i = 0;; i++) {
		snprintf(path, sizeof(path), "chain_heads.%d.camera", i);
		if ((ret = noted_field(&b, path, v, sizeof(v), file)) == -ENOENT)
			break;
		if (ret < 0)
			goto bad;
		struct catalog_chain_head *c = realloc(n->chains, (size_t)(i + 1) * sizeof(*c));
		if (!c) {
			ret = -ENOMEM;
			goto bad;
		}
		n->chains = c;
		c += i;
		if (strlen(v) >= sizeof(c->camera)) {
			fprintf(stderr, "vigil verify: %s: chain_heads[%d]: camera id too long\n",
				file, i);
			goto usage;
		}
		memcpy(c->camera, v, strlen(v) + 1);
		snprintf(path, sizeof(path), "chain_heads.%d.seq", i);
		if (noted_field(&b, path, v, sizeof(v), file) < 0 ||
		    (c->seq = strtoll(v, &end, 10)) < 1 || *end) {
			fprintf(stderr,
				"vigil verify: %s: chain_heads[%d] has no seq of 1 or more\n", file,
				i);
			goto usage;
		}
		snprintf(path, sizeof(path), "chain_heads.%d.hash", i);
		if (noted_field(&b, path, c->hash, sizeof(c->hash), file) < 0 ||
		    !sha256_hex_is_valid(c->hash)) {
			fprintf(stderr, "vigil verify: %s: chain_heads[%d] has no SHA-256 hash\n",
				file, i);
			goto usage;
		}
		n->nchains = i + 1;
	}
	if ((ret = noted_field(&b, "access_log_head.id", v, sizeof(v), file)) == 0) {
		n->log.id = strtoll(v, &end, 10);
		if (n->log.id < 0 || *end ||
		    (n->log.id > 0 && (noted_field(&b, "access_log_head.hash", n->log.hash,
						   sizeof(n->log.hash), file) < 0 ||
				       !sha256_hex_is_valid(n->log.hash)))) {
			fprintf(stderr, "vigil verify: %s: access_log_head has no id and hash\n",
				file);
			goto usage;
		}
		n->has_log = true;
	} else if (ret != -ENOENT) {
		goto bad;
	}
	if (!n->nchains && !n->has_log) {
		fprintf(stderr,
			"vigil verify: %s: no chain_heads nor access_log_head (the output of "
			"`vigil verify --json`)\n",
			file);
		goto usage;
	}
	buf_release(&b);
	return 0;
bad:
	if (ret != -EINVAL)
		fprintf(stderr, "vigil verify: %s: %s\n", file, strerror(-ret));
usage:
	buf_release(&b);
	return EXIT_USAGE;
}

/* Each chain head noted earlier must still be in its chain, with the same
 * hash: a chain cut short and grown again, or rewritten from there on,
 * is whole by itself, and only the head noted elsewhere shows it. */
static int check_noted_chains(struct catalog *cat, const struct noted_heads *n,
			      struct problem_print *pp, struct verify_counts *counts)
{
	for (int i = 0; i < n->nchains; i++) {
		const struct catalog_chain_head *h = &n->chains[i];
		struct catalog_problem p = { .segment_id = -1 };
		char hash[CATALOG_HEX_SIZE];
		int64_t last = 0;
		int ret = catalog_chain_entry(cat, h->camera, h->seq, hash, &last);
		if (ret < 0 && ret != -ENOENT)
			return ret;
		snprintf(p.camera, sizeof(p.camera), "%s", h->camera);
		if (ret == -ENOENT && last >= h->seq) {
			/* a row taken out of the middle: the chain walk names it too */
			p.kind = "audit-chain-rewritten";
			snprintf(p.detail, sizeof(p.detail),
				 "entry %" PRId64 ", noted earlier, is gone", h->seq);
		} else if (ret == -ENOENT) {
			p.kind = "audit-chain-cut-short";
			snprintf(p.detail, sizeof(p.detail),
				 "entry %" PRId64
				 ", noted earlier, is gone: the chain ends at entry "
				 "%" PRId64,
				 h->seq, last);
		} else if (strcmp(hash, h->hash) != 0) {
			p.kind = "audit-chain-rewritten";
			snprintf(p.detail, sizeof(p.detail),
				 "entry %" PRId64
				 " has the hash %.16s..., noted earlier as %.16s...",
				 h->seq, hash, h->hash);
		} else {
			continue;
		}
		counts->problems++;
		print_problem(&p, pp);
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
		{ "heads", required_argument, NULL, 'D' },
		{ "now", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = NULL, *export_path = NULL, *heads_path = NULL;
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
		case 'D': heads_path = optarg; break;
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
	if (heads_path && export_path)
		return cmd_usage_error("verify", "--heads checks the catalog, not an export");
	struct noted_heads noted = { 0 };
	if (heads_path && (usage = read_noted(heads_path, &noted)) != 0) {
		free(noted.chains);
		return usage;
	}

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
	if (ret == 0 && noted.nchains)
		ret = check_noted_chains(cat, &noted, &pp, &counts);
	struct log_print lp = { pp.json, 0 };
	struct web_log_head log_head = { 0, "" };
	int log_rows = 0;
	char log_err[512] = "";
	if (ret == 0 && !export_path) {
		log_rows = web_access_log_verify(cfg, noted.has_log ? &noted.log : NULL, &log_head,
						 print_log_problem, &lp, log_err, sizeof(log_err));
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
			jw_key(&w, "access_log_head");
			jw_begin_object(&w);
			jw_kv_int(&w, "id", log_head.id);
			jw_kv_string(&w, "hash", log_head.id ? log_head.hash : NULL);
			jw_end_object(&w);
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
			printf("audit chain heads (note them, or keep the --json output, to "
			       "detect a chain cut short later: --heads):\n");
			catalog_chain_heads(cat, print_head, NULL);
			if (log_head.id)
				printf("  %-12s row %" PRId64 " %s\n", "access log", log_head.id,
				       log_head.hash);
		}
	}
	if (ret < 0)
		fprintf(stderr, "vigil verify: %s\n", db_errmsg(ret));
	else if (log_rows < 0)
		fprintf(stderr, "vigil verify: access log: %s\n", log_err);
	else
		status = counts.problems ? EXIT_NOT_OK : EXIT_OK;
out:
	free(noted.chains);
	catalog_close(&cat);
	config_free(&cfg);
	return status;
}
