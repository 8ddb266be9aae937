/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What `pktfuse format` finds on a medium before it overwrites it: each signature in a crafted
 * buffer, the bounds (nothing looked for past len), and a device read sector by sector. */
#include "fs_sniff.h"
#include "mem_dev.h"

#include <check.h>
#include <string.h>

static uint8_t buf[FS_SNIFF_BYTES];

static const char *sniff_with(size_t at, const void *sig, size_t n)
{
	memset(buf, 0, sizeof(buf));
	memcpy(buf + at, sig, n);
	return fs_signature(buf, sizeof(buf));
}

START_TEST(test_each_signature)
{
	memset(buf, 0, sizeof(buf));
	ck_assert_ptr_null(fs_signature(buf, sizeof(buf)));
	ck_assert_str_eq(sniff_with(32768 + 1, "NSR02", 5), "a UDF file system");
	ck_assert_str_eq(sniff_with(32768 + 2 * 2048 + 1, "NSR03", 5), "a UDF file system");
	ck_assert_str_eq(sniff_with(32769, "CD001", 5), "an ISO 9660 file system");
	ck_assert_str_eq(sniff_with(32769, "BEA01", 5),
			 "a volume recognition sequence (UDF or another ECMA-167 file system)");
	ck_assert_str_eq(sniff_with(65536 + 64, "_BHRfS_M", 8), "a btrfs file system");
	ck_assert_str_eq(sniff_with(1024 + 56, "\x53\xEF", 2), "an ext2/3/4 file system");
	ck_assert_str_eq(sniff_with(0, "XFSB", 4), "an XFS file system");
	ck_assert_str_eq(sniff_with(4086, "SWAPSPACE2", 10), "a swap area");
	ck_assert_str_eq(sniff_with(4086, "SWAP-SPACE", 10), "a swap area");
	ck_assert_str_eq(sniff_with(512, "EFI PART", 8), "a GPT partition table");
	ck_assert_str_eq(sniff_with(510, "\x55\xAA", 2), "a boot sector (FAT, NTFS or a partition table)");
	/* a GPT disc carries a protective boot sector too: the table is named */
	buf[510] = 0x55;
	buf[511] = 0xAA;
	memcpy(buf + 512, "EFI PART", 8);
	ck_assert_str_eq(fs_signature(buf, sizeof(buf)), "a GPT partition table");
}
END_TEST

START_TEST(test_nothing_past_len)
{
	ck_assert_str_eq(sniff_with(32768 + 2 * 2048 + 1, "NSR02", 5), "a UDF file system");
	ck_assert_ptr_null(fs_signature(buf, 32768 + 3 * 2048 - 1));
	ck_assert_str_eq(sniff_with(65536 + 64, "_BHRfS_M", 8), "a btrfs file system");
	ck_assert_ptr_null(fs_signature(buf, 65536 + 71));
	ck_assert_str_eq(sniff_with(510, "\x55\xAA", 2), "a boot sector (FAT, NTFS or a partition table)");
	ck_assert_ptr_null(fs_signature(buf, 511));
	ck_assert_ptr_null(fs_signature(buf, 0));
}
END_TEST

/* A sector that cannot be read counts as zeros, and the ones after it are still read. */
START_TEST(test_device_sector_by_sector)
{
	struct mem_dev m;

	mem_dev_init(&m, 64, 16);
	ck_assert_ptr_null(dev_signature(&m.dev));
	memcpy(m.data + 32768 + 2048 + 1, "NSR03", 5); /* sector 17 */
	m.bad_read_lba = 16;
	ck_assert_str_eq(dev_signature(&m.dev), "a UDF file system");
	m.bad_read_lba = 17;
	ck_assert_ptr_null(dev_signature(&m.dev));
	mem_dev_free(&m);
	/* a medium smaller than 34 sectors is read to its end only */
	mem_dev_init(&m, 4, 4);
	m.data[510] = 0x55;
	m.data[511] = 0xAA;
	ck_assert_str_eq(dev_signature(&m.dev), "a boot sector (FAT, NTFS or a partition table)");
	mem_dev_free(&m);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fs_sniff");
	TCase *t = tcase_create("sniff");
	tcase_add_test(t, test_each_signature);
	tcase_add_test(t, test_nothing_past_len);
	tcase_add_test(t, test_device_sector_by_sector);
	suite_add_tcase(s, t);
	SRunner *r = srunner_create(s);
	srunner_run_all(r, CK_NORMAL);
	int failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? 1 : 0;
}
