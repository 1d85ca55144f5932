/* The `persh ls` output, shared by the local command and the SSH endpoint
 * (`ssh host ls`), so both print exactly the same. */
#ifndef PERSH_CTL_H
#define PERSH_CTL_H

#include <stdint.h>
#include <stdio.h>

#include "proto.h"

struct ctl_ls {
	FILE *fp;
	int json;
	int n; /* rows printed */
	uint64_t stats[PROTO_END_MAX];
	int have_stats;
};

/* Start a listing on fp (the JSON array opens). */
void ctl_ls_begin(struct ctl_ls *ls, FILE *fp, int json);
/* One SESSION row (arg is the struct ctl_ls). */
void ctl_ls_row(const struct proto_session *r, void *arg);
/* A STATS frame: the counters shown by --json. */
void ctl_ls_stats(struct ctl_ls *ls, const uint8_t *p, uint32_t len);
/* End it: the JSON tail, or "no sessions" for an empty table (ok: the
 * daemon answered). */
void ctl_ls_end(struct ctl_ls *ls, int ok);

#endif
