/* A session: one shell under forkpty, its output ring, and the clients
 * attached to it, each with its own position in the ring. */
#ifndef PERSH_SESSION_H
#define PERSH_SESSION_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto.h"

struct session;
struct client;

struct session_spec {
	const char *name;
	uint16_t rows, cols;
	const char *term; /* the client's TERM, may be empty */
};

/* Fork the shell; NULL with a reason in err. */
struct session *session_create(const struct session_spec *spec, char *err, size_t errlen);
struct session *session_find(const char *name);
unsigned session_count(void);
const char *session_name(const struct session *s);
pid_t session_pid(const struct session *s);
/* Fill a LIST row. */
void session_info(const struct session *s, struct proto_session *row);
/* Call fn for every session, in creation order. */
void session_foreach(void (*fn)(struct session *, void *), void *arg);

/* Add c as a member; it is sent ATTACHED then output from its position.
 * resume: c wants output from offset on, if still held. */
void session_attach(struct session *s, struct client *c, const struct proto_attach *req);
/* Remove c; c is not called back. lost: it went away without detaching
 * (the session becomes orphaned rather than detached if it was the last). */
void session_leave(struct session *s, struct client *c, int lost);
/* Keystrokes from c. 1 if the session's input queue is full: the caller
 * stops reading c until session calls client_input_resume. */
int session_input(struct session *s, struct client *c, const uint8_t *buf, size_t len);
void session_resize(struct session *s, struct client *c, uint16_t rows, uint16_t cols);
/* c acknowledged the exit status (EXIT_SEEN). */
int session_exit_seen(struct session *s, struct client *c);
/* c's output queue has room again. */
void session_drained(struct session *s, struct client *c);
/* Detach every member with a reason; returns how many. */
unsigned session_detach_all(struct session *s, uint16_t reason);
/* Hang up: SIGHUP, then SIGTERM, then SIGKILL. An exited session is removed. */
void session_kill(struct session *s);
/* A child was reaped (SIGCHLD); 0 if it was not a session's shell. */
int session_reaped(pid_t pid, int status);
/* Daemon exit: detach everyone, hang up every shell, free all. */
void session_shutdown(void);

#endif
