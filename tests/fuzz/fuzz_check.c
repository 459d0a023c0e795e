/*
 * Fuzz target: `mring check` on a hostile file.
 *
 * Input: byte 0 bit 0 chooses the file: a raw image (fz_write_raw; byte 1
 * says how) or a valid template ring (byte 1 picks it) damaged by up to 32
 * edits (fz_patch). The check must return 0, 1 (problems found) or 2 (not
 * a usable ring), and 0 for an undamaged template.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "fuzz_common.h"

/* main.c is not linked in: the one helper cmd_check needs from it. */
int print_help(const char *text)
{
	fputs(text, stdout);
	return EXIT_OK;
}

static int run_check(void *arg)
{
	char a0[] = "check", a1[] = "-q";
	char *argv[] = {a0, a1, arg, NULL};

	optind = 0; /* glibc: start getopt afresh */
	return cmd_check(3, argv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = {data, size};
	uint8_t what = fz_u8(&in), sel = fz_u8(&in);
	int damaged = 1;
	char path[128];

	if (what & 1) {
		if (fz_write_raw(&in, sel) < 0)
			return 0;
	} else {
		const struct fz_tmpl *t = fz_write_template(sel);
		if (!t)
			return 0;
		damaged = 0;
		for (int i = 0; i < 32 && fz_patch(&in, t) == 0; i++)
			damaged = 1;
	}
	snprintf(path, sizeof(path), "%s", fz_path());
	int rc = fz_quietly(run_check, path);
	if (rc < 0 || rc > 2)
		fz_fail("mring check returned %d", rc);
	if (rc != 0 && !damaged)
		fz_fail("mring check found problems in a sound ring (%d)", rc);
	return 0;
}
