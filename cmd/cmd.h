/*
 * Sub-commands and the helpers they share.  cmd/ only parses arguments,
 * wires modules together and prints; the work is done by the modules.  One
 * file per command family: record.c, segments.c, sweep.c, hold.c, verify.c,
 * export.c, report.c (report_health.c: sla, inspection), check.c,
 * tickets.c, config.c, user.c, serve.c; main.c dispatches, common.c holds the
 * helpers below.
 *
 * Exit status: 0 ok, 1 the thing checked is not ok (a gap, a breach, a
 * hash mismatch) or a runtime failure, 2 bad usage or bad input.
 */
#ifndef VIGIL_CMD_CMD_H
#define VIGIL_CMD_CMD_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "catalog/catalog.h"
#include "config/config.h"

#define EXIT_OK 0
#define EXIT_NOT_OK 1
#define EXIT_USAGE 2

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
	const char *usage;
};

int cmd_record(int argc, char **argv);
int cmd_segments(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_sweep(int argc, char **argv);
int cmd_hold(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_tickets(int argc, char **argv);
int cmd_user(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_inspect(int argc, char **argv);

/* SIGTERM and SIGINT set *cmd_stop_requested (to the signal); SIGPIPE is
 * ignored.  For the long-running commands (check, serve). */
extern volatile sig_atomic_t cmd_stop_requested;
void cmd_install_stop_signals(void);

/* Prints usage of a command to stderr and returns EXIT_USAGE. */
int cmd_usage_error(const char *command, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void cmd_print_usage(const char *command, bool to_stderr);

/* Loads the config, printing every problem; NULL (after printing) when it
 * has errors.  Warnings are printed when print_warnings.  flags as for
 * config_load_flags: commands that only read the catalog skip credentials. */
struct config *cmd_load_config(const char *path, bool print_warnings, unsigned flags);

/* Parses --now and friends: a time flag value into *us, or prints an error
 * naming the flag and returns -1. */
int cmd_parse_time(const char *flag, const char *value, int64_t *us);

/* --now T: sets the program's clock, or prints an error and returns -1. */
int cmd_set_now(const char *value);

/* After getopt: no argument left over and a config given; 0, or the usage
 * error printed and its exit status returned. */
int cmd_options_done(const char *command, int argc, char **argv, const char *config_path);

/* Opens the catalog named by the config, read-only or read-write; prints
 * the reason and returns NULL on failure. */
struct catalog *cmd_open_catalog(const struct config *cfg, enum catalog_open_mode mode);

#endif
