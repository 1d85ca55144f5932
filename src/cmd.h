/* The commands of the persh binary, and the start-up they share. */
#ifndef PERSH_CMD_H
#define PERSH_CMD_H

/* Each takes the command's own argv (argv[0] is the command name). */
int cmd_serve(int argc, char **argv);
int cmd_attach(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_kill(int argc, char **argv);
int cmd_detach(int argc, char **argv);
int cmd_bridge(int argc, char **argv);
int cmd_ssh_conn(int argc, char **argv); /* internal: one SSH connection (sshconn.c) */
int cmd_proxy(int argc, char **argv);    /* a resumable stream for ssh (proxy.c) */

/* Load the configuration in force into cfg: path if given (-c), else
 * $PERSH_CONFIG, else ~/.config/persh/persh.ini if it exists, else the
 * built-in defaults. Exits with status 2 on an error. Returns the file used
 * or NULL. */
const char *cmd_config(const char *path);

/* 0 if name is valid; otherwise prints why and returns the exit code. */
int cmd_check_name(const char *name);

#endif
