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

/* Outbound: take over a connection from the MTA on listen_outbound. */
void session_out_start(struct worker *, struct listener *, int fd,
    const struct sockaddr *peer, socklen_t peerlen);
void session_out_close_all(struct worker *);
/* Close the worker's cached upstream sessions. */
void session_out_pool_flush(struct worker *);

/* Mark (on) or unmark a local port used by an upstream connection, for
 * the loop check.  Thread-safe. */
void session_out_own_port(int port, int on);

#endif
