/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Option parsing: sizes, numbers, seconds, and whole command lines. */
#include "options.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

START_TEST(test_parse_size)
{
	uint64_t v;

	ck_assert_int_eq(pktfuse_parse_size("65536", &v), 0);
	ck_assert_uint_eq(v, 65536);
	ck_assert_int_eq(pktfuse_parse_size("32M", &v), 0);
	ck_assert_uint_eq(v, 32u << 20);
	ck_assert_int_eq(pktfuse_parse_size("512k", &v), 0);
	ck_assert_uint_eq(v, 512u << 10);
	ck_assert_int_eq(pktfuse_parse_size("1G", &v), 0);
	ck_assert_uint_eq(v, 1u << 30);
	ck_assert_int_eq(pktfuse_parse_size("2MiB", &v), 0);
	ck_assert_uint_eq(v, 2u << 20);
	ck_assert_int_eq(pktfuse_parse_size("4MB", &v), 0);
	ck_assert_uint_eq(v, 4u << 20);
	ck_assert_int_eq(pktfuse_parse_size("", &v), -1);
	ck_assert_int_eq(pktfuse_parse_size("M", &v), -1);
	ck_assert_int_eq(pktfuse_parse_size("-5M", &v), -1);
	ck_assert_int_eq(pktfuse_parse_size("5T", &v), -1);
	ck_assert_int_eq(pktfuse_parse_size("5Mx", &v), -1);
	ck_assert_int_eq(pktfuse_parse_size("99999999999999999999", &v), -1);
	ck_assert_int_eq(pktfuse_parse_size("18446744073709551615G", &v), -1);
}
END_TEST

START_TEST(test_parse_uint_and_seconds)
{
	unsigned v;

	ck_assert_int_eq(pktfuse_parse_uint("16", 1, 1024, &v), 0);
	ck_assert_uint_eq(v, 16);
	ck_assert_int_eq(pktfuse_parse_uint("0", 1, 1024, &v), -1);
	ck_assert_int_eq(pktfuse_parse_uint("1025", 1, 1024, &v), -1);
	ck_assert_int_eq(pktfuse_parse_uint("1x", 1, 1024, &v), -1);
	ck_assert_int_eq(pktfuse_parse_uint("-1", 0, 1024, &v), -1);
	ck_assert_int_eq(pktfuse_parse_seconds_ms("5", 3600000, &v), 0);
	ck_assert_uint_eq(v, 5000);
	ck_assert_int_eq(pktfuse_parse_seconds_ms("0.25", 3600000, &v), 0);
	ck_assert_uint_eq(v, 250);
	ck_assert_int_eq(pktfuse_parse_seconds_ms("1.005", 3600000, &v), 0);
	ck_assert_uint_eq(v, 1005);
	ck_assert_int_eq(pktfuse_parse_seconds_ms("0", 3600000, &v), -1);
	ck_assert_int_eq(pktfuse_parse_seconds_ms("1.", 3600000, &v), -1);
	ck_assert_int_eq(pktfuse_parse_seconds_ms("1.2345", 3600000, &v), -1);
	ck_assert_int_eq(pktfuse_parse_seconds_ms("3601", 3600000, &v), -1);
	ck_assert_int_eq(pktfuse_parse_seconds_ms("99999999999999", 3600000, &v), -1);
	ck_assert_int_eq(pktfuse_parse_seconds_ms(".5", 3600000, &v), -1);
}
END_TEST

static char err[512];

/* pktfuse_parse_options over argv; its reason in err. */
static int parse(struct pktfuse_opts *o, int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	int rc = pktfuse_parse_options(&args, o, err, sizeof(err));
	fuse_opt_free_args(&args);
	return rc;
}

START_TEST(test_command_lines)
{
	struct pktfuse_opts o;
	char *good[] = {"pktfuse", "disc.img", "/tmp", "-o", "image,packet=16,cache=8M,strict,dirty_age=0.5",
			"-f",	   "-s"};
	ck_assert_int_eq(parse(&o, 7, good), 0);
	ck_assert_str_eq(o.source, "disc.img");
	ck_assert_ptr_nonnull(o.mountpoint);
	ck_assert(o.image_view && o.strict && o.foreground && o.singlethread && !o.read_only);
	ck_assert_uint_eq(o.packet, 16);
	ck_assert_uint_eq(o.cache_bytes, 8u << 20);
	ck_assert_uint_eq(o.dirty_age_ms, 500);
	pktfuse_free_options(&o);

	char *ro[] = {"pktfuse", "-o", "ro", "disc.img", "/tmp"};
	ck_assert_int_eq(parse(&o, 5, ro), 0);
	ck_assert(o.read_only && !o.image_view);
	pktfuse_free_options(&o);

	char *help[] = {"pktfuse", "-h"};
	ck_assert_int_eq(parse(&o, 2, help), 0);
	ck_assert(o.show_help);
	pktfuse_free_options(&o);

	char *bad_packet[] = {"pktfuse", "disc.img", "/tmp", "-o", "packet=0"};
	ck_assert_int_eq(parse(&o, 5, bad_packet), -EINVAL);
	ck_assert_str_eq(err, "invalid value '0' for -o packet (expected a number of 2 KiB sectors from 1 to 1024)");
	pktfuse_free_options(&o);
	char *commit[] = {"pktfuse", "disc.img", "/tmp", "-o", "commit=45.5"};
	ck_assert_int_eq(parse(&o, 5, commit), 0);
	ck_assert_uint_eq(o.commit_ms, 45500);
	pktfuse_free_options(&o);
	char *bad_commit[] = {"pktfuse", "disc.img", "/tmp", "-o", "commit=0"};
	ck_assert_int_eq(parse(&o, 5, bad_commit), -EINVAL);
	ck_assert_str_eq(err, "invalid value '0' for -o commit (expected seconds from 0.001 to 3600)");
	pktfuse_free_options(&o);
	char *rating[] = {"pktfuse", "disc.img", "/tmp", "-o", "wear_rating=50"};
	ck_assert_int_eq(parse(&o, 5, rating), 0);
	ck_assert_uint_eq(o.wear_rating, 50);
	pktfuse_free_options(&o);
	char *bad_rating[] = {"pktfuse", "disc.img", "/tmp", "-o", "wear_rating=5"};
	ck_assert_int_eq(parse(&o, 5, bad_rating), -EINVAL);
	ck_assert_str_eq(err,
			 "invalid value '5' for -o wear_rating (expected overwrites per packet from 10 to 100000000)");
	pktfuse_free_options(&o);
	char *plain[] = {"pktfuse", "disc.img", "/tmp"};
	ck_assert_int_eq(parse(&o, 3, plain), 0);
	ck_assert_uint_eq(o.uring_linger_us, 300);
	pktfuse_free_options(&o);
	char *linger[] = {"pktfuse", "disc.img", "/tmp", "-o", "io_uring,uring_linger=0"};
	ck_assert_int_eq(parse(&o, 5, linger), 0);
	ck_assert(o.io_uring);
	ck_assert_uint_eq(o.uring_linger_us, 0);
	pktfuse_free_options(&o);
	char *both[] = {"pktfuse", "disc.img", "/tmp", "-o", "io_uring,no_io_uring"};
	ck_assert_int_eq(parse(&o, 5, both), -EINVAL);
	ck_assert_str_eq(err, "-o io_uring and -o no_io_uring contradict each other");
	pktfuse_free_options(&o);
	char *none[] = {"pktfuse", "disc.img", "/tmp", "-o", "no_io_uring"};
	ck_assert_int_eq(parse(&o, 5, none), 0);
	ck_assert(o.no_io_uring && !o.io_uring);
	pktfuse_free_options(&o);
	char *bad_linger[] = {"pktfuse", "disc.img", "/tmp", "-o", "uring_linger=10001"};
	ck_assert_int_eq(parse(&o, 5, bad_linger), -EINVAL);
	ck_assert_str_eq(err, "invalid value '10001' for -o uring_linger (expected microseconds from 0 to 10000)");
	pktfuse_free_options(&o);
	char *bad_marks[] = {"pktfuse", "disc.img", "/tmp", "-o", "dirty_high=50,dirty_low=50"};
	ck_assert_int_eq(parse(&o, 5, bad_marks), -EINVAL);
	ck_assert_str_eq(err, "-o dirty_low=50 must be below dirty_high=50");
	pktfuse_free_options(&o);
	char *no_mnt[] = {"pktfuse", "disc.img"};
	ck_assert_int_eq(parse(&o, 2, no_mnt), -EINVAL);
	ck_assert_str_eq(err, "no MOUNTPOINT given (see pktfuse --help)");
	pktfuse_free_options(&o);
	char *no_source[] = {"pktfuse"};
	ck_assert_int_eq(parse(&o, 1, no_source), -EINVAL);
	ck_assert_str_eq(err, "no SOURCE given (see pktfuse --help)");
	pktfuse_free_options(&o);
	char *extra[] = {"pktfuse", "disc.img", "/tmp", "/var"};
	ck_assert_int_eq(parse(&o, 4, extra), -EINVAL);
	ck_assert_str_eq(err, ""); /* libfuse printed "invalid argument" itself */
	pktfuse_free_options(&o);
}
END_TEST

/* -o snapshot= and -o close= (write-once media): their values, and the combinations refused. */
START_TEST(test_write_once_options)
{
	struct pktfuse_opts o;
	char *snap[] = {"pktfuse", "disc.img", "/tmp", "-o", "snapshot=3"};
	ck_assert_int_eq(parse(&o, 5, snap), 0);
	ck_assert(o.snapshot_set && o.close == PKTFUSE_CLOSE_NONE);
	ck_assert_uint_eq(o.snapshot, 3);
	pktfuse_free_options(&o);
	char *newest[] = {"pktfuse", "disc.img", "/tmp", "-o", "snapshot=0"};
	ck_assert_int_eq(parse(&o, 5, newest), 0);
	ck_assert(o.snapshot_set && o.snapshot == 0);
	pktfuse_free_options(&o);
	char *fin[] = {"pktfuse", "emu:cd-r:x.img", "/tmp", "-o", "close=finalize"};
	ck_assert_int_eq(parse(&o, 5, fin), 0);
	ck_assert(!o.snapshot_set && o.close == PKTFUSE_CLOSE_FINALIZE);
	pktfuse_free_options(&o);
	char *ses[] = {"pktfuse", "emu:cd-r:x.img", "/tmp", "-o", "close=session"};
	ck_assert_int_eq(parse(&o, 5, ses), 0);
	ck_assert(o.close == PKTFUSE_CLOSE_SESSION);
	pktfuse_free_options(&o);
	char *bad_snap[] = {"pktfuse", "disc.img", "/tmp", "-o", "snapshot=-1"};
	ck_assert_int_eq(parse(&o, 5, bad_snap), -EINVAL);
	ck_assert_str_eq(err, "invalid value '-1' for -o snapshot (expected how many commits before the newest: 0, "
			      "1, ... as pktfuse info SOURCE lists them)");
	pktfuse_free_options(&o);
	char *bad_close[] = {"pktfuse", "disc.img", "/tmp", "-o", "close=yes"};
	ck_assert_int_eq(parse(&o, 5, bad_close), -EINVAL);
	ck_assert_str_eq(err, "invalid value 'yes' for -o close (expected none, session or finalize)");
	pktfuse_free_options(&o);
	char *both[] = {"pktfuse", "disc.img", "/tmp", "-o", "close=session,snapshot=1"};
	ck_assert_int_eq(parse(&o, 5, both), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "not with -o snapshot"));
	pktfuse_free_options(&o);
	char *ro[] = {"pktfuse", "disc.img", "/tmp", "-o", "ro,close=finalize"};
	ck_assert_int_eq(parse(&o, 5, ro), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "not with -o ro"));
	pktfuse_free_options(&o);
	char *none_ro[] = {"pktfuse", "disc.img", "/tmp", "-o", "ro,close=none"}; /* none closes nothing */
	ck_assert_int_eq(parse(&o, 5, none_ro), 0);
	pktfuse_free_options(&o);
	char *img[] = {"pktfuse", "disc.img", "/tmp", "-o", "image,snapshot=1"};
	ck_assert_int_eq(parse(&o, 5, img), -EINVAL);
	ck_assert_str_eq(err, "-o snapshot= shows files: not with -o image");
	pktfuse_free_options(&o);
}
END_TEST

/* -o session= and -o lastblock= (the kernel udf's names): the session told, even 0; bad values named. */
START_TEST(test_session_options)
{
	struct pktfuse_opts o;
	char *given[] = {"pktfuse", "disc.img", "/tmp", "-o", "session=0,lastblock=4000"};
	ck_assert_int_eq(parse(&o, 5, given), 0);
	ck_assert(o.session_given);
	ck_assert_uint_eq(o.session, 0);
	ck_assert_uint_eq(o.lastblock, 4000);
	pktfuse_free_options(&o);
	char *none[] = {"pktfuse", "disc.img", "/tmp"};
	ck_assert_int_eq(parse(&o, 3, none), 0);
	ck_assert(!o.session_given && o.lastblock == 0);
	pktfuse_free_options(&o);
	char *bad[] = {"pktfuse", "disc.img", "/tmp", "-o", "session=x"};
	ck_assert_int_eq(parse(&o, 5, bad), -EINVAL);
	ck_assert_str_eq(err, "invalid value 'x' for -o session (expected the sector where the session starts)");
	pktfuse_free_options(&o);
	char *small[] = {"pktfuse", "disc.img", "/tmp", "-o", "lastblock=10"};
	ck_assert_int_eq(parse(&o, 5, small), -EINVAL);
	pktfuse_free_options(&o);
}
END_TEST

/* FUSE's access options are seen through fuse_opt keys, and still reach FUSE. */
START_TEST(test_fuse_access_options)
{
	struct pktfuse_opts o;
	char *argv[] = {"pktfuse", "disc.img", "/tmp", "-o", "image,allow_other", "-odefault_permissions"};
	struct fuse_args args = FUSE_ARGS_INIT(6, argv);

	ck_assert_int_eq(pktfuse_parse_options(&args, &o, err, sizeof(err)), 0);
	ck_assert(o.allow_other && o.default_permissions && !o.allow_root && o.image_view);
	char all[512] = "";
	for (int i = 0; i < args.argc; i++)
		snprintf(all + strlen(all), sizeof(all) - strlen(all), "%s ", args.argv[i]);
	ck_assert_msg(strstr(all, "allow_other") && strstr(all, "default_permissions") && !strstr(all, "image"),
		      "left for FUSE: %s", all);
	fuse_opt_free_args(&args);
	pktfuse_free_options(&o);

	char *root[] = {"pktfuse", "-o", "allow_root", "disc.img", "/tmp"};
	ck_assert_int_eq(parse(&o, 5, root), 0);
	ck_assert(o.allow_root && !o.allow_other && !o.default_permissions);
	pktfuse_free_options(&o);
	/* a value that merely contains the name is not the option */
	char *other[] = {"pktfuse", "disc.img", "/tmp", "-o", "fsname=allow_other"};
	ck_assert_int_eq(parse(&o, 5, other), 0);
	ck_assert(!o.allow_other);
	pktfuse_free_options(&o);
}
END_TEST

/* fstab's own options reach the daemon through mount.fuse3: accepted, and not left for FUSE (which
 * would refuse them). */
START_TEST(test_fstab_options)
{
	struct pktfuse_opts o;
	char *argv[] = {"pktfuse", "disc.img", "/tmp", "-o",
			"noauto,user,users,nouser,nofail,_netdev,auto,defaults,x-gvfs-show,comment=x-udisks,ro"};
	struct fuse_args args = FUSE_ARGS_INIT(5, argv);

	ck_assert_int_eq(pktfuse_parse_options(&args, &o, err, sizeof(err)), 0);
	ck_assert(o.read_only);
	char all[512] = "";
	for (int i = 0; i < args.argc; i++)
		snprintf(all + strlen(all), sizeof(all) - strlen(all), "%s ", args.argv[i]);
	ck_assert_msg(!strstr(all, "user") && !strstr(all, "auto") && !strstr(all, "nofail") &&
			      !strstr(all, "_netdev") && !strstr(all, "defaults") && !strstr(all, "x-") &&
			      !strstr(all, "comment") && strstr(all, "ro"),
		      "left for FUSE: %s", all);
	fuse_opt_free_args(&args);
	pktfuse_free_options(&o);
}
END_TEST

/* The mount table names the source (commas escaped for fuse_opt) and the subtype, before the user's
 * own options so that theirs win. */
START_TEST(test_mount_names)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);

	ck_assert(!fuse_opt_add_arg(&args, "pktfuse") && !fuse_opt_add_arg(&args, "-o") &&
		  !fuse_opt_add_arg(&args, "fsname=mine"));
	ck_assert_int_eq(pktfuse_add_mount_names(&args, "emu:cdrw:/a b/i.img,log=/l"), 0);
	ck_assert_int_eq(args.argc, 5);
	ck_assert_str_eq(args.argv[1], "-o");
	ck_assert_str_eq(args.argv[2], "fsname=emu:cdrw:/a b/i.img\\,log=/l,subtype=pktfuse");
	ck_assert_str_eq(args.argv[4], "fsname=mine");
	fuse_opt_free_args(&args);
}
END_TEST

/* The image view's FUSE workers: as many as the CPUs (at least 2, at most FUSE's default of 10)
 * unless -o max_threads says; more only wake and switch (random 4 KiB writes through a loop device
 * on 2 CPUs: ~25% more daemon CPU per write with FUSE's 10). */
START_TEST(test_image_view_workers)
{
	struct pktfuse_opts o;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned want = ncpu < 2 ? 2 : ncpu > 10 ? 10 : (unsigned)ncpu;

	char *image[] = {"pktfuse", "-o", "image", "disc.img", "/tmp"};
	ck_assert_int_eq(parse(&o, 5, image), 0);
	ck_assert_uint_eq(o.max_threads, want);
	pktfuse_free_options(&o);
	char *given[] = {"pktfuse", "-o", "image,max_threads=7", "disc.img", "/tmp"};
	ck_assert_int_eq(parse(&o, 5, given), 0);
	ck_assert_uint_eq(o.max_threads, 7);
	pktfuse_free_options(&o);
	char *given_first[] = {"pktfuse", "-o", "max_threads=10", "-o", "image", "disc.img", "/tmp"};
	ck_assert_int_eq(parse(&o, 7, given_first), 0);
	ck_assert_uint_eq(o.max_threads, 10);
	pktfuse_free_options(&o);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("options");
	TCase *t = tcase_create("parse");
	tcase_add_test(t, test_parse_size);
	tcase_add_test(t, test_parse_uint_and_seconds);
	tcase_add_test(t, test_command_lines);
	tcase_add_test(t, test_write_once_options);
	tcase_add_test(t, test_fuse_access_options);
	tcase_add_test(t, test_image_view_workers);
	tcase_add_test(t, test_fstab_options);
	tcase_add_test(t, test_mount_names);
	tcase_add_test(t, test_session_options);
	suite_add_tcase(s, t);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
