/*
 * mring consumers / mring consumer add|rm|skip: list the consumer slots of
 * a ring, register a durable consumer ahead of time, detach one that is
 * gone for good so it no longer holds the producer back, or move one past
 * a damaged record.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <string.h>

#include "cli.h"

static const char usage_list[] =
	"Usage: mring consumers FILE [--json]\n"
	"\n"
	"List the ring's consumers: name (or \"(observer)\"), position, lag\n"
	"behind the producer in bytes and as a share of the capacity, whether\n"
	"a live process has it open, and the last pid that opened it. Warns\n"
	"about durable consumers that are gone but hold the producer back.\n"
	"\n"
	"Options:\n"
	"  -j, --json   one JSON object: file, policy, max_consumers and\n"
	"               consumers, as in 'mring info --json'\n"
	"  -h, --help   show this help\n";

static const char usage_one[] =
	"Usage: mring consumer add FILE NAME [--from oldest|newest]\n"
	"       mring consumer rm FILE NAME\n"
	"       mring consumer skip FILE NAME\n"
	"\n"
	"add: register the durable consumer NAME now, so that the producer\n"
	"     keeps everything from this point (--from newest, the default)\n"
	"     or from the oldest data in the ring (--from oldest) for it.\n"
	"     Only its slot is written: no data is mapped or read. An\n"
	"     existing consumer keeps its position.\n"
	"rm:  detach the durable consumer NAME: its position is forgotten and\n"
	"     it no longer holds the producer back. Refused while a live\n"
	"     process has it open.\n"
	"skip: move the durable consumer NAME of a record ring, stopped by a\n"
	"     damaged record ('corrupt record' from read), past the damage\n"
	"     to the next record that verifies; says what was skipped (it\n"
	"     counts as lost). Refused when its next record is not damaged.\n"
	"\n"
	"Options:\n"
	"  -f, --from WHERE   add: where a new consumer starts\n"
	"      --any-owner    add, skip: even if another user owns the ring\n"
	"                     (only if you trust that user); rm must run as\n"
	"                     the ring's owner\n"
	"  -h, --help         show this help\n";

/* The ring file's only positional argument, with -h and -j (--json). */
static int only_file(int argc, char **argv, const char *cmd, const char *usage,
                     const char **path, int *json)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		if (c == 'j') {
			*json = 1;
			continue;
		}
		if (c == 'h')
			return print_help(usage);
		return usage_err(cmd, "bad option");
	}
	if (optind >= argc)
		return usage_err(cmd, "missing FILE");
	if (optind + 1 < argc)
		return usage_err(cmd, "unexpected argument '%s'",
		                 argv[optind + 1]);
	*path = argv[optind];
	return -1;
}

int cmd_consumers(int argc, char **argv)
{
	const char *path = NULL;
	struct ring_state st;
	int json = 0;
	int rc = only_file(argc, argv, "consumers", usage_list, &path, &json);

	if (rc >= 0)
		return rc;
	rc = ring_state_read(path, &st);
	if (rc < 0)
		return ring_err(path, rc, USE_INSPECT, NULL);
	if (json) {
		fputs("{\"file\":", stdout);
		json_str(stdout, path);
		printf(",\"policy\":\"%s\",\"max_consumers\":%u,",
		       mode_policy(st.info.flags), st.info.max_consumers);
		json_consumers(stdout, &st, NULL);
		puts("}");
		ring_state_free(&st);
		return fflush(stdout) == 0 ? EXIT_OK : EXIT_FAIL;
	}
	printf("%s: %u of %u consumer slots in use (%s mode)\n", path,
	       st.info.consumers, st.info.max_consumers,
	       mode_policy(st.info.flags));
	print_consumers(stdout, &st);
	warn_dead_consumers(stdout, path, &st);
	ring_state_free(&st);
	return EXIT_OK;
}

static int consumer_rm(const char *path, const char *name)
{
	int rc = mring_consumer_remove(path, name);

	if (rc == -ENOENT) {
		struct ring_state st;
		/* Is it the file or the consumer that is missing? */
		int r2 = ring_state_read(path, &st);
		if (r2 < 0)
			return ring_err(path, r2, USE_INSPECT, NULL);
		ring_state_free(&st);
		msg("%s: no durable consumer named '%s' — see 'mring "
		    "consumers %s'",
		    path, name, path);
		return EXIT_FAIL;
	}
	if (rc == -EBUSY) {
		struct ring_state st;
		pid_t pid = 0;
		if (ring_state_read(path, &st) == 0) {
			for (unsigned i = 0; i < st.ncons; i++)
				if (st.cons[i].durable &&
				    !strcmp(st.cons[i].name, name))
					pid = st.cons[i].pid;
			ring_state_free(&st);
		}
		msg("%s: consumer '%s' is attached in a live process (pid %d) "
		    "— stop that reader first",
		    path, name, (int)pid);
		return EXIT_FAIL;
	}
	if (rc < 0)
		return ring_err(path, rc, USE_INSPECT, NULL);
	printf("%s: removed consumer '%s'\n", path, name);
	return EXIT_OK;
}

/* The stored position of durable consumer `name`; 0 if not found. */
static uint64_t stored_position(const char *path, const char *name)
{
	struct ring_state st;
	uint64_t pos = 0;

	if (ring_state_read(path, &st) < 0)
		return 0;
	for (unsigned i = 0; i < st.ncons; i++)
		if (st.cons[i].durable && !strcmp(st.cons[i].name, name))
			pos = st.cons[i].position;
	ring_state_free(&st);
	return pos;
}

static int consumer_add(const char *path, const char *name, int start,
                        unsigned flags)
{
	int rc;

	if (flags & MRING_F_ANY_OWNER) {
		/*
		 * mring_consumer_add() takes no flags, so it always refuses
		 * another user's file; with the opt-in, register by opening
		 * and closing the consumer instead (which maps and reads
		 * ahead its first window).
		 */
		struct mring_config cfg = {
			.consumer_name = name, .start = start, .flags = flags};
		struct mring *r;
		rc = mring_open(path, MRING_CONSUMER, &cfg, &r);
		if (rc == 0)
			mring_close(r); /* a durable consumer keeps its slot */
	} else {
		/* A slot in the control block only: no data mapped or read
		 * ahead (a fresh sparse ring gets no page cache of zeros). */
		rc = mring_consumer_add(path, name, start);
	}
	if (rc == -EEXIST) {
		printf("%s: consumer '%s' exists, at position %llu (kept)\n",
		       path, name,
		       (unsigned long long)stored_position(path, name));
		return EXIT_OK;
	}
	if (rc < 0)
		return ring_err(path, rc, USE_CONSUMER, name);
	printf("%s: consumer '%s' at position %llu\n", path, name,
	       (unsigned long long)stored_position(path, name));
	return EXIT_OK;
}

/*
 * Skip the damage that stops durable consumer `name` (mring_skip), and
 * make its new position durable.
 */
static int consumer_skip(const char *path, const char *name, unsigned flags)
{
	struct mring_config cfg = {.consumer_name = name, .flags = flags};
	struct ring_state st;
	struct mring *r;
	int found = 0, records, rc;

	/* Opening an unknown name would register it: look first. */
	rc = ring_state_read(path, &st);
	if (rc < 0)
		return ring_err(path, rc, USE_INSPECT, NULL);
	records = !!(st.info.flags & MRING_F_RECORDS);
	for (unsigned i = 0; i < st.ncons; i++)
		found |= st.cons[i].durable && !strcmp(st.cons[i].name, name);
	ring_state_free(&st);
	if (!records) {
		msg("%s: a byte ring carries no checks, so no record is ever "
		    "damaged and there is nothing to skip",
		    path);
		return EXIT_USAGE;
	}
	if (!found) {
		msg("%s: no durable consumer named '%s' — see 'mring "
		    "consumers %s'",
		    path, name, path);
		return EXIT_FAIL;
	}
	rc = mring_open(path, MRING_CONSUMER, &cfg, &r);
	if (rc < 0)
		return ring_err(path, rc, USE_CONSUMER, name);
	const void *p;
	ssize_t n;
	do /* a loss report first, in an overwrite ring: look again */
		n = mring_peek(r, &p, 0);
	while (n == MRING_ELAPPED);
	struct mring_stats before;
	mring_stats(r, &before);
	if (n != MRING_ECORRUPT) {
		if (n >= 0 || n == -EAGAIN)
			msg("%s: consumer '%s' is not stopped by damage: %s; "
			    "nothing skipped",
			    path, name,
			    n > 0 ? "its next record verifies"
			          : "it has read everything there is");
		else
			ring_err(path, (int)n, USE_CONSUMER, name);
		mring_close(r);
		return EXIT_FAIL;
	}
	uint64_t bytes = 0, recs = 0;
	rc = mring_skip(r, &bytes, &recs);
	if (rc == MRING_ELAPPED) {
		msg("%s: the damage was overwritten meanwhile; consumer '%s' "
		    "moved on to the oldest data",
		    path, name);
	} else if (rc < 0) {
		mring_close(r);
		return ring_err(path, rc, USE_CONSUMER, name);
	} else {
		struct mring_where w;
		char a[FMT_LEN], num[32] = "an unknown number of";
		mring_tell(r, &w);
		if (recs != UINT64_MAX)
			snprintf(num, sizeof(num), "%llu",
			         (unsigned long long)recs);
		printf("%s: consumer '%s' skipped %s damaged record%s (%s, "
		       "from pos:%llu); it goes on at pos:%llu\n",
		       path, name, num, recs == 1 ? "" : "s",
		       fmt_bytes(bytes, a), (unsigned long long)before.position,
		       (unsigned long long)w.pos);
	}
	rc = mring_sync(r);
	mring_close(r);
	if (rc < 0) {
		msg("%s: could not make the consumer's new position durable "
		    "(mring_sync): %s",
		    path, mring_strerror(rc));
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

int cmd_consumer(int argc, char **argv)
{
	static const struct option opts[] = {
		{"from", required_argument, NULL, 'f'},
		{"any-owner", no_argument, NULL, 'O'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int start = MRING_START_NEWEST, c;
	unsigned flags = 0;

	while ((c = getopt_long(argc, argv, "f:h", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			if (!strcmp(optarg, "oldest"))
				start = MRING_START_OLDEST;
			else if (!strcmp(optarg, "newest"))
				start = MRING_START_NEWEST;
			else
				return usage_err("consumer",
				                 "--from %s: expected 'oldest' "
				                 "or 'newest'",
				                 optarg);
			break;
		case 'O':
			flags |= MRING_F_ANY_OWNER;
			break;
		case 'h':
			return print_help(usage_one);
		default:
			return usage_err("consumer", "bad option");
		}
	}
	if (optind >= argc)
		return usage_err("consumer", "missing 'add', 'rm' or 'skip'");
	const char *verb = argv[optind];
	int add = !strcmp(verb, "add"), skip = !strcmp(verb, "skip");
	if (!add && !skip && strcmp(verb, "rm") && strcmp(verb, "remove"))
		return usage_err("consumer",
		                 "unknown action '%s' (add, rm or skip)", verb);
	if (argc - optind < 3)
		return usage_err("consumer", "missing FILE and NAME");
	if (argc - optind > 3)
		return usage_err("consumer", "unexpected argument '%s'",
		                 argv[optind + 3]);
	const char *path = argv[optind + 1], *name = argv[optind + 2];
	if (!name[0] || strlen(name) > MRING_NAME_MAX)
		return usage_err("consumer",
		                 "consumer names have 1 to %d bytes",
		                 MRING_NAME_MAX);
	if (skip)
		return consumer_skip(path, name, flags);
	return add ? consumer_add(path, name, start, flags)
	           : consumer_rm(path, name);
}
