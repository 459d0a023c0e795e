/*
 * mring: command-line tool for ring files. Dispatches to one subcommand;
 * handles only the global --help and --version itself.
 */
#define _GNU_SOURCE
#include <string.h>

#include "cli.h"

static const char usage[] =
	"Usage: mring COMMAND [OPTIONS] FILE ...\n"
	"\n"
	"Create, inspect, fill and drain mring ring files: circular buffers\n"
	"in a file, shared between processes through mmap.\n"
	"\n"
	"Commands:\n"
	"  create FILE --size SIZE   make a new ring file\n"
	"  info FILE [--json]        show the header, positions and consumers\n"
	"  write FILE                copy stdin into the ring (as its producer)\n"
	"  read FILE                 copy the ring to stdout (as a consumer)\n"
	"  consumers FILE [--json]   list the consumers\n"
	"  consumer add|rm FILE NAME register or remove a durable consumer\n"
	"  stat FILE... [--watch SEC] rates, lag, who holds the producer "
	"back;\n"
	"                            --json, or --prom for Prometheus\n"
	"  check FILE                verify the control block and records\n"
	"  bench loop|ipc [ARGS]     run a benchmark program (if built)\n"
	"\n"
	"Run 'mring COMMAND --help' for a command's options; see mring(1).\n"
	"\n"
	"Options:\n"
	"  -h, --help      show this help\n"
	"  -V, --version   show the tool's and the library's version\n"
	"\n"
	"Sizes are bytes, or a number with a unit K, M, G, T or P (powers of\n"
	"1024; 64G, 64GiB and 64GB are the same). Durations are a number with\n"
	"s or ms (1s, 200ms).\n"
	"Exit status: 0 success; 1 failure or problems found; 2 usage error\n"
	"or a file that is not a usable ring.\n";

static const struct {
	const char *name;
	int (*fn)(int, char **);
} commands[] = {
	{"create", cmd_create},       {"info", cmd_info},
	{"write", cmd_write},         {"read", cmd_read},
	{"consumers", cmd_consumers}, {"consumer", cmd_consumer},
	{"stat", cmd_stat},           {"check", cmd_check},
	{"bench", cmd_bench},
};

int print_help(const char *text)
{
	fputs(text, stdout);
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage, stderr);
		return EXIT_USAGE;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") ||
	    !strcmp(cmd, "help"))
		return print_help(usage);
	if (!strcmp(cmd, "-V") || !strcmp(cmd, "--version")) {
		printf("mring %s (library %s, ring format %d)\n",
		       MRING_TOOL_VERSION, mring_version(),
		       MRING_FORMAT_VERSION);
		return EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(cmd, commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	if (cmd[0] == '-')
		msg("unknown option '%s'", cmd);
	else
		msg("unknown command '%s'", cmd);
	fputs("Try 'mring --help'.\n", stderr);
	return EXIT_USAGE;
}
