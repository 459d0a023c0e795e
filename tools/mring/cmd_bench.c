/*
 * mring bench: a front door to the benchmark programs built beside the
 * tool (-DMRING_BUILD_BENCH=ON). It finds mring-bench-NAME and execs it
 * with the remaining arguments, so the options, output and exit status
 * are the program's own; the tool adds only the search and the hints.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* Set by the build: from the installed bindir to libexecdir/mring. */
#ifndef MRING_TOOL_LIBEXEC_REL
#define MRING_TOOL_LIBEXEC_REL "../libexec/mring"
#endif

static const char usage[] =
	"Usage: mring bench loop|ipc [ARGS...]\n"
	"\n"
	"Run one of mring's benchmark programs with ARGS passed through\n"
	"unchanged; its output and exit status are the program's own.\n"
	"\n"
	"Benchmarks:\n"
	"  loop   mring-bench-loop: writer processes copy chunks into files\n"
	"         and loop around them, one --strategy per run (mmap, pwrite,\n"
	"         O_DIRECT, mring and its reclaim policies); GB/s, latency\n"
	"         and page faults per lap on stderr, CSV rows on stdout\n"
	"  ipc    mring-bench-ipc: hand-off between a producer and a consumer\n"
	"         process over mring, a pipe and a Unix socket; throughput\n"
	"         and latency as CSV\n"
	"\n"
	"'mring bench loop --help' lists that program's options. A run of a\n"
	"few seconds:\n"
	"  mring bench loop --strategy mring --writers 1 --file-size 32M \\\n"
	"                   --window 8M --dir /tmp\n"
	"\n"
	"The programs are built with cmake -DMRING_BUILD_BENCH=ON and\n"
	"installed in libexec/mring; if MRING_BENCH_DIR is set, it is the only\n"
	"directory searched. The drivers that compare every strategy under a\n"
	"memory limit over repetitions (bench/run-loop.sh, bench/run-ipc.sh)\n"
	"are in the source tree.\n"
	"\n"
	"Options:\n"
	"  -h, --help   show this help\n";

static const char *const benches[] = {"loop", "ipc"};

/*
 * dir + "/" + rel, with each leading "../" of rel taking a component off
 * dir so that messages show plain paths; malloc'd, NULL if out of memory.
 */
static char *join(const char *dir, const char *rel)
{
	size_t n = strlen(dir);
	char *out;

	while (strncmp(rel, "../", 3) == 0) {
		const char *slash = memrchr(dir, '/', n);
		if (!slash || slash == dir)
			break;
		n = (size_t)(slash - dir);
		rel += 3;
	}
	if (asprintf(&out, "%.*s/%s", (int)n, dir, rel) < 0)
		return NULL;
	return out;
}

/*
 * The directories to search, in order: $MRING_BENCH_DIR alone if set;
 * else the installed libexec directory and the build tree's bench/, both
 * relative to this executable. Returns how many were stored in dirs[]
 * (malloc'd), -1 if out of memory.
 */
static int search_dirs(char *dirs[2])
{
	const char *env = getenv("MRING_BENCH_DIR");
	char self[PATH_MAX];
	ssize_t n;

	if (env && *env)
		return (dirs[0] = strdup(env)) ? 1 : -1;
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return 0;
	self[n] = '\0';
	*strrchr(self, '/') = '\0';
	dirs[0] = join(self, MRING_TOOL_LIBEXEC_REL);
	dirs[1] = join(self, "../bench");
	return dirs[0] && dirs[1] ? 2 : -1;
}

/* Exec dir/mring-bench-NAME with argv[2...]; returns only on failure. */
static int run(const char *path, int argc, char **argv)
{
	char **args = calloc((size_t)argc, sizeof(*args));

	if (!args) {
		msg("bench: out of memory");
		return EXIT_FAIL;
	}
	args[0] = (char *)path;
	for (int a = 2; a < argc; a++)
		args[a - 1] = argv[a];
	fflush(NULL);
	execv(path, args);
	msg("bench: %s: %s", path, strerror(errno));
	free(args);
	return EXIT_FAIL;
}

int cmd_bench(int argc, char **argv)
{
	if (argc < 2)
		return usage_err("bench", "missing BENCHMARK (loop or ipc)");
	const char *name = argv[1];
	if (!strcmp(name, "-h") || !strcmp(name, "--help"))
		return print_help(usage);
	if (name[0] == '-')
		return usage_err("bench", "unknown option '%s'", name);
	size_t k = 0, nb = sizeof(benches) / sizeof(benches[0]);
	while (k < nb && strcmp(name, benches[k]))
		k++;
	if (k == nb)
		return usage_err("bench",
		                 "unknown benchmark '%s' (loop or ipc)", name);

	char *dirs[2] = {NULL, NULL}, *path = NULL;
	int nd = search_dirs(dirs), rc = EXIT_FAIL;
	for (int i = 0; i < nd; i++) {
		if (asprintf(&path, "%s/mring-bench-%s", dirs[i], name) < 0) {
			nd = -1;
			break;
		}
		if (access(path, X_OK) == 0) {
			rc = run(path, argc, argv);
			goto out;
		}
		free(path);
		path = NULL;
	}
	if (nd < 0)
		msg("bench: out of memory");
	else if (nd == 0)
		msg("bench: mring-bench-%s not found (cannot locate this "
		    "program, and MRING_BENCH_DIR is not set)",
		    name);
	else if (nd == 1)
		msg("bench: mring-bench-%s not found in %s — MRING_BENCH_DIR "
		    "names the only directory searched; unset it to search "
		    "the installation and the build tree",
		    name, dirs[0]);
	else
		msg("bench: mring-bench-%s not found (looked in %s, %s) — "
		    "configure with -DMRING_BUILD_BENCH=ON, build and install, "
		    "or set MRING_BENCH_DIR",
		    name, dirs[0], dirs[1]);
out:
	free(path);
	free(dirs[0]);
	free(dirs[1]);
	return rc;
}
