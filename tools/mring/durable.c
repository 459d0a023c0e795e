/*
 * Durability for write and read --consumer: mring_sync() at the end, and
 * every so many bytes or seconds with --sync-every. A time-based sync must
 * also happen while the input is idle, when no byte comes to trigger it,
 * so an interval timer (SIGALRM, without SA_RESTART) breaks the blocking
 * read(2) or wait, and the copy loop calls durable_tick() at its top.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "util.h"

volatile sig_atomic_t sync_alarm;

static void on_alarm(int sig)
{
	(void)sig;
	sync_alarm = 1;
}

/* "1s", "0.5s", "200ms": seconds into *out; 0 if it is no duration. */
static int parse_duration(const char *s, double *out)
{
	size_t n = strlen(s);
	double scale;

	if (n >= 3 && !strcmp(s + n - 2, "ms")) {
		n -= 2;
		scale = 1e-3;
	} else if (n >= 2 && s[n - 1] == 's' &&
	           (isdigit((unsigned char)s[n - 2]) || s[n - 2] == '.')) {
		n -= 1;
		scale = 1;
	} else {
		return 0;
	}
	char num[64], *end;
	if (n == 0 || n >= sizeof(num))
		return -1;
	memcpy(num, s, n);
	num[n] = '\0';
	errno = 0;
	double v = strtod(num, &end);
	if (end == num || *end || errno || !(v > 0) || v * scale > 86400)
		return -1;
	*out = v * scale;
	return 1;
}

int parse_sync_every(const char *s, struct durable *d)
{
	int rc = parse_duration(s, &d->every_s);

	if (rc < 0) {
		msg("--sync-every %s: expected a size (64M) or a duration "
		    "above 0 and up to a day (1s, 0.5s, 200ms)",
		    s);
		return -1;
	}
	if (rc > 0)
		return 0;
	if (parse_size("--sync-every", s, &d->every) < 0)
		return -1;
	if (d->every == 0) {
		msg("--sync-every 0: expected a size above 0 (64M) or a "
		    "duration (1s)");
		return -1;
	}
	return 0;
}

void durable_start(struct durable *d, struct mring *r, const char *path)
{
	d->r = r;
	d->path = path;
	d->pending = 0;
	sync_alarm = 0;
	if (!d->on || d->every_s <= 0)
		return;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm; /* no SA_RESTART: read() returns EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval it;
	it.it_interval.tv_sec = (time_t)d->every_s;
	it.it_interval.tv_usec =
		(suseconds_t)((d->every_s - (double)(time_t)d->every_s) * 1e6);
	if (it.it_interval.tv_sec == 0 && it.it_interval.tv_usec == 0)
		it.it_interval.tv_usec = 1;
	it.it_value = it.it_interval;
	setitimer(ITIMER_REAL, &it, NULL);
}

int durable_sync(struct durable *d)
{
	sync_alarm = 0;
	if (!d->on)
		return 0;
	int rc = mring_sync(d->r);
	if (rc < 0) {
		msg("%s: could not make %s durable (mring_sync): %s%s", d->path,
		    d->what, mring_strerror(rc),
		    rc == MRING_EREMOVED ? " — another program removed or "
		                           "replaced the file"
		                         : "");
		return EXIT_FAIL;
	}
	d->pending = 0;
	d->syncs++;
	return 0;
}

int durable_tick(struct durable *d)
{
	if (!d->on)
		return 0;
	if (d->every && d->pending >= d->every)
		return durable_sync(d);
	if (sync_alarm) {
		sync_alarm = 0;
		/* Nothing new since the last one: no system call. */
		if (d->pending)
			return durable_sync(d);
	}
	return 0;
}

int durable_end(struct durable *d)
{
	if (d->on && d->every_s > 0) {
		struct itimerval off;
		memset(&off, 0, sizeof(off));
		setitimer(ITIMER_REAL, &off, NULL);
		signal(SIGALRM, SIG_IGN);
	}
	/* Always at the end, even with nothing new from this process: what
	 * an earlier one left unsynced is made durable too. */
	return durable_sync(d);
}
