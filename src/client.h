/* The daemon's side of one connection on the control socket: a control
 * request (list, kill, detach) or a client attached to a session. */
#ifndef PERSH_CLIENT_H
#define PERSH_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto.h"

struct client;
struct session;

/* A new connection from a process of our uid (checked by the caller); via
 * names its origin when it is not a local process (e.g. "ssh 1.2.3.4:5"). */
struct client *client_new(int fd, pid_t pid, uid_t uid, const char *via);

/* Calls from the session to its members. */
void client_send_attached(struct client *c, const struct proto_attached *m);
int client_send_output(struct client *c, uint64_t off, const uint8_t *buf, size_t len);
int client_send_redraw(struct client *c, const uint8_t *buf, size_t len);
void client_send_skipped(struct client *c, uint64_t off);
size_t client_queued(const struct client *c);
uint64_t client_written(const struct client *c);
/* The session let go of c: tell it why and close. */
void client_detached(struct client *c, uint16_t reason);
/* The session ended and c has all its output: send the status (c stays a
 * member until it acknowledges it). */
void client_send_exit(struct client *c, int status);
/* The session's input queue drained: read c again. */
void client_input_resume(struct client *c);
const char *client_label(const struct client *c);

/* Drop every connection (daemon exit). */
void client_shutdown(void);

#endif
