/*
 * Inbound sessions: implicit TLS (listen_smtps) and the STARTTLS front
 * (listen_starttls) in front of the backend MTA.
 */
#ifndef SESSION_H
#define SESSION_H

#include <sys/socket.h>

#include "worker.h"

/* Take over an accepted, non-blocking client socket.  On failure the
 * socket is closed and the failure logged. */
void session_in_start(struct worker *, struct listener *, int fd,
    const struct sockaddr *peer, socklen_t peerlen);

/* Close every session of the worker now (end of the shutdown grace). */
void session_close_all(struct worker *);

#endif
