/*
 * mring-nats: the bridge between mring record rings and NATS JetStream.
 *
 * A program of its own rather than an 'mring' subcommand: the mring tool
 * stays free of libnats and of what it pulls in (OpenSSL, protobuf-c), so
 * it builds and runs everywhere the library does, and a host that never
 * talks to NATS installs nothing of it. The bridge uses only mring's
 * public header, like any application.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include "bridge.h"

#ifndef MRING_TOOL_VERSION
#define MRING_TOOL_VERSION "unknown"
#endif

static const char usage[] =
	"Usage: mring-nats COMMAND RING [OPTIONS]\n"
	"\n"
	"Carry the records of mring rings through NATS JetStream to other\n"
	"machines, in order, each exactly once, across crashes and restarts\n"
	"of the bridges and of the servers.\n"
	"\n"
	"Commands:\n"
	"  publish RING    ring -> JetStream: publish each record of the ring\n"
	"                  to a stream, release it once acknowledged\n"
	"  subscribe RING  JetStream -> ring: write each message of a stream\n"
	"                  into the ring, acknowledge it once committed\n"
	"\n"
	"'mring-nats COMMAND --help' describes each; mring-nats(1) the whole.\n"
	"Options: -h, --help (this text), -V, --version.\n";

int print_help(const char *text)
{
	fputs(text, stdout);
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	int rc;

	tool_name = "mring-nats";
	if (argc < 2) {
		fputs(usage, stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "help"))
		return print_help(usage);
	if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version")) {
		printf("mring-nats %s (library %s, nats.c %s)\n",
		       MRING_TOOL_VERSION, mring_version(), nats_GetVersion());
		return EXIT_OK;
	}
	if (!strcmp(argv[1], "publish"))
		rc = cmd_publish(argc - 1, argv + 1);
	else if (!strcmp(argv[1], "subscribe"))
		rc = cmd_subscribe(argc - 1, argv + 1);
	else {
		msg("unknown command '%s'; try 'mring-nats --help'", argv[1]);
		return EXIT_USAGE;
	}
	/* libnats keeps global state (threads, timers): free it, so that
	 * leak checkers see a clean exit. */
	nats_CloseAndWait(2000);
	return rc;
}
