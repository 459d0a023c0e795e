/*
 * The subcommands of the mring tool. Each takes its own argv (argv[0] is
 * the subcommand's name), parses it with getopt_long and returns the exit
 * status.
 */
#ifndef MRING_TOOL_CLI_H
#define MRING_TOOL_CLI_H

#include <stdio.h>

#include "util.h"

#ifndef MRING_TOOL_VERSION /* set by the build from the project version */
#define MRING_TOOL_VERSION "unknown"
#endif

int cmd_create(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_write(int argc, char **argv);
int cmd_read(int argc, char **argv);
int cmd_consumers(int argc, char **argv);
int cmd_consumer(int argc, char **argv);
int cmd_stat(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_bench(int argc, char **argv);

/* The consumer table shared by 'info' and 'consumers'. */
void print_consumers(FILE *f, const struct ring_state *st);

/*
 * JSON shared by 'info', 'consumers' and 'stat': a ring's state as one
 * object, and its "consumers":[...] member. With prev (an earlier
 * snapshot: stat), rates over the interval are added: produce_rate, and
 * each consumer's rate.
 */
void json_ring(FILE *f, const char *path, const struct ring_state *st,
               const struct ring_state *prev);
void json_consumers(FILE *f, const struct ring_state *st,
                    const struct ring_state *prev);

/* The same consumer in an earlier snapshot prev (may be NULL), or NULL. */
const struct mring_consumer_info *
find_prev(const struct ring_state *prev, const struct mring_consumer_info *c);

/*
 * Warnings about durable consumers whose process is gone while they hold
 * a back-pressure ring's producer back; returns how many were printed.
 */
int warn_dead_consumers(FILE *f, const char *path, const struct ring_state *st);

/*
 * Standard option handling for --help: print `usage` to stdout and
 * return EXIT_OK.
 */
int print_help(const char *usage);

#endif
