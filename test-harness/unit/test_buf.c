/*
 * Unit tests for common/buf.h: bounds, lazy storage, release when empty,
 * and resizing and growth that keep the bytes held.
 */

#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "t.h"

static int
holds(const struct buf *b, const char *want)
{
	return buf_len(b) == strlen(want) &&
	    memcmp(buf_data(b), want, strlen(want)) == 0;
}

int
main(void)
{
	struct buf	 b;
	size_t		 room;
	char		*p;
	char		 big[300];

	buf_init(&b, 8);
	T_OK(b.p == NULL && buf_room(&b) == 8 && buf_len(&b) == 0,
	    "a new buffer holds no storage and has its bound as room");
	T_OK(buf_append(&b, "abcdefghi", 9) == -1 && b.p == NULL,
	    "an append beyond the bound fails and allocates nothing");
	T_OK(buf_append(&b, "abcdef", 6) == 0 && holds(&b, "abcdef"),
	    "an append within the bound is held");
	buf_consume(&b, 4);
	T_OK(holds(&b, "ef") && buf_room(&b) == 6, "consume leaves the rest");
	T_OK(buf_append(&b, "123456", 6) == 0 && holds(&b, "ef123456"),
	    "an append compacts to use the room freed at the head");
	buf_trim(&b);
	T_OK(b.p != NULL && holds(&b, "ef123456"),
	    "trim keeps the storage of a buffer that holds bytes");
	buf_consume(&b, 8);
	buf_trim(&b);
	T_OK(b.p == NULL && buf_len(&b) == 0 && buf_room(&b) == 8,
	    "trim releases the storage of an empty buffer");

	/* resize with bytes held, the head not at the start */
	T_OK(buf_append(&b, "xyzw", 4) == 0, "append after release");
	buf_consume(&b, 1);
	T_OK(buf_resize(&b, 2, 2) == -1 && holds(&b, "yzw") && b.cap == 8,
	    "a resize below what is held fails and changes nothing");
	T_OK(buf_resize(&b, 16, 8) == -1 && b.cap == 8,
	    "a resize with max below cap fails");
	T_OK(buf_resize(&b, 16, 64) == 0 && holds(&b, "yzw") &&
	    buf_room(&b) == 13 && b.max == 64,
	    "a resize keeps the bytes held and moves the bound");
	p = buf_space(&b, &room);
	T_OK(p != NULL && room == 13, "the whole new room is usable");
	memset(p, 'q', room);
	buf_produced(&b, room);
	T_OK(buf_room(&b) == 0 && buf_len(&b) == 16, "filled to the bound");

	/* growth: up to max, bytes kept, and the size stays */
	buf_grow(&b);
	T_OK(b.cap == 64 && buf_room(&b) == 48 && buf_len(&b) == 16 &&
	    memcmp(buf_data(&b), "yzwqqq", 6) == 0,
	    "grow raises the bound to max and keeps the bytes");
	memset(big, 'r', sizeof(big));
	T_OK(buf_append(&b, big, 48) == 0 && buf_room(&b) == 0,
	    "the grown room is usable");
	T_OK(buf_append(&b, big, 1) == -1, "max is still a bound");
	buf_grow(&b);
	T_OK(b.cap == 64, "grow at max changes nothing");
	buf_consume(&b, 64);
	buf_trim(&b);
	T_OK(b.p == NULL && buf_room(&b) == 64,
	    "released storage comes back at the grown size");
	T_OK(buf_append(&b, big, 64) == 0 && buf_room(&b) == 0,
	    "and holds the grown size again");
	buf_free(&b);
	T_OK(b.p == NULL && buf_len(&b) == 0, "free releases everything");

	/* growth of a buffer that holds no storage */
	buf_init(&b, 4);
	(void)buf_resize(&b, 4, 32);
	buf_grow(&b);
	T_OK(b.p == NULL && b.cap == 32, "grow without storage only moves "
	    "the bound");
	buf_free(&b);
	return T_DONE();
}
