/*
 * Socket address helpers.
 */
#ifndef ADDR_H
#define ADDR_H

#include <stddef.h>
#include <sys/socket.h>

#define ADDR_TEXT_MAX	64	/* "[ffff:...:ffff]:65535" fits */

/* "192.0.2.1:25" or "[2001:db8::1]:25" into out; "?" for other
 * families.  Returns out. */
char *addr_fmt(const struct sockaddr *sa, char *out, size_t cap);

/* The address alone: "192.0.2.1" or "2001:db8::1".  Returns out. */
char *addr_ip(const struct sockaddr *sa, char *out, size_t cap);

/* socklen of a sockaddr of family AF_INET or AF_INET6, 0 otherwise. */
socklen_t addr_len(const struct sockaddr *sa);

#endif
