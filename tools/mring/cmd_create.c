/*
 * mring create: make a new ring file, validating the geometry here so that
 * every mistake gets a message that names the option and the rule.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "cli.h"

static const char usage[] =
	"Usage: mring create FILE --size SIZE [OPTIONS]\n"
	"\n"
	"Create a new ring file holding SIZE bytes of data. The file is sparse\n"
	"unless --prealloc is given. It must not exist yet.\n"
	"\n"
	"Options:\n"
	"  -s, --size SIZE         data capacity, a multiple of the page size\n"
	"                          (e.g. 64G; units K, M, G, T or P, powers "
	"of 1024)\n"
	"  -w, --window SIZE       default window each process maps (default "
	"64M,\n"
	"                          clamped to the ring)\n"
	"  -m, --max-record SIZE   largest record or reservation (default 1M,\n"
	"                          at most a quarter of a small ring)\n"
	"  -r, --records           framed records instead of a byte stream\n"
	"      --crc               records carry a CRC32C of their payload\n"
	"                          (needs --records)\n"
	"  -t, --timestamps        records carry the time they were written, so\n"
	"                          that 'mring read --from time:...' finds\n"
	"                          them (needs --records; file format\n"
	"                          version 2, which older libraries refuse)\n"
	"  -o, --overwrite         flight recorder: the producer never waits "
	"and\n"
	"                          overwrites the oldest data\n"
	"  -p, --prealloc          allocate the disk blocks now (fallocate)\n"
	"  -c, --consumers N       consumer slots (default 32, 1 to 4096)\n"
	"      --mode OCTAL        file permissions (default 0600)\n"
	"  -h, --help              show this help\n";

/* Bytes a window reaches past its stride: the library's overlap rule. */
static uint64_t overlap(uint64_t max_record, uint64_t page)
{
	return (max_record + 32 + page - 1) / page * page;
}

/* Check the geometry; prints the first violation. */
static int validate(const struct mring_config *cfg, const char *size_arg,
                    int have_win)
{
	uint64_t page = page_size(), cap = cfg->capacity;
	/* A timestamp rides in every record: 8 more bytes of header. */
	uint64_t ts = cfg->flags & MRING_F_TIMESTAMPS ? 8 : 0;
	char a[FMT_LEN], b[FMT_LEN];

	if (cap == 0) {
		msg("--size %s: must be greater than 0", size_arg);
		return -1;
	}
	if (cap % page) {
		msg("--size %s: must be a multiple of the page size (%llu)",
		    size_arg, (unsigned long long)page);
		return -1;
	}
	if (cap >= 1ull << 56) {
		msg("--size %s: too large (at most 64 PiB)", fmt_bytes(cap, a));
		return -1;
	}
	if (cfg->max_record && overlap(cfg->max_record + ts, page) > cap / 2) {
		uint64_t most = cap / 2 / page * page;
		most = most > 32 + ts ? most - 32 - ts : 0;
		if (most == 0)
			msg("--size %s: too small for any record: a ring "
			    "needs at least 2 pages",
			    fmt_bytes(cap, a));
		else
			msg("--max-record %llu: too large for a %s ring (at "
			    "most %llu bytes, %s: a record and its %llu-byte "
			    "header must fit in half the ring)",
			    (unsigned long long)cfg->max_record,
			    fmt_bytes(cap, a), (unsigned long long)most,
			    fmt_bytes(most, b), (unsigned long long)(32 + ts));
		return -1;
	}
	if (!cfg->max_record && overlap(1, page) > cap / 2) {
		msg("--size %s: too small: a ring needs at least 2 pages (%llu "
		    "bytes)",
		    fmt_bytes(cap, a), (unsigned long long)(2 * page));
		return -1;
	}
	if (have_win && (cfg->window == 0 || cfg->window % page)) {
		msg("--window %llu: must be a positive multiple of the page "
		    "size (%llu)",
		    (unsigned long long)cfg->window, (unsigned long long)page);
		return -1;
	}
	if ((cfg->flags & MRING_F_CRC) && !(cfg->flags & MRING_F_RECORDS)) {
		msg("--crc needs --records: only framed records carry a CRC");
		return -1;
	}
	if ((cfg->flags & MRING_F_TIMESTAMPS) &&
	    !(cfg->flags & MRING_F_RECORDS)) {
		msg("--timestamps needs --records: only framed records carry "
		    "a time (a byte ring can be sought by position only)");
		return -1;
	}
	return 0;
}

int cmd_create(int argc, char **argv)
{
	static const struct option opts[] = {
		{"size", required_argument, NULL, 's'},
		{"window", required_argument, NULL, 'w'},
		{"max-record", required_argument, NULL, 'm'},
		{"records", no_argument, NULL, 'r'},
		{"crc", no_argument, NULL, 'C'},
		{"timestamps", no_argument, NULL, 't'},
		{"overwrite", no_argument, NULL, 'o'},
		{"prealloc", no_argument, NULL, 'p'},
		{"consumers", required_argument, NULL, 'c'},
		{"mode", required_argument, NULL, 'M'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct mring_config cfg;
	const char *size_arg = NULL;
	int have_win = 0, c;
	uint64_t v;

	memset(&cfg, 0, sizeof(cfg)); /* zero: library defaults */
	while ((c = getopt_long(argc, argv, "s:w:m:rtopc:h", opts, NULL)) !=
	       -1) {
		switch (c) {
		case 's':
			if (parse_size("--size", optarg, &cfg.capacity) < 0)
				return EXIT_USAGE;
			size_arg = optarg;
			break;
		case 'w':
			if (parse_size("--window", optarg, &v) < 0)
				return EXIT_USAGE;
			if (v > UINT32_MAX - page_size() + 1) {
				msg("--window %s: too large (at most 4G minus "
				    "a page)",
				    optarg);
				return EXIT_USAGE;
			}
			cfg.window = (uint32_t)v;
			have_win = 1;
			break;
		case 'm':
			if (parse_size("--max-record", optarg, &v) < 0)
				return EXIT_USAGE;
			if (v == 0 || v > UINT32_MAX - 2 * page_size()) {
				msg("--max-record %s: must be between 1 byte "
				    "and 4G minus two pages",
				    optarg);
				return EXIT_USAGE;
			}
			cfg.max_record = (uint32_t)v;
			break;
		case 'r':
			cfg.flags |= MRING_F_RECORDS;
			break;
		case 'C':
			cfg.flags |= MRING_F_CRC;
			break;
		case 't':
			cfg.flags |= MRING_F_TIMESTAMPS;
			break;
		case 'o':
			cfg.flags |= MRING_F_OVERWRITE;
			break;
		case 'p':
			cfg.flags |= MRING_F_PREALLOC;
			break;
		case 'c':
			if (parse_uint("--consumers", optarg, 1, 4096, &v) < 0)
				return EXIT_USAGE;
			cfg.max_consumers = (uint32_t)v;
			break;
		case 'M': {
			char *end;
			unsigned long m = strtoul(optarg, &end, 8);
			if (!*optarg || *end || (m & ~0666ul) ||
			    (m & 0600) != 0600) {
				msg("--mode %s: expected octal permissions "
				    "with owner read and write and no execute "
				    "bits, e.g. 0640",
				    optarg);
				return EXIT_USAGE;
			}
			cfg.mode = (unsigned)m;
			break;
		}
		case 'h':
			return print_help(usage);
		default:
			return usage_err("create", "bad option");
		}
	}
	if (optind >= argc)
		return usage_err("create", "missing FILE");
	if (optind + 1 < argc)
		return usage_err("create", "unexpected argument '%s'",
		                 argv[optind + 1]);
	if (!size_arg)
		return usage_err("create", "missing --size (e.g. --size 64G)");
	if (validate(&cfg, size_arg, have_win) < 0)
		return EXIT_USAGE;

	const char *path = argv[optind];
	int rc = mring_create(path, &cfg);
	if (rc == -ENOSPC && (cfg.flags & MRING_F_PREALLOC)) {
		/* The library checks the free space before allocating. */
		char need[FMT_LEN], have[FMT_LEN], *dir = strdup(path);
		struct statvfs vs;
		bool said = dir && statvfs(dirname(dir), &vs) == 0;
		if (said)
			msg("%s: %s of data cannot be preallocated: the file "
			    "system has %s free; nothing was allocated. Leave "
			    "out --prealloc for a sparse ring (blocks taken as "
			    "written), or choose a smaller --size",
			    path, fmt_bytes(cfg.capacity, need),
			    fmt_bytes((uint64_t)vs.f_bavail * vs.f_frsize,
			              have));
		free(dir);
		if (said)
			return EXIT_FAIL;
	}
	if (rc < 0)
		return ring_err(path, rc, USE_CREATE, NULL);

	/* Report what was made, as the library settled it. */
	struct ring_state st;
	char a[FMT_LEN], b[FMT_LEN], w[FMT_LEN];
	rc = ring_state_read(path, &st);
	if (rc < 0)
		return ring_err(path, rc, USE_INSPECT, NULL);
	printf("%s: %s ring, %s, %s of data, window %s, max record %s, %u "
	       "consumer slots%s%s%s\n",
	       path, mode_kind(st.info.flags), mode_policy(st.info.flags),
	       fmt_bytes(st.info.capacity, a), fmt_bytes(st.info.window, w),
	       fmt_bytes(st.info.max_record, b), st.info.max_consumers,
	       st.info.flags & MRING_F_CRC ? ", crc" : "",
	       st.info.flags & MRING_F_TIMESTAMPS ? ", timestamps" : "",
	       cfg.flags & MRING_F_PREALLOC ? ", preallocated" : "");
	ring_state_free(&st);
	return EXIT_OK;
}
