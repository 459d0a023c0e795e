/*
 * Shared helpers: messages with hints, size parsing and formatting, and a
 * snapshot of a ring's state taken with mring_inspect().
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

const char *tool_name = "mring";

void msg(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", tool_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int usage_err(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s %s: ", tool_name, cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s %s --help'.\n", tool_name, cmd);
	return EXIT_USAGE;
}

/* Who holds the producer lock, or the named consumer's slot, if known. */
static pid_t holder_pid(const char *path, enum ring_use use, const char *name)
{
	struct ring_state st;
	pid_t pid = 0;

	if (ring_state_read(path, &st) < 0)
		return 0;
	if (use == USE_PRODUCER && st.info.producer_alive) {
		pid = st.info.producer_pid;
	} else if (use == USE_CONSUMER && name) {
		for (unsigned i = 0; i < st.ncons; i++)
			if (strcmp(st.cons[i].name, name) == 0)
				pid = st.cons[i].pid;
	}
	ring_state_free(&st);
	return pid;
}

int ring_err(const char *path, int err, enum ring_use use, const char *name)
{
	const char *cause = mring_strerror(err), *hint = NULL;
	char buf[160];
	struct stat sb;
	int code = EXIT_USAGE;

	/* The library only sees "not a regular file"; say what it is. */
	if ((err == MRING_EBADMAGIC || err == -EISDIR) &&
	    stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
		msg("%s: is a directory, not a ring file", path);
		return EXIT_USAGE;
	}
	switch (err) {
	case -ENOENT:
		cause = "no such file";
		if (use != USE_CREATE)
			hint = "create it with 'mring create FILE --size SIZE'";
		break;
	case -EINVAL:
		if (use == USE_PRODUCER && getenv("MRING_MAINT_PRIORITY"))
			hint = "is MRING_MAINT_PRIORITY a number from 0 to 99?";
		break;
	case -EPERM: {
		/* The one EPERM of a producer's open that is not about the
		 * file: a real-time thread it may not have. */
		const char *prio = getenv("MRING_MAINT_PRIORITY");
		if (use == USE_PRODUCER && prio && *prio &&
		    strcmp(prio, "0") != 0) {
			cause = "real-time priority for the maintenance thread "
				"not permitted";
			hint = "MRING_MAINT_PRIORITY needs root, CAP_SYS_NICE "
			       "or an RLIMIT_RTPRIO as high; unset it to run "
			       "without";
			break;
		}
	}
		/* fall through */
	case -EACCES:
		hint = use == USE_INSPECT || use == USE_CREATE
		               ? "check the permissions of the file and its "
		                 "directory"
		               : "producers and consumers need read and write "
		                 "permission on the ring file";
		break;
	case -EEXIST:
		cause = "file exists";
		hint = "remove it first or choose another name";
		code = EXIT_FAIL;
		break;
	case MRING_EBADMAGIC:
		hint = "was it created with 'mring create'?";
		break;
	case MRING_ESYMLINK:
		cause = "is a symbolic link";
		hint = "mring does not follow links to ring files; give the "
		       "target's path";
		break;
	case MRING_EOWNER: {
		struct stat ob;
		cause = "belongs to another user";
		snprintf(buf, sizeof(buf),
		         use == USE_INSPECT
		                 ? "owner uid %d; run this as the ring's owner"
		                 : "owner uid %d; add --any-owner only if you "
		                   "trust that user with this process",
		         lstat(path, &ob) == 0 ? (int)ob.st_uid : -1);
		hint = buf;
		break;
	}
	case MRING_EREMOVED:
		hint = "another program removed or replaced the file";
		code = EXIT_FAIL;
		break;
	case MRING_EVERSION:
		hint = "it was written by another version of mring; this one "
		       "reads format " MRING_TOOL_STR(MRING_FORMAT_VERSION);
		break;
	case MRING_ECHECKSUM:
	case MRING_ECORRUPT:
		hint = "the control block is damaged; the file cannot be used";
		break;
	case MRING_ETRUNCATED:
		hint = "was it truncated, or copied incompletely?";
		break;
	case MRING_EGEOMETRY:
		hint = "it was made on a machine with another page size or "
		       "byte order";
		break;
	case MRING_ENOSLOT:
		hint = "see 'mring consumers FILE'; remove stale durable "
		       "consumers with 'mring consumer rm FILE NAME'";
		code = EXIT_FAIL;
		break;
	case -EBUSY: {
		pid_t pid = holder_pid(path, use, name);
		code = EXIT_FAIL;
		if (use == USE_PRODUCER) {
			cause = "another producer is attached";
			if (pid) {
				snprintf(buf, sizeof(buf),
				         "process %d is writing to it; a ring "
				         "has one producer at a time",
				         (int)pid);
				hint = buf;
			} else {
				hint = "a ring has one producer at a time";
			}
		} else if (use == USE_CONSUMER && name) {
			snprintf(buf, sizeof(buf),
			         "consumer '%s' is already attached", name);
			cause = buf;
			if (pid) {
				static char h[96];
				snprintf(h, sizeof(h), "by live process %d",
				         (int)pid);
				hint = h;
			}
		}
		break;
	}
	case -ENOSPC:
		hint = "the file system is full";
		code = EXIT_FAIL;
		break;
	case -ENOMEM:
	case -EINTR:
	case -ETIMEDOUT:
	case -EAGAIN:
	case -EIO:
	case MRING_ELAPPED:
	case MRING_EROLE:
		code = EXIT_FAIL;
		break;
	default:
		break;
	}
	if (hint)
		msg("%s: %s — %s", path, cause, hint);
	else
		msg("%s: %s", path, cause);
	return code;
}

/* ---- sizes ------------------------------------------------------------- */

int parse_size(const char *opt, const char *s, uint64_t *out)
{
	const char *p = s;
	uint64_t ival = 0, frac = 0, fdiv = 1, mult = 1;

	if (!isdigit((unsigned char)*p))
		goto notsize;
	for (; isdigit((unsigned char)*p); p++)
		if (__builtin_mul_overflow(ival, 10, &ival) ||
		    __builtin_add_overflow(ival, (uint64_t)(*p - '0'), &ival))
			goto toobig;
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			goto notsize;
		for (; isdigit((unsigned char)*p); p++) {
			if (fdiv >= 1000000000000ull)
				continue; /* ignore digits beyond 1e-12 */
			frac = frac * 10 + (uint64_t)(*p - '0');
			fdiv *= 10;
		}
	}
	if (*p) {
		const char *units = "KMGTP", *u = strchr(units, toupper(*p));
		if (!u || !*u) {
			if ((*p == 'B' || *p == 'b') && !p[1])
				goto done;
			msg("%s %s: unknown unit '%s' (use K, M, G, T or P, "
			    "powers of 1024, or plain bytes)",
			    opt, s, p);
			return -1;
		}
		mult = 1ull << (10 * (u - units + 1));
		p++;
		if (*p == 'i' && p[1] == 'B')
			p += 2;
		else if (*p == 'B' || *p == 'b')
			p++;
		if (*p) {
			msg("%s %s: unknown unit '%s' (use K, M, G, T or P, "
			    "powers of 1024, or plain bytes)",
			    opt, s, p - 1);
			return -1;
		}
	}
done:;
	uint64_t v;
	if (__builtin_mul_overflow(ival, mult, &v))
		goto toobig;
	/* frac / fdiv of the unit: exact when it is a whole byte count. */
	if (frac) {
		unsigned __int128 f = (unsigned __int128)frac * mult;
		if (f % fdiv) {
			msg("%s %s: not a whole number of bytes", opt, s);
			return -1;
		}
		if (__builtin_add_overflow(v, (uint64_t)(f / fdiv), &v))
			goto toobig;
	}
	*out = v;
	return 0;
notsize:
	msg("%s %s: not a size (a number with an optional unit K, M, G, T or "
	    "P, powers of 1024, e.g. 64G)",
	    opt, s);
	return -1;
toobig:
	msg("%s %s: too large", opt, s);
	return -1;
}

int parse_uint(const char *opt, const char *s, uint64_t min, uint64_t max,
               uint64_t *out)
{
	char *end;

	errno = 0;
	if (!isdigit((unsigned char)*s)) {
		msg("%s %s: not a number", opt, s);
		return -1;
	}
	unsigned long long v = strtoull(s, &end, 10);
	if (*end || errno) {
		msg("%s %s: not a number", opt, s);
		return -1;
	}
	if (v < min || v > max) {
		msg("%s %s: must be between %llu and %llu", opt, s,
		    (unsigned long long)min, (unsigned long long)max);
		return -1;
	}
	*out = v;
	return 0;
}

int parse_seconds(const char *opt, const char *s, double *out)
{
	char *end;

	errno = 0;
	double v = strtod(s, &end);
	if (end == s || *end || errno || !(v > 0) || v > 86400 * 365) {
		msg("%s %s: expected a number of seconds greater than 0", opt,
		    s);
		return -1;
	}
	*out = v;
	return 0;
}

const char *fmt_bytes(uint64_t v, char *buf)
{
	static const char *const units[] = {"B",   "KiB", "MiB", "GiB",
	                                    "TiB", "PiB", "EiB"};
	unsigned u = 0;

	while (u < 6 && v >= (1ull << (10 * (u + 1))))
		u++;
	if (u == 0) {
		snprintf(buf, FMT_LEN, "%llu B", (unsigned long long)v);
	} else if (v % (1ull << (10 * u)) == 0) {
		snprintf(buf, FMT_LEN, "%llu %s",
		         (unsigned long long)(v >> (10 * u)), units[u]);
	} else {
		snprintf(buf, FMT_LEN, "%.1f %s",
		         (double)v / (double)(1ull << (10 * u)), units[u]);
	}
	return buf;
}

const char *fmt_rate(double r, char *buf)
{
	if (r < 0)
		r = 0;
	if (r >= 1e9)
		snprintf(buf, FMT_LEN, "%.2f GB/s", r / 1e9);
	else
		snprintf(buf, FMT_LEN, "%.1f MB/s", r / 1e6);
	return buf;
}

/* ---- times ------------------------------------------------------------- */

const char *fmt_time_ns(uint64_t ns, char *buf)
{
	time_t t = (time_t)(ns / 1000000000u);
	struct tm tm;
	char day[32];

	if (!gmtime_r(&t, &tm) ||
	    !strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm))
		snprintf(buf, TIME_LEN, "@%llu", (unsigned long long)ns);
	else
		snprintf(buf, TIME_LEN, "%s.%09uZ", day,
		         (unsigned)(ns % 1000000000u));
	return buf;
}

/* n digits at *p into *v; advances *p. 0, or -1 if not n digits. */
static int digits(const char **p, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++, (*p)++) {
		if (!isdigit((unsigned char)**p))
			return -1;
		*v = *v * 10 + (**p - '0');
	}
	return 0;
}

int parse_time_ns(const char *opt, const char *s, uint64_t *out)
{
	const char *p = s;
	int y, mo, d, h = 0, mi = 0, sec = 0, zone = 0, utc = 0;
	uint64_t frac = 0;

	if (*p == '@') {
		uint64_t v = 0;
		if (!isdigit((unsigned char)p[1]))
			goto bad;
		for (p++; isdigit((unsigned char)*p); p++)
			if (__builtin_mul_overflow(v, 10, &v) ||
			    __builtin_add_overflow(v, (uint64_t)(*p - '0'), &v))
				goto range;
		if (*p)
			goto bad;
		*out = v;
		return 0;
	}
	if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) ||
	    *p++ != '-' || digits(&p, 2, &d))
		goto bad;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		p++;
		if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi))
			goto bad;
		if (*p == ':') {
			p++;
			if (digits(&p, 2, &sec))
				goto bad;
			if (*p == '.' || *p == ',') {
				int n = 0;
				for (p++; isdigit((unsigned char)*p); p++, n++)
					if (n < 9)
						frac = frac * 10 +
						       (uint64_t)(*p - '0');
				if (n == 0 || n > 9)
					goto bad;
				for (; n < 9; n++)
					frac *= 10;
			}
		}
	}
	if (*p == 'Z' || *p == 'z') {
		utc = 1;
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p++ == '-' ? -1 : 1, zh, zm = 0;
		if (digits(&p, 2, &zh))
			goto bad;
		if (*p == ':')
			p++;
		if (isdigit((unsigned char)*p) && digits(&p, 2, &zm))
			goto bad;
		if (zh > 23 || zm > 59)
			goto bad;
		utc = 1;
		zone = sign * (zh * 3600 + zm * 60);
	}
	if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
	    sec > 59)
		goto bad;
	struct tm tm = {.tm_year = y - 1900,
	                .tm_mon = mo - 1,
	                .tm_mday = d,
	                .tm_hour = h,
	                .tm_min = mi,
	                .tm_sec = sec,
	                .tm_isdst = -1};
	time_t t = utc ? timegm(&tm) : mktime(&tm);
	/* Both normalise: 2026-02-30 would become March 2nd. */
	if (tm.tm_mon != mo - 1 || tm.tm_mday != d)
		goto bad;
	t -= zone;
	if (t < 0)
		goto range;
	if ((uint64_t)t > (UINT64_MAX - frac) / 1000000000u)
		goto range;
	*out = (uint64_t)t * 1000000000u + frac;
	return 0;
bad:
	msg("%s%s: not a time; expected ISO 8601 such as "
	    "2026-12-02T14:02:10Z, 2026-12-02T15:02:10.5+01:00 or "
	    "'2026-12-02 14:02' (local time), or @NANOSECONDS since the epoch",
	    opt, s);
	return -1;
range:
	msg("%s%s: out of range (from 1970 to the year 2554)", opt, s);
	return -1;
}

double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

uint64_t page_size(void)
{
	long p = sysconf(_SC_PAGESIZE);
	return p > 0 ? (uint64_t)p : 4096;
}

void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* ---- ring state -------------------------------------------------------- */

int ring_state_read(const char *path, struct ring_state *st)
{
	unsigned n = 0;
	int rc;

	memset(st, 0, sizeof(*st));
	/* The number of slots in use may grow between calls: retry. */
	for (;;) {
		rc = mring_inspect(path, &st->info, st->cons, n);
		if (rc < 0) {
			free(st->cons);
			st->cons = NULL;
			return rc;
		}
		if ((unsigned)rc <= n)
			break;
		n = st->info.max_consumers;
		free(st->cons);
		st->cons = calloc(n, sizeof(*st->cons));
		if (!st->cons)
			return -ENOMEM;
	}
	st->ncons = (unsigned)rc;
	st->when = now_s();
	return 0;
}

void ring_state_free(struct ring_state *st)
{
	free(st->cons);
	st->cons = NULL;
	st->ncons = 0;
}

uint64_t cons_lag(const struct mring_info *in,
                  const struct mring_consumer_info *c)
{
	return in->head > c->position ? in->head - c->position : 0;
}

int cons_blocking(const struct ring_state *st,
                  const struct mring_consumer_info *c)
{
	const struct mring_info *in = &st->info;

	if ((in->flags & MRING_F_OVERWRITE) || !in->producer_alive ||
	    !c->durable)
		return 0;
	return cons_lag(in, c) > in->capacity - in->max_record;
}

unsigned producer_blockers(const struct ring_state *st)
{
	unsigned n = 0;

	for (unsigned i = 0; i < st->ncons; i++)
		n += (unsigned)cons_blocking(st, &st->cons[i]);
	return n;
}

const char *mode_kind(unsigned flags)
{
	return flags & MRING_F_RECORDS ? "records" : "bytes";
}

const char *mode_policy(unsigned flags)
{
	return flags & MRING_F_OVERWRITE ? "overwrite" : "back-pressure";
}

int write_full(int fd, const void *buf, size_t len, size_t *done)
{
	const char *p = buf;
	int rc = 0;

	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			break;
		}
		p += n;
		len -= (size_t)n;
	}
	if (done)
		*done = (size_t)(p - (const char *)buf);
	return rc;
}
