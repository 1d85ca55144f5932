/* `persh ssh-conn`: the embedded SSH endpoint's child for one connection
 * (started by sshd.c with fd 3 = the client's TCP socket, fd 4 = a
 * socketpair to the supervisor). Internal to sshconn*.c.
 *
 * sshconn.c owns the process and the transport (libssh session, key
 * exchange, authentication, keepalives, login grace, the end);
 * sshconn_chan.c owns the one session channel (its requests, buffers both
 * ways, backpressure, the exit status); sshconn_cmd.c what runs in it
 * (attach, ls, kill, detach, bridge) and the conversation with the
 * supervisor on fd 4. */
#ifndef PERSH_SSHCONN_H
#define PERSH_SSHCONN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <libssh/server.h>

#include "ctl.h"
#include "proto.h"

struct event;
struct evbuffer;
struct peer;
struct authkeys;

/* Channel input held by us (a whole bridge frame must fit). */
#define SC_INBUF (PROTO_HEADER_LEN + PROTO_MAX_PAYLOAD + 64 * 1024)
/* Frames queued to the supervisor past this: take no more channel data. */
#define SC_IN_HIWAT (256 * 1024)
/* The client's channel window below this: stop reading the supervisor. */
#define SC_WINDOW_MIN (16 * 1024)
/* Refused public keys before the connection is dropped (sshd's MaxAuthTries). */
#define SC_MAX_AUTH_TRIES 6
/* Once the exit status is decided: how long the output may take to drain and
 * the client to close, before we hang up on it. */
#define SC_LINGER_MS 5000

enum sc_mode {
	SC_IDLE,   /* no command yet */
	SC_REFUSE, /* a refused command: only a message and an exit status */
	SC_ATTACH,
	SC_LS,
	SC_KILL,
	SC_DETACH,
	SC_BRIDGE,
};

struct sshconn {
	char peer[64]; /* "ADDR:PORT" of the client */
	int tcp;       /* our dup of the client's socket, watched by libevent */
	struct event *rev, *wev, *step_ev, *sigterm;
	struct event *grace, *keepalive, *heartbeat, *linger;
	int writing;   /* wev armed */
	int in_step, step_again;

	/* transport */
	ssh_bind bind;
	ssh_session ss;
	ssh_event sev;
	struct ssh_server_callbacks_struct scb;
	struct ssh_counter_struct sock_cnt, raw_cnt;
	struct authkeys *keys;
	int kex_done, authed, auth_failures;
	uint64_t ka_seen; /* in_packets at the last keepalive tick */
	unsigned ka_missed;
	int dead; /* the transport is gone: never write to it again */

	/* the channel */
	ssh_channel ch;
	struct ssh_channel_callbacks_struct ccb;
	int pty;
	uint16_t rows, cols;
	char term[PROTO_MAX_TEXT + 1];
	char env_session[PROTO_MAX_TEXT + 1];
	int requested;   /* shell or exec accepted: start it after the poll */
	char *command;   /* exec's command, NULL for a shell */
	int started;
	int remote_eof, remote_closed;
	int backlog;     /* libssh holds channel data we did not take yet */
	int reading;     /* inside ssh_channel_read_nonblocking: take nothing */
	uint8_t *in;     /* channel input not yet passed on: [in_off, in_len) */
	size_t in_off, in_len;
	struct evbuffer *out, *err; /* for the channel's stdout and stderr */

	/* what runs in it */
	enum sc_mode mode;
	char name[PROTO_MAX_TEXT + 1];
	int readonly;
	struct peer *sup; /* fd 4: the supervisor */
	int spoke;         /* we wrote to fd 4: the supervisor counts us as a client */
	int half_closed;   /* bridge: the client sent EOF, so did we on fd 4 */
	int attached, detaching;
	uint16_t att_rows, att_cols; /* size sent with ATTACH */
	int64_t hb_every;
	FILE *ls_fp;
	char *ls_buf;
	size_t ls_len;
	struct ctl_ls ls;

	/* the end */
	int finishing; /* exit status decided: drain, then exit-status, EOF, close */
	int exit_status;
	int exit_ack;  /* the session's EXIT: say EXIT_SEEN once the client has it */
	int status_sent; /* exit-status went out on the channel */
	int closed;    /* exit-status, EOF and close sent (or the channel is gone) */
	int quit;      /* leave at the next step */
	int done;
};

extern struct sshconn sc;

/* sshconn.c */
void sc_kick(void);
void sc_exit(int disconnect);
void sc_peer_gone(uint16_t end);
void sc_spoke(void);

/* sshconn_chan.c: the channel */
void sc_chan_setup(void);   /* buffers and fd 4, at start */
ssh_channel sc_chan_open(ssh_session s, void *ud); /* server callback */
void sc_chan_step(void);    /* after anything happened */
void sc_chan_close(void);   /* leaving: let go of fd 4 */
void sc_chan_cleanup(void); /* after the loop: free the rest */
/* The exit status is decided; a last message (fmt may be NULL) on the
 * channel's stdout or stderr, then exit-status, EOF, close. */
void sc_finish(int status, int to_stderr, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void sc_out(const uint8_t *data, size_t len); /* to the client's stdout */
void sc_text(struct evbuffer *b, const char *s); /* text, \r\n with a pty */
void sc_hold(int may_resume); /* backpressure on fd 4 */

/* sshconn_cmd.c: what runs in it, and fd 4 */
void sc_cmd_setup(void);
void sc_cmd_cleanup(void);
void sc_start(void);        /* the shell or exec request was accepted */
int sc_deliver(int all);    /* pass client input on; 1 if some was used */
void sc_resized(void);      /* the client's terminal changed size */
void sc_peer_close(void);   /* done with the supervisor */

#endif
