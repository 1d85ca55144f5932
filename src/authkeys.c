/* The authorized_keys file the embedded SSH endpoint checks public-key
 * logins against: OpenSSH's format, read strictly. A line we cannot use
 * exactly as written is skipped with a warning, never guessed at. */
#include "authkeys.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

/* Longest field from the file quoted in a message. */
#define AUTHKEYS_QUOTE_MAX 40

/* Suffix of every OpenSSH certificate type name. */
#define AUTHKEYS_CERT_SUFFIX "-cert-v01@openssh.com"

struct authkeys {
	ssh_key	*keys;
	size_t	 nkeys;
	size_t	 cap;
};

/* A key type name that may start the key part of a line. */
struct authkeys_type {
	const char		*name;
	enum ssh_keytypes_e	 type;
	const char		*curve;	/* ECDSA: curve the blob must name */
	const char		*refuse;	/* why it is never used, or NULL */
};

/* The names we know. The refused ones are listed so that the line gets a
 * warning saying why, rather than "unknown key type". */
static const struct authkeys_type authkeys_types[] = {
	{ "ssh-ed25519", SSH_KEYTYPE_ED25519, NULL, NULL },
	{ "ecdsa-sha2-nistp256", SSH_KEYTYPE_ECDSA_P256, "nistp256", NULL },
	{ "ecdsa-sha2-nistp384", SSH_KEYTYPE_ECDSA_P384, "nistp384", NULL },
	{ "ecdsa-sha2-nistp521", SSH_KEYTYPE_ECDSA_P521, "nistp521", NULL },
	{ "ssh-rsa", SSH_KEYTYPE_RSA, NULL, NULL },
	{ "rsa-sha2-256", SSH_KEYTYPE_UNKNOWN, NULL,
	    "rsa-sha2-256 is a signature algorithm, not a key type (RSA keys are "
	    "written ssh-rsa); line skipped" },
	{ "rsa-sha2-512", SSH_KEYTYPE_UNKNOWN, NULL,
	    "rsa-sha2-512 is a signature algorithm, not a key type (RSA keys are "
	    "written ssh-rsa); line skipped" },
	{ "ssh-dss", SSH_KEYTYPE_UNKNOWN, NULL, "DSA keys are not supported; key skipped" },
	/* sshd refuses a security key signature made without a touch unless
	 * the line says no-touch-required; libssh checks no such flag and
	 * hands the callback no signature flags, so accepting these keys would
	 * quietly drop that requirement. */
	{ "sk-ssh-ed25519@openssh.com", SSH_KEYTYPE_UNKNOWN, NULL,
	    "security keys (sk-*) are not supported: libssh does not enforce "
	    "their touch requirement; key skipped" },
	{ "sk-ecdsa-sha2-nistp256@openssh.com", SSH_KEYTYPE_UNKNOWN, NULL,
	    "security keys (sk-*) are not supported: libssh does not enforce "
	    "their touch requirement; key skipped" },
};

/* Any *-cert-v01@openssh.com name: sshd only uses certificates through a
 * cert-authority line, which is an option, and options are refused. */
static const struct authkeys_type authkeys_cert_type = {
	"certificate", SSH_KEYTYPE_UNKNOWN, NULL,
	"certificates are not supported; key skipped"
};

/* State of one authkeys_load. */
struct authkeys_read {
	struct authkeys	*ak;
	const char	*path;
	size_t		 lineno;
	size_t		 skipped;	/* lines warned about */
	int		 full;		/* AUTHKEYS_MAX reached: stop reading */
	uint8_t		*blob;		/* decoded key data, sized for a full line */
};

/* Write "PATH: reason" into the caller's buffer, if it gave one. */
static void PRINTFLIKE(4, 5)
authkeys_error(char *err, size_t errlen, const char *path, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (err == NULL || errlen == 0)
		return;
	n = snprintf(err, errlen, "%s: ", path);
	if (n < 0 || (size_t)n >= errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err + n, errlen - n, fmt, ap);
	va_end(ap);
}

/* Log one skipped line as "PATH:LINE: reason". */
static void PRINTFLIKE(2, 3)
authkeys_warn(struct authkeys_read *rd, const char *fmt, ...)
{
	va_list ap;
	char reason[512];

	va_start(ap, fmt);
	vsnprintf(reason, sizeof reason, fmt, ap);
	va_end(ap);
	log_warn("%s:%zu: %s", rd->path, rd->lineno, reason);
	rd->skipped++;
}

/* A field from the file fit for a message: bounded, and with anything
 * unprintable shown as '?', so a line cannot forge log lines. */
static const char *
authkeys_quote(const void *s, size_t len, char *buf, size_t bufsize)
{
	const unsigned char *p = s;
	size_t i, n;

	n = len;
	if (n > AUTHKEYS_QUOTE_MAX)
		n = AUTHKEYS_QUOTE_MAX;
	if (n > bufsize - 4)
		n = bufsize - 4;
	for (i = 0; i < n; i++)
		buf[i] = (p[i] >= 0x20 && p[i] < 0x7f) ? (char)p[i] : '?';
	if (n < len) {
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n] = '\0';
	return buf;
}

/* The type entry for a name, NULL if it names no key type we know. */
static const struct authkeys_type *
authkeys_find_type(const char *name, size_t len)
{
	size_t i, slen = strlen(AUTHKEYS_CERT_SUFFIX);

	for (i = 0; i < sizeof authkeys_types / sizeof authkeys_types[0]; i++) {
		if (strlen(authkeys_types[i].name) == len &&
		    memcmp(authkeys_types[i].name, name, len) == 0)
			return &authkeys_types[i];
	}
	if (len > slen && memcmp(name + len - slen, AUTHKEYS_CERT_SUFFIX, slen) == 0)
		return &authkeys_cert_type;
	return NULL;
}

/* Walk past an options field the way sshd does: it ends at the first space
 * or tab outside double quotes, and \" never opens or closes a quote. -1 if
 * a quote is left open, which leaves nothing to be the key. */
static int
authkeys_skip_options(char **pp)
{
	char *p = *pp;
	int quoted = 0;

	for (; *p != '\0' && (quoted || (*p != ' ' && *p != '\t')); p++) {
		if (*p == '\\' && p[1] == '"')
			p++;
		else if (*p == '"')
			quoted = !quoted;
	}
	*pp = p;
	return quoted ? -1 : 0;
}

/* Value of one base64 digit, -1 if c is not one. */
static int
authkeys_b64_digit(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Decode base64 as strictly as OpenSSH's b64_pton: whole quanta, '=' only
 * as final padding, no stray bits in the last digit. out holds len / 4 * 3
 * bytes. The decoded length, or -1. */
static ssize_t
authkeys_b64_decode(const char *s, size_t len, uint8_t *out)
{
	size_t i, j, n = 0;
	int v[4], pad;

	if (len == 0 || len % 4 != 0)
		return -1;
	for (i = 0; i < len; i += 4) {
		pad = 0;
		for (j = 0; j < 4; j++) {
			if (s[i + j] == '=') {
				if (i + 4 != len || j < 2)
					return -1;
				pad++;
				v[j] = 0;
				continue;
			}
			if (pad != 0)
				return -1;
			if ((v[j] = authkeys_b64_digit(s[i + j])) == -1)
				return -1;
		}
		if ((pad == 2 && (v[1] & 0xf) != 0) || (pad == 1 && (v[2] & 0x3) != 0))
			return -1;
		out[n++] = (uint8_t)(v[0] << 2 | v[1] >> 4);
		if (pad < 2)
			out[n++] = (uint8_t)((v[1] & 0xf) << 4 | v[2] >> 2);
		if (pad < 1)
			out[n++] = (uint8_t)((v[2] & 0x3) << 6 | v[3]);
	}
	return (ssize_t)n;
}

/* Take one SSH string off the front of a blob. -1 if it runs past the end. */
static int
authkeys_blob_string(const uint8_t **pp, size_t *left, const uint8_t **s, size_t *slen)
{
	uint32_t n;

	if (*left < 4)
		return -1;
	n = get32(*pp);
	if (n > *left - 4)
		return -1;
	*s = *pp + 4;
	*slen = n;
	*pp += 4 + n;
	*left -= 4 + n;
	return 0;
}

/* 1 if an SSH string from a blob is exactly the C string name. */
static int
authkeys_blob_is(const uint8_t *s, size_t slen, const char *name)
{
	return slen == strlen(name) && memcmp(s, name, slen) == 0;
}

/* Bits in the magnitude of an SSH mpint. */
static size_t
authkeys_mpint_bits(const uint8_t *p, size_t len)
{
	size_t bits;
	unsigned int c;

	while (len > 0 && *p == 0)
		p++, len--;
	if (len == 0)
		return 0;
	bits = (len - 1) * 8;
	for (c = *p; c != 0; c >>= 1)
		bits++;
	return bits;
}

/* Keep a parsed key; the array grows by doubling up to AUTHKEYS_MAX, so
 * the file's content can never make it larger than that. */
static void
authkeys_add(struct authkeys *ak, ssh_key key)
{
	ssh_key *keys;

	if (ak->nkeys == ak->cap) {
		ak->cap = ak->cap == 0 ? 8 : ak->cap * 2;
		if (ak->cap > AUTHKEYS_MAX)
			ak->cap = AUTHKEYS_MAX;
		keys = xcalloc(ak->cap, sizeof *keys);
		if (ak->nkeys != 0)
			memcpy(keys, ak->keys, ak->nkeys * sizeof *keys);
		free(ak->keys);
		ak->keys = keys;
	}
	ak->keys[ak->nkeys++] = key;
}

/* Parse "base64 [comment]" after a key type name and keep the key. The
 * blob is checked before libssh sees it because libssh trusts the type
 * name from the line: it skips the one inside the blob and takes an ECDSA
 * curve from the blob whatever the line says. */
static void
authkeys_key(struct authkeys_read *rd, const struct authkeys_type *t, char *p)
{
	char q[AUTHKEYS_QUOTE_MAX + 4];
	const uint8_t *bp, *s;
	size_t b64len, left, slen, bits;
	ssize_t n;
	ssh_key key = NULL;
	char *b64;

	if (t->refuse != NULL) {
		authkeys_warn(rd, "%s", t->refuse);
		return;
	}
	p += strspn(p, " \t");
	b64 = p;
	b64len = strcspn(b64, " \t");
	if (b64len == 0) {
		authkeys_warn(rd, "missing key data after %s; line skipped", t->name);
		return;
	}
	b64[b64len] = '\0'; /* the comment is not needed */

	if ((n = authkeys_b64_decode(b64, b64len, rd->blob)) == -1) {
		authkeys_warn(rd, "bad base64 in key data; line skipped");
		return;
	}
	bp = rd->blob;
	left = (size_t)n;
	if (authkeys_blob_string(&bp, &left, &s, &slen) != 0) {
		authkeys_warn(rd, "key data is truncated; line skipped");
		return;
	}
	if (!authkeys_blob_is(s, slen, t->name)) {
		authkeys_warn(rd, "key data is a '%s' key, not %s; line skipped",
		    authkeys_quote(s, slen, q, sizeof q), t->name);
		return;
	}
	if (t->curve != NULL) {
		if (authkeys_blob_string(&bp, &left, &s, &slen) != 0) {
			authkeys_warn(rd, "key data is truncated; line skipped");
			return;
		}
		if (!authkeys_blob_is(s, slen, t->curve)) {
			authkeys_warn(rd, "key data is on curve '%s', not %s; line skipped",
			    authkeys_quote(s, slen, q, sizeof q), t->curve);
			return;
		}
	}
	if (t->type == SSH_KEYTYPE_RSA) {
		/* e, then the modulus. */
		if (authkeys_blob_string(&bp, &left, &s, &slen) != 0 ||
		    authkeys_blob_string(&bp, &left, &s, &slen) != 0) {
			authkeys_warn(rd, "key data is truncated; line skipped");
			return;
		}
		bits = authkeys_mpint_bits(s, slen);
		if (bits < AUTHKEYS_RSA_MIN_BITS) {
			authkeys_warn(rd, "RSA key of %zu bits is too short (minimum %d); "
			    "key skipped", bits, AUTHKEYS_RSA_MIN_BITS);
			return;
		}
		if (bits > AUTHKEYS_RSA_MAX_BITS) {
			authkeys_warn(rd, "RSA key of %zu bits is too long (maximum %d); "
			    "key skipped", bits, AUTHKEYS_RSA_MAX_BITS);
			return;
		}
	}

	if (ssh_pki_import_pubkey_base64(b64, t->type, &key) != SSH_OK || key == NULL) {
		authkeys_warn(rd, "key data is not a valid %s key; line skipped", t->name);
		return;
	}
	if (ssh_key_type(key) != t->type) {
		ssh_key_free(key);
		authkeys_warn(rd, "key data is not a valid %s key; line skipped", t->name);
		return;
	}
	if (rd->ak->nkeys == AUTHKEYS_MAX) {
		ssh_key_free(key);
		authkeys_warn(rd, "more than %d keys; this line and the rest of the file "
		    "ignored", AUTHKEYS_MAX);
		rd->full = 1;
		return;
	}
	authkeys_add(rd->ak, key);
}

/* 1 if a field has what only options have: a value or a list. */
static int
authkeys_looks_like_options(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (s[i] == '=' || s[i] == '"' || s[i] == ',')
			return 1;
	}
	return 0;
}

/* Handle one line (no newline, no NUL): blank, comment, or
 * "[options] keytype base64 [comment]". */
static void
authkeys_line(struct authkeys_read *rd, char *line, size_t len)
{
	char q[AUTHKEYS_QUOTE_MAX + 4];
	const struct authkeys_type *t;
	char *p, *end, *opts;
	size_t toklen, optlen;

	/* Trailing blanks, and the CR of a file written on Windows. */
	end = line + len;
	while (end > line && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
		end--;
	*end = '\0';
	p = line + strspn(line, " \t");
	if (*p == '\0' || *p == '#')
		return;

	toklen = strcspn(p, " \t");
	if ((t = authkeys_find_type(p, toklen)) != NULL) {
		authkeys_key(rd, t, p + toklen);
		return;
	}

	/* Not a key type, so as for sshd it is an options field. Options
	 * restrict a key (command=, from=, restrict...); using the key without
	 * them would grant more than the line says, so such a key is refused.
	 * The field is still parsed properly to find where the key starts. */
	opts = p;
	if (authkeys_skip_options(&p) != 0) {
		authkeys_warn(rd, "unbalanced quotes in options; line skipped");
		return;
	}
	optlen = (size_t)(p - opts);
	p += strspn(p, " \t");
	toklen = strcspn(p, " \t");
	if (toklen != 0 && authkeys_find_type(p, toklen) != NULL) {
		authkeys_warn(rd, "options are not supported; key skipped");
		return;
	}
	/* What was taken for options may just be a misspelt key type. */
	if (toklen != 0 && authkeys_looks_like_options(opts, optlen))
		authkeys_warn(rd, "unknown key type '%s' after options; line skipped",
		    authkeys_quote(p, toklen, q, sizeof q));
	else
		authkeys_warn(rd, "unknown key type '%s'; line skipped",
		    authkeys_quote(opts, optlen, q, sizeof q));
}

/* Refuse a directory that others than its owner may write to or that
 * belongs to someone else: whoever can write there can swap the file. */
static int
authkeys_check_dir(const char *path, const char *file, char *err, size_t errlen)
{
	struct stat st;
	char *dir, *slash;
	uid_t uid = geteuid();
	int ret = -1;

	dir = xstrdup(path);
	if ((slash = strrchr(dir, '/')) == NULL)
		strcpy(dir, ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';

	if (stat(dir, &st) != 0)
		authkeys_error(err, errlen, file, "cannot stat directory %s: %s", dir,
		    strerror(errno));
	else if (!S_ISDIR(st.st_mode))
		authkeys_error(err, errlen, file, "%s is not a directory", dir);
	else if (st.st_uid != uid && st.st_uid != 0)
		authkeys_error(err, errlen, file, "directory %s is owned by uid %u, not "
		    "by uid %u or root", dir, (unsigned)st.st_uid, (unsigned)uid);
	else if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
		authkeys_error(err, errlen, file, "directory %s is writable by group or "
		    "others (mode %04o)", dir, (unsigned)(st.st_mode & 07777));
	else
		ret = 0;
	free(dir);
	return ret;
}

/* The checks sshd's StrictModes makes, on an open file and on the
 * directory holding it, and on the one holding its target if it is a
 * symbolic link. */
static int
authkeys_check_file(int fd, const char *path, char *err, size_t errlen)
{
	struct stat st;
	uid_t uid = geteuid();
	char *real;
	int ret;

	if (fstat(fd, &st) != 0) {
		authkeys_error(err, errlen, path, "cannot stat: %s", strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		authkeys_error(err, errlen, path, "not a regular file");
		return -1;
	}
	if (st.st_uid != uid && st.st_uid != 0) {
		authkeys_error(err, errlen, path, "owned by uid %u, not by uid %u or root",
		    (unsigned)st.st_uid, (unsigned)uid);
		return -1;
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		authkeys_error(err, errlen, path, "writable by group or others (mode %04o)",
		    (unsigned)(st.st_mode & 07777));
		return -1;
	}
	if (authkeys_check_dir(path, path, err, errlen) != 0)
		return -1;
	if ((real = realpath(path, NULL)) == NULL) {
		authkeys_error(err, errlen, path, "cannot resolve: %s", strerror(errno));
		return -1;
	}
	ret = authkeys_check_dir(real, path, err, errlen);
	free(real);
	return ret;
}

/* Read an OpenSSH authorized_keys file. Malformed lines are skipped with one
 * logged warning each (file:line: reason), never a crash. NULL with a reason
 * in err if the file cannot be read at all, or (like sshd's StrictModes) if
 * it or its directory is writable by others than the owner, or it is not
 * owned by the user or root. */
struct authkeys *
authkeys_load(const char *path, char *err, size_t errlen)
{
	struct authkeys_read rd;
	char *line = NULL;
	FILE *fp = NULL;
	size_t len;
	int fd, c, toolong, nul;

	if (err != NULL && errlen != 0)
		err[0] = '\0';
	/* O_NONBLOCK: a FIFO put in its place must not hang the daemon before
	 * the regular-file check refuses it. */
	fd = open(path, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd == -1) {
		authkeys_error(err, errlen, path, "cannot open: %s", strerror(errno));
		return NULL;
	}
	if (authkeys_check_file(fd, path, err, errlen) != 0 ||
	    fd_set_nonblock(fd, 0) != 0 || (fp = fdopen(fd, "r")) == NULL) {
		if (err != NULL && errlen != 0 && err[0] == '\0')
			authkeys_error(err, errlen, path, "cannot read: %s", strerror(errno));
		close(fd);
		return NULL;
	}

	memset(&rd, 0, sizeof rd);
	rd.ak = xcalloc(1, sizeof *rd.ak);
	rd.path = path;
	rd.blob = xmalloc(AUTHKEYS_LINE_MAX / 4 * 3);
	line = xmalloc(AUTHKEYS_LINE_MAX + 1);

	/* Lines are read into a fixed buffer: a long line costs time to skip,
	 * never memory. */
	for (;;) {
		len = 0;
		toolong = nul = 0;
		while ((c = getc_unlocked(fp)) != EOF && c != '\n') {
			if (c == '\0')
				nul = 1;
			if (len < AUTHKEYS_LINE_MAX)
				line[len++] = (char)c;
			else
				toolong = 1;
		}
		if (c == EOF && ferror(fp)) {
			authkeys_error(err, errlen, path, "read error: %s", strerror(errno));
			authkeys_free(rd.ak);
			rd.ak = NULL;
			break;
		}
		if (c == EOF && len == 0)
			break;
		rd.lineno++;
		if (toolong)
			authkeys_warn(&rd, "line longer than %d bytes; skipped", AUTHKEYS_LINE_MAX);
		else if (nul)
			authkeys_warn(&rd, "line contains a NUL byte; skipped");
		else {
			line[len] = '\0';
			authkeys_line(&rd, line, len);
		}
		if (rd.full || c == EOF)
			break;
	}
	fclose(fp);
	free(line);
	free(rd.blob);
	if (rd.ak != NULL)
		log_debug("%s: %zu keys, %zu lines skipped", path, rd.ak->nkeys, rd.skipped);
	return rd.ak;
}

/* Free what authkeys_load returned; NULL is fine. */
void
authkeys_free(struct authkeys *ak)
{
	size_t i;

	if (ak == NULL)
		return;
	for (i = 0; i < ak->nkeys; i++)
		ssh_key_free(ak->keys[i]);
	free(ak->keys);
	free(ak);
}

/* 1 if key (as libssh hands it to a server's auth_pubkey callback) is
 * listed. */
int
authkeys_match(const struct authkeys *ak, const ssh_key key)
{
	enum ssh_keytypes_e type;
	size_t i;

	if (ak == NULL || key == NULL)
		return 0;
	type = ssh_key_type(key);
	for (i = 0; i < ak->nkeys; i++) {
		/* Checked first because ssh_key_cmp logs a libssh warning
		 * for every type mismatch. A certificate never matches: only
		 * plain keys are listed. */
		if (ssh_key_type(ak->keys[i]) != type)
			continue;
		if (ssh_key_cmp(ak->keys[i], key, SSH_KEY_CMP_PUBLIC) == 0)
			return 1;
	}
	return 0;
}

/* Number of usable keys read. */
size_t
authkeys_count(const struct authkeys *ak)
{
	return ak == NULL ? 0 : ak->nkeys;
}
