/*
 * Bounded byte buffer: data lives in p[head..tail).  The storage is
 * allocated on first use and may be released when empty, so an idle
 * connection holds no buffer memory.  A buffer may be allowed to grow
 * from cap to max (buf_grow()) when it is found full while its source
 * has more: bulk transfers then move in fewer, larger system calls while
 * every other session stays small.
 */
#ifndef BUF_H
#define BUF_H

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

struct buf {
	char	*p;
	size_t	 cap;		/* bound, also when p is NULL */
	size_t	 max;		/* what cap may grow to */
	size_t	 head, tail;
};

static inline void
buf_init(struct buf *b, size_t cap)
{
	b->p = NULL;
	b->cap = b->max = cap;
	b->head = b->tail = 0;
}

static inline size_t
buf_len(const struct buf *b)
{
	return b->tail - b->head;
}

static inline const char *
buf_data(const struct buf *b)
{
	return b->p != NULL ? b->p + b->head : "";
}

/* Bytes that can be appended (after compaction). */
static inline size_t
buf_room(const struct buf *b)
{
	return b->cap - buf_len(b);
}

/*
 * Make the free space contiguous at the tail and return a pointer to
 * it, allocating the storage if needed; *room gets its size.  NULL on
 * allocation failure.
 */
static inline char *
buf_space(struct buf *b, size_t *room)
{
	if (b->p == NULL) {
		if ((b->p = malloc(b->cap)) == NULL)
			return NULL;
		b->head = b->tail = 0;
	}
	if (b->head > 0 && b->cap - b->tail < b->cap / 2) {
		memmove(b->p, b->p + b->head, b->tail - b->head);
		b->tail -= b->head;
		b->head = 0;
	}
	*room = b->cap - b->tail;
	return b->p + b->tail;
}

static inline void
buf_produced(struct buf *b, size_t n)
{
	b->tail += n;
}

static inline void
buf_consume(struct buf *b, size_t n)
{
	b->head += n;
	if (b->head == b->tail)
		b->head = b->tail = 0;
}

/* Append len bytes; -1 if they do not fit or allocation fails. */
static inline int
buf_append(struct buf *b, const void *data, size_t len)
{
	size_t	 room;
	char	*dst;

	if (len > buf_room(b))
		return -1;
	if ((dst = buf_space(b, &room)) == NULL)
		return -1;
	if (room < len) {
		memmove(b->p, b->p + b->head, b->tail - b->head);
		b->tail -= b->head;
		b->head = 0;
		dst = b->p + b->tail;
	}
	memcpy(dst, data, len);
	b->tail += len;
	return 0;
}

/*
 * Set a new bound cap (and growth limit max >= cap), keeping the bytes
 * held.  -1 when they would not fit or allocation fails (the buffer is
 * then unchanged).
 */
static inline int
buf_resize(struct buf *b, size_t cap, size_t max)
{
	char	*np;

	if (buf_len(b) > cap || max < cap)
		return -1;
	if (b->p != NULL) {
		if (b->head > 0) {
			memmove(b->p, b->p + b->head, b->tail - b->head);
			b->tail -= b->head;
			b->head = 0;
		}
		if ((np = realloc(b->p, cap)) == NULL)
			return -1;
		b->p = np;
	}
	b->cap = cap;
	b->max = max;
	return 0;
}

/* Let the buffer hold up to max from now on (it keeps that size until
 * the session ends; released storage is allocated again at max). */
static inline void
buf_grow(struct buf *b)
{
	if (b->cap < b->max)
		(void)buf_resize(b, b->max, b->max);
}

/* Release the storage if the buffer is empty. */
static inline void
buf_trim(struct buf *b)
{
	if (b->p != NULL && b->head == b->tail) {
		free(b->p);
		b->p = NULL;
		b->head = b->tail = 0;
	}
}

static inline void
buf_free(struct buf *b)
{
	free(b->p);
	b->p = NULL;
	b->head = b->tail = 0;
}

#endif
