/* Configuration: one table of keys yields the struct, the defaults, the INI
 * handler, the validation and the `persh serve -T` dump. */
#ifndef PERSH_CONFIG_H
#define PERSH_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* A duration of "never": no timer is armed. */
#define CONFIG_NEVER INT64_C(-1)

/*
 * X(section, key, type, default, doc)
 *
 * Types and their C representation:
 *   str       char *     free text (may be empty)
 *   path      char *     empty or an absolute path
 *   addr      char *     empty or HOST:PORT ([v6addr]:PORT)
 *   name      char *     a session name ([A-Za-z0-9._-], 1-64)
 *   loglevel  int        error | warn | info | debug
 *   restore   int        screen | replay | none (enum config_restore)
 *   size      uint64_t   bytes; suffix K or M (binary), e.g. 64K, 1M
 *   duration  int64_t    milliseconds; units ms s m h, or "never" (-1)
 *   uint      unsigned   a non-negative integer
 *   bool      int        yes/no (also true/false, on/off, 1/0)
 *   key       int        a detach key: ^X, C-x, a single character, or
 *                        "none" (-1); stored as the byte it sends
 * Defaults are strings fed through the same parser as the file.
 */
#define CONFIG_TABLE(X)                                                                   \
	X(daemon, runtime_dir, path, "",                                                  \
	    "Directory of the control socket. Empty: $XDG_RUNTIME_DIR/persh, "            \
	    "else /tmp/persh-UID.")                                                       \
	X(daemon, log, str, "auto",                                                       \
	    "Where the daemon logs: stderr, syslog, a file path, or auto "                \
	    "(stderr with -f, syslog otherwise).")                                        \
	X(daemon, log_level, loglevel, "info", "error, warn, info or debug.")             \
	X(session, default, name, "main", "Session attached when no name is given.")     \
	X(session, shell, path, "",                                                       \
	    "Shell to run. Empty: the user's login shell (passwd), else $SHELL, "         \
	    "else /bin/sh. Started as a login shell.")                                    \
	X(session, term, str, "",                                                         \
	    "TERM for new shells. Empty: the attaching client's TERM "                    \
	    "(xterm-256color if it has none).")                                           \
	X(session, scrollback, size, "1M",                                                \
	    "Output kept per session for resume, in bytes (the output ring).")            \
	X(session, restore, restore, "screen",                                            \
	    "What a client that cannot resume exactly is shown on attach: screen "        \
	    "(redraw the current screen from a terminal emulator), replay (the ring's "   \
	    "tail), or none (live output only).")                                         \
	X(session, client_buffer, size, "1M",                                             \
	    "How far a client may fall behind the shell's output before it is "           \
	    "skipped to the present with a repaint (dropped if restore is not "           \
	    "screen). At most scrollback.")                                               \
	X(session, stall_timeout, duration, "2s",                                         \
	    "When every attached client is a full client_buffer behind, the shell is "    \
	    "paused like a slow terminal; after this long with nothing drained it "       \
	    "resumes without them.")                                                      \
	X(session, max_sessions, uint, "1024", "Most sessions one daemon runs at once.") \
	X(session, orphan_timeout, duration, "24h",                                       \
	    "A session whose last client was lost without detaching (dead link, "         \
	    "closed terminal) is hung up after this long.")                               \
	X(session, detached_timeout, duration, "never",                                   \
	    "A session whose last client detached on purpose is hung up after this "      \
	    "long.")                                                                      \
	X(session, hangup_grace, duration, "2s",                                          \
	    "After SIGHUP, how long a session's processes get before SIGTERM, and "       \
	    "after SIGTERM before SIGKILL.")                                              \
	X(heartbeat, interval, duration, "3s",                                            \
	    "How often each side of a connection sends a heartbeat.")                     \
	X(heartbeat, timeout, duration, "12s",                                            \
	    "A peer silent this long is dropped (heartbeat_timeout). At least twice "     \
	    "the interval.")                                                              \
	X(ssh, listen, addr, "",                                                          \
	    "Address of the embedded SSH endpoint, HOST:PORT (e.g. 0.0.0.0:2222 or "      \
	    "[::1]:2222). Empty: no endpoint.")                                           \
	X(ssh, host_key, path, "",                                                        \
	    "Host key (ed25519), generated on first start with mode 0600. Empty: "        \
	    "$XDG_STATE_HOME/persh/ssh_host_ed25519_key (~/.local/state/persh/...).")     \
	X(ssh, authorized_keys, path, "",                                                 \
	    "Public keys allowed to log in (OpenSSH format). Empty: "                     \
	    "~/.ssh/authorized_keys.")                                                    \
	X(ssh, keepalive_interval, duration, "5s",                                        \
	    "How often the endpoint sends an SSH keepalive when the client is quiet; "    \
	    "also the TCP keepalive interval.")                                           \
	X(ssh, keepalive_count, uint, "3",                                                \
	    "Intervals with nothing from the client after which its transport is "        \
	    "declared dead (keepalive_timeout).")                                         \
	X(ssh, login_grace, duration, "30s",                                              \
	    "Time a connection has to authenticate.")                                     \
	X(ssh, max_unauth, uint, "10",                                                    \
	    "Most connections not yet authenticated; more are refused and logged.")       \
	X(ssh, max_unauth_per_source, uint, "3",                                          \
	    "Most connections not yet authenticated from one address, so that one "       \
	    "flooding host cannot fill max_unauth and lock everyone else out; 0: no "     \
	    "limit but max_unauth.")                                                      \
	X(client, detach_key, key, "^\\",                                                 \
	    "Key that detaches an attached client: ^X or C-x notation, one "              \
	    "character, or none.")                                                        \
	X(client, reconnect, bool, "yes",                                                 \
	    "Whether a remote attach reconnects by itself when its link dies "            \
	    "(--no-reconnect turns it off for one client).")                              \
	X(client, reconnect_base, duration, "250ms",                                      \
	    "First reconnect delay; it doubles on each failure, with full jitter.")       \
	X(client, reconnect_max, duration, "15s",                                         \
	    "Longest reconnect delay (--max-reconnect-delay overrides it).")              \
	X(client, ssh_config, path, "",                                                   \
	    "OpenSSH client configuration read by a remote attach. Empty: "               \
	    "~/.ssh/config.")                                                             \
	X(relay, listen, addr, "",                                                        \
	    "Address of the relay that `persh proxy` (an ssh ProxyCommand) connects "     \
	    "to, HOST:PORT. Empty: no relay.")                                            \
	X(relay, target, str, "127.0.0.1:22",                                             \
	    "Where the relay connects each stream: HOST:PORT, or ssh for the "            \
	    "embedded endpoint ([ssh] listen). Fixed here: a client cannot choose it.")   \
	X(relay, buffer, size, "8M",                                                      \
	    "Bytes each end of a stream keeps until the other end acknowledges them; "    \
	    "when it is full, that end stops reading its source.")                        \
	X(relay, resume_window, duration, "10m",                                          \
	    "How long the relay keeps a stream whose link died (and its target "          \
	    "connection), and how long persh proxy tries to resume it.")                  \
	X(relay, max_streams, uint, "64",                                                 \
	    "Most streams the relay holds at once; more are refused.")

typedef char *config_type_str;
typedef char *config_type_path;
typedef char *config_type_addr;
typedef char *config_type_name;
typedef int config_type_loglevel;
typedef int config_type_restore;

enum config_restore { CONFIG_RESTORE_SCREEN, CONFIG_RESTORE_REPLAY, CONFIG_RESTORE_NONE };
typedef uint64_t config_type_size;
typedef int64_t config_type_duration;
typedef unsigned config_type_uint;
typedef int config_type_key;
typedef int config_type_bool;

struct config {
#define CONFIG_FIELD(sec, key, type, def, doc) config_type_##type sec##_##key;
	CONFIG_TABLE(CONFIG_FIELD)
#undef CONFIG_FIELD
};

/* A configuration holding every built-in default. */
struct config *config_new(void);
void config_free(struct config *cfg);

/* Read an INI file over cfg. On error returns -1 and writes one line
 * "FILE:LINE: reason" (naming section and key) into err; cfg is then
 * unspecified, so callers load into a fresh config and swap on success. */
int config_load(struct config *cfg, const char *path, char *err, size_t errlen);

/* Checks across keys (e.g. heartbeat timeout vs interval). -1 with err. */
int config_validate(const struct config *cfg, char *err, size_t errlen);

/* Print the effective configuration as a valid INI file. */
void config_dump(const struct config *cfg, FILE *fp);

/* Split "HOST:PORT" or "[V6]:PORT"; 0 or -1. */
int config_parse_addr(const char *s, char *host, size_t hostlen, unsigned *port);

/* Value parsers shared with the command line; 0 or -1. */
int config_parse_duration(const char *s, int64_t *ms);
int config_parse_size(const char *s, uint64_t *bytes);
int config_parse_key(const char *s, int *key);

/* Format for the dump and for messages ("250ms", "5s", "never", "1M"). */
void config_format_duration(int64_t ms, char *buf, size_t len);
void config_format_size(uint64_t bytes, char *buf, size_t len);
void config_format_key(int key, char *buf, size_t len);

/* The configuration in force (the daemon swaps it on SIGHUP). */
extern struct config *cfg;

#endif
