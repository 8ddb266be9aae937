/* SPDX-License-Identifier: GPL-2.0-or-later */
/* requester_moved: a requester's move to another ring queue is told once, a requester that stays
 * never, and threads that share a slot never pass for one another's moves. */
#include "requester_moves.h"

#include <check.h>
#include <stdlib.h>

START_TEST(test_first_request_is_no_move)
{
	struct requester_moves m = {0};

	ck_assert(!requester_moved(&m, 0, 1234));
	ck_assert(!requester_moved(&m, 1, 0)); /* thread id 0 in an empty slot (0 means empty) */
	ck_assert(!requester_moved(&m, 3, 77));
}
END_TEST

START_TEST(test_stay_and_move)
{
	struct requester_moves m = {0};

	ck_assert(!requester_moved(&m, 0, 4000));
	ck_assert(!requester_moved(&m, 0, 4000)); /* stays: never a move */
	ck_assert(!requester_moved(&m, 0, 4000));
	ck_assert(requester_moved(&m, 1, 4000));  /* moved to queue 1 */
	ck_assert(!requester_moved(&m, 1, 4000)); /* and stays there */
	ck_assert(requester_moved(&m, 0, 4000));  /* back */
	/* ping-pong: each request a move */
	for (unsigned i = 1; i <= 100; i++)
		ck_assert(requester_moved(&m, i % 2, 4000));
	/* a queue number that needs all 16 bits */
	ck_assert(requester_moved(&m, 65534, 4000));
	ck_assert(!requester_moved(&m, 65534, 4000));
}
END_TEST

START_TEST(test_threads_apart_and_sharing_a_slot)
{
	struct requester_moves m = {0};
	const uint32_t a = 100, b = 101, c = 100 + REQUESTER_SLOTS; /* c shares a's slot */

	ck_assert(!requester_moved(&m, 0, a));
	ck_assert(!requester_moved(&m, 1, b));
	ck_assert(!requester_moved(&m, 0, a)); /* b's request elsewhere does not move a */
	ck_assert(!requester_moved(&m, 1, c)); /* c takes a's slot: not a move of c, nor of a */
	ck_assert(!requester_moved(&m, 1, a)); /* a's entry was taken: a's move is missed, not invented */
	ck_assert(requester_moved(&m, 0, a));
	ck_assert(requester_moved(&m, 0, b));
	/* large thread ids that share a slot do not pass for one another either */
	ck_assert(!requester_moved(&m, 2, 0xffffff00u));
	ck_assert(!requester_moved(&m, 3, 0xffffff00u - REQUESTER_SLOTS));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("requester_moves");
	TCase *t = tcase_create("core");
	tcase_add_test(t, test_first_request_is_no_move);
	tcase_add_test(t, test_stay_and_move);
	tcase_add_test(t, test_threads_apart_and_sharing_a_slot);
	suite_add_tcase(s, t);
	SRunner *r = srunner_create(s);
	srunner_run_all(r, CK_NORMAL);
	int failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
