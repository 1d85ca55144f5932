/* The authorized_keys reader: every key type, every malformed line, and the
 * file and directory checks. Keys are generated here; files live in a
 * private temporary directory; warnings are read back from a log file. */
#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libssh/libssh.h>

#include "authkeys.h"
#include "log.h"
#include "util.h"

static char dir[PATH_MAX];
static char logpath[PATH_MAX + 16];

/* A private directory per test, and the log sent to a file in it. */
static void
setup(void)
{
	snprintf(dir, sizeof dir, "/tmp/persh-authkeys-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(logpath, sizeof logpath, "%s/log", dir);
	cr_assert_eq(log_open(logpath, LOG_LVL_DEBUG, 1), 0);
}

/* One entry of the recursive removal. */
static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		return rmdir(path);
	return unlink(path);
}

/* Remove the test's directory and everything in it. */
static void
teardown(void)
{
	log_close();
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(authkeys, .init = setup, .fini = teardown);

/* A path in the test's directory, in one of 8 static buffers used in
 * turn. */
static const char *
path_in(const char *name)
{
	static char buf[8][PATH_MAX + 64];
	static int which;

	which = (which + 1) % 8;
	snprintf(buf[which], sizeof buf[which], "%s/%s", dir, name);
	return buf[which];
}

/* Write len bytes to name in the test's directory with that mode. */
static const char *
write_bytes(const char *name, const char *data, size_t len, mode_t mode)
{
	const char *path = path_in(name);
	FILE *fp;

	unlink(path);
	fp = fopen(path, "w");
	cr_assert_not_null(fp, "%s: %s", path, strerror(errno));
	cr_assert_eq(fwrite(data, 1, len, fp), len);
	cr_assert_eq(fclose(fp), 0);
	cr_assert_eq(chmod(path, mode), 0);
	return path;
}

/* write_bytes for a C string, mode 0600. */
static const char *
write_file(const char *name, const char *text)
{
	return write_bytes(name, text, strlen(text), 0600);
}

/* A fresh key pair. */
static ssh_key
gen(enum ssh_keytypes_e type, int bits)
{
	ssh_key key = NULL;

	cr_assert_eq(ssh_pki_generate(type, bits, &key), SSH_OK, "generate type %d", type);
	return key;
}

/* The public half, as the server's auth_pubkey callback would see it. */
static ssh_key
pub(ssh_key priv)
{
	ssh_key key = NULL;

	cr_assert_eq(ssh_pki_export_privkey_to_pubkey(priv, &key), SSH_OK);
	return key;
}

/* The base64 key data of a key, malloc'd. */
static char *
b64(ssh_key key)
{
	char *s = NULL, *copy;

	cr_assert_eq(ssh_pki_export_pubkey_base64(key, &s), SSH_OK);
	copy = xstrdup(s);
	ssh_string_free_char(s);
	return copy;
}

/* "type base64 comment" for a key, malloc'd. */
static char *
keyline(ssh_key key, const char *comment)
{
	char *data = b64(key), *line;

	cr_assert_neq(asprintf(&line, "%s %s%s%s", ssh_key_type_to_char(ssh_key_type(key)),
	    data, comment[0] != '\0' ? " " : "", comment), -1);
	free(data);
	return line;
}

/* Everything logged so far, malloc'd. */
static char *
read_log(void)
{
	FILE *fp = fopen(logpath, "r");
	char *buf = xcalloc(1, 1 << 20);
	size_t n;

	cr_assert_not_null(fp);
	n = fread(buf, 1, (1 << 20) - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

/* Forget what was logged so far (the log is opened in append mode). */
static void
clear_log(void)
{
	cr_assert_eq(truncate(logpath, 0), 0);
}

/* Number of warnings in a log. */
static size_t
count_warnings(const char *log)
{
	size_t n = 0;

	for (const char *p = log; (p = strstr(p, " warn: ")) != NULL; p++)
		n++;
	return n;
}

/* Load a file that must load. */
static struct authkeys *
load_ok(const char *path)
{
	char err[512] = "";
	struct authkeys *ak = authkeys_load(path, err, sizeof err);

	cr_assert_not_null(ak, "load %s: %s", path, err);
	return ak;
}

/* 1 if the public half of priv is listed. */
static int
listed(const struct authkeys *ak, ssh_key priv)
{
	ssh_key key = pub(priv);
	int ret = authkeys_match(ak, key);

	ssh_key_free(key);
	return ret;
}

/* Base64 as OpenSSH writes it, for hand-made key blobs; malloc'd. */
static char *
b64_encode(const uint8_t *p, size_t len)
{
	static const char digits[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out = xmalloc(len / 3 * 4 + 5), *o = out;
	size_t i;

	for (i = 0; i + 2 < len; i += 3) {
		*o++ = digits[p[i] >> 2];
		*o++ = digits[(p[i] & 3) << 4 | p[i + 1] >> 4];
		*o++ = digits[(p[i + 1] & 0xf) << 2 | p[i + 2] >> 6];
		*o++ = digits[p[i + 2] & 0x3f];
	}
	if (len - i == 1) {
		*o++ = digits[p[i] >> 2];
		*o++ = digits[(p[i] & 3) << 4];
		*o++ = '=';
		*o++ = '=';
	} else if (len - i == 2) {
		*o++ = digits[p[i] >> 2];
		*o++ = digits[(p[i] & 3) << 4 | p[i + 1] >> 4];
		*o++ = digits[(p[i + 1] & 0xf) << 2];
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

/* A key blob under construction. */
struct blob {
	uint8_t	buf[4096];
	size_t	len;
};

/* Append one SSH string to a blob. */
static void
blob_put(struct blob *b, const void *p, size_t n)
{
	cr_assert_leq(b->len + 4 + n, sizeof b->buf);
	put32(b->buf + b->len, (uint32_t)n);
	memcpy(b->buf + b->len + 4, p, n);
	b->len += 4 + n;
}

/* blob_put for a C string. */
static void
blob_puts(struct blob *b, const char *s)
{
	blob_put(b, s, strlen(s));
}

Test(authkeys, every_type_matches)
{
	enum ssh_keytypes_e types[] = { SSH_KEYTYPE_ED25519, SSH_KEYTYPE_ECDSA_P256,
		SSH_KEYTYPE_ECDSA_P384, SSH_KEYTYPE_ECDSA_P521, SSH_KEYTYPE_RSA };
	int bits[] = { 0, 256, 384, 521, 2048 };
	ssh_key keys[5];
	char text[16384] = "";
	struct authkeys *ak;
	char *log;

	for (size_t i = 0; i < 5; i++) {
		char *line;

		keys[i] = gen(types[i], bits[i]);
		line = keyline(keys[i], "user@host");
		strcat(text, line);
		strcat(text, "\n");
		free(line);
	}
	ak = load_ok(write_file("keys", text));
	cr_assert_eq(authkeys_count(ak), 5);
	for (size_t i = 0; i < 5; i++)
		cr_assert(listed(ak, keys[i]), "%s listed", ssh_key_type_to_char(types[i]));
	log = read_log();
	cr_assert_eq(count_warnings(log), 0, "%s", log);
	free(log);
	authkeys_free(ak);
	for (size_t i = 0; i < 5; i++)
		ssh_key_free(keys[i]);
}

Test(authkeys, other_keys_do_not_match)
{
	ssh_key a = gen(SSH_KEYTYPE_ED25519, 0), b = gen(SSH_KEYTYPE_ECDSA_P256, 256);
	ssh_key c = gen(SSH_KEYTYPE_ED25519, 0), d = gen(SSH_KEYTYPE_ECDSA_P256, 256);
	ssh_key e = gen(SSH_KEYTYPE_ECDSA_P384, 384);
	char *la = keyline(a, ""), *lb = keyline(b, ""), text[2048];
	struct authkeys *ak;
	ssh_key pa;

	snprintf(text, sizeof text, "%s\n%s\n", la, lb);
	ak = load_ok(write_file("keys", text));
	cr_assert_eq(authkeys_count(ak), 2);
	cr_assert(listed(ak, a));
	cr_assert(listed(ak, b));
	cr_assert_not(listed(ak, c), "another ed25519 key");
	cr_assert_not(listed(ak, d), "another P-256 key");
	cr_assert_not(listed(ak, e), "a type not in the file");
	cr_assert_not(authkeys_match(ak, NULL));
	pa = pub(a);
	cr_assert_not(authkeys_match(NULL, pa));
	ssh_key_free(pa);
	authkeys_free(ak);
	free(la);
	free(lb);
	ssh_key_free(a);
	ssh_key_free(b);
	ssh_key_free(c);
	ssh_key_free(d);
	ssh_key_free(e);
}

Test(authkeys, comments_blank_lines_crlf_tabs)
{
	ssh_key k[5];
	char *d[5], text[4096], *log;
	struct authkeys *ak;

	for (int i = 0; i < 5; i++) {
		k[i] = gen(i % 2 ? SSH_KEYTYPE_ECDSA_P256 : SSH_KEYTYPE_ED25519, i % 2 ? 256 : 0);
		d[i] = b64(k[i]);
	}
	snprintf(text, sizeof text,
	    "# a comment\n"
	    "\n"
	    "   \t \n"
	    "\r\n"
	    "   # an indented comment ssh-ed25519 %s\n"
	    "ssh-ed25519 %s comment with  spaces\r\n"
	    "\tecdsa-sha2-nistp256\t%s\t comment\r\n"
	    "ssh-ed25519 %s\r\n"
	    "  \t ecdsa-sha2-nistp256   %s   trailing blanks \t \n"
	    "ssh-ed25519 %s",
	    d[4], d[0], d[1], d[2], d[3], d[4]);
	ak = load_ok(write_file("keys", text));
	cr_assert_eq(authkeys_count(ak), 5);
	for (int i = 0; i < 5; i++)
		cr_assert(listed(ak, k[i]), "key %d", i);
	log = read_log();
	cr_assert_eq(count_warnings(log), 0, "%s", log);
	free(log);
	authkeys_free(ak);
	for (int i = 0; i < 5; i++) {
		ssh_key_free(k[i]);
		free(d[i]);
	}
}

Test(authkeys, whitespace_only_lines_are_blank)
{
	ssh_key a = gen(SSH_KEYTYPE_ED25519, 0);
	char *la = keyline(a, "a"), text[1024], *log;
	struct authkeys *ak;

	snprintf(text, sizeof text, " \n\t\n \t \r\n%s\n    \n", la);
	ak = load_ok(write_file("keys", text));
	cr_assert_eq(authkeys_count(ak), 1);
	cr_assert(listed(ak, a));
	log = read_log();
	cr_assert_eq(count_warnings(log), 0, "%s", log);
	free(log);
	authkeys_free(ak);
	free(la);
	ssh_key_free(a);
}

/* One malformed line and the warning it must get. */
struct bad {
	const char	*what;
	char		*line;
	size_t		 len;	/* 0: strlen(line) */
	const char	*reason;
};

/* The malformed lines, all made from keys z (ed25519) and y (P-256), which
 * must never end up listed. */
static size_t
bad_lines(struct bad *b, ssh_key z, ssh_key y)
{
	char *zd = b64(z), *yd = b64(y), *s;
	size_t n = 0, zl = strlen(zd), yl = strlen(yd);
	struct blob bl;

#define BAD(w, r, ...) do {						\
	cr_assert_neq(asprintf(&b[n].line, __VA_ARGS__), -1);		\
	b[n].what = (w);						\
	b[n].reason = (r);						\
	b[n].len = 0;							\
	n++;								\
} while (0)

	BAD("unknown type", "unknown key type 'ssh-foo'", "ssh-foo %s c", zd);
	BAD("only base64", "unknown key type 'AAAA", "%s", zd);
	BAD("misspelt type after options", "unknown key type 'ssh-ed25518' after options",
	    "from=\"10.0.0.1\" ssh-ed25518 %s", zd);
	BAD("options, no key", "unknown key type 'no-pty'", "no-pty");
	BAD("bad base64 digit", "bad base64", "ssh-ed25519 %.10s!%s c", zd, zd + 11);
	BAD("base64 not whole quanta", "bad base64", "ssh-ed25519 %.*s c", (int)zl - 1, zd);
	BAD("base64 with '=' inside", "bad base64", "ssh-ed25519 %.8s=%s", zd, zd + 9);
	BAD("comment where the key should be", "bad base64", "ssh-ed25519 # %s", zd);
	s = xstrdup(yd);
	cr_assert_eq(s[yl - 1], '=', "a P-256 blob ends in one '='");
	s[yl - 2] = 'B'; /* the digit before the pad may only carry 4 bits */
	BAD("stray bits before padding", "bad base64", "ecdsa-sha2-nistp256 %s", s);
	free(s);
	BAD("truncated base64", "not a valid ssh-ed25519 key", "ssh-ed25519 %.*s", (int)zl - 4,
	    zd);
	BAD("base64 of the type only", "not a valid ssh-ed25519 key", "ssh-ed25519 %.20s", zd);
	BAD("base64 cut inside the type", "truncated", "ssh-ed25519 %.8s", zd);
	BAD("ed25519 blob as ecdsa", "is a 'ssh-ed25519' key, not ecdsa-sha2-nistp256",
	    "ecdsa-sha2-nistp256 %s", zd);
	BAD("P-256 blob as P-384", "is a 'ecdsa-sha2-nistp256' key, not ecdsa-sha2-nistp384",
	    "ecdsa-sha2-nistp384 %s", yd);
	BAD("ed25519 blob as rsa", "is a 'ssh-ed25519' key, not ssh-rsa", "ssh-rsa %s", zd);

	memset(&bl, 0, sizeof bl);
	blob_puts(&bl, "ecdsa-sha2-nistp384");
	blob_puts(&bl, "nistp256");
	blob_put(&bl, "\x04xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 65);
	s = b64_encode(bl.buf, bl.len);
	BAD("curve not the type's", "on curve 'nistp256', not nistp384",
	    "ecdsa-sha2-nistp384 %s", s);
	free(s);

	BAD("missing blob", "missing key data after ssh-ed25519", "ssh-ed25519");
	BAD("missing blob, blanks", "missing key data after ssh-ed25519", "  ssh-ed25519 \t \r");
	BAD("unbalanced quotes", "unbalanced quotes in options",
	    "command=\"echo hi ssh-ed25519 %s", zd);
	BAD("unbalanced after escaped quote", "unbalanced quotes in options",
	    "command=\"echo \\\" ssh-ed25519 %s", zd);
	BAD("flag option", "options are not supported; key skipped", "no-pty ssh-ed25519 %s", zd);
	BAD("restrict", "options are not supported; key skipped",
	    "restrict ecdsa-sha2-nistp256 %s c", yd);
	BAD("quoted option with blanks", "options are not supported; key skipped",
	    "from=\"10.0.0.1, 10.0.0.2\" ssh-ed25519 %s", zd);
	BAD("escaped quotes", "options are not supported; key skipped",
	    "command=\"echo \\\"a b\\\" ssh-rsa x\",no-pty,environment=\"A=b c\" "
	    "ssh-ed25519 %s c", zd);
	BAD("options with tabs", "options are not supported; key skipped",
	    " \tcommand=\"x\"\tssh-ed25519\t%s", zd);
	BAD("signature algorithm as type", "is a signature algorithm, not a key type",
	    "rsa-sha2-256 %s", zd);
	BAD("dsa", "DSA keys are not supported", "ssh-dss %s", zd);
	BAD("certificate", "certificates are not supported",
	    "ssh-ed25519-cert-v01@openssh.com %s", zd);

	memset(&bl, 0, sizeof bl);
	blob_puts(&bl, "sk-ssh-ed25519@openssh.com");
	blob_put(&bl, "0123456789abcdef0123456789abcdef", 32);
	blob_puts(&bl, "ssh:");
	s = b64_encode(bl.buf, bl.len);
	BAD("security key", "security keys (sk-*) are not supported",
	    "sk-ssh-ed25519@openssh.com %s", s);
	free(s);

	BAD("control characters in the type", "unknown key type 'ssh-?[31mevil?'",
	    "ssh-\x1b[31mevil\x7f %s", zd);

	/* A NUL byte in an otherwise good line. */
	BAD("NUL byte", "line contains a NUL byte", "ssh-ed25519 %s ab", zd);
	b[n - 1].len = strlen(b[n - 1].line);
	b[n - 1].line[b[n - 1].len - 2] = '\0';

	/* A good key followed by a comment that makes the line too long. */
	s = xmalloc(20001);
	memset(s, 'x', 20000);
	s[20000] = '\0';
	BAD("huge line", "line longer than 16384 bytes", "ssh-ed25519 %s %s", zd, s);
	free(s);

#undef BAD
	free(zd);
	free(yd);
	for (size_t i = 0; i < n; i++) {
		if (b[i].len == 0)
			b[i].len = strlen(b[i].line);
	}
	return n;
}

Test(authkeys, each_malformed_line_is_skipped_alone)
{
	ssh_key a = gen(SSH_KEYTYPE_ED25519, 0), c = gen(SSH_KEYTYPE_ECDSA_P384, 384);
	ssh_key z = gen(SSH_KEYTYPE_ED25519, 0), y = gen(SSH_KEYTYPE_ECDSA_P256, 256);
	char *la = keyline(a, "before"), *lc = keyline(c, "after");
	struct bad bad[64];
	size_t n = bad_lines(bad, z, y);

	for (size_t i = 0; i < n; i++) {
		char *text, *log, where[PATH_MAX + 80];
		size_t len;
		struct authkeys *ak;
		const char *path;

		len = strlen(la) + bad[i].len + strlen(lc) + 3;
		text = xmalloc(len + 1);
		memcpy(text, la, strlen(la));
		text[strlen(la)] = '\n';
		memcpy(text + strlen(la) + 1, bad[i].line, bad[i].len);
		snprintf(text + strlen(la) + 1 + bad[i].len, len + 1 - strlen(la) - 1 - bad[i].len,
		    "\n%s\n", lc);
		clear_log();
		path = write_bytes("keys", text, len, 0600);
		ak = load_ok(path);
		cr_assert_eq(authkeys_count(ak), 2, "%s: %zu keys", bad[i].what,
		    authkeys_count(ak));
		cr_assert(listed(ak, a), "%s: key before", bad[i].what);
		cr_assert(listed(ak, c), "%s: key after", bad[i].what);
		cr_assert_not(listed(ak, z), "%s: bad line's key listed", bad[i].what);
		cr_assert_not(listed(ak, y), "%s: bad line's key listed", bad[i].what);
		log = read_log();
		cr_assert_eq(count_warnings(log), 1, "%s: one warning:\n%s", bad[i].what, log);
		snprintf(where, sizeof where, "%s:2: ", path);
		cr_assert_not_null(strstr(log, where), "%s: file:line in\n%s", bad[i].what, log);
		cr_assert_not_null(strstr(log, bad[i].reason), "%s: '%s' in\n%s", bad[i].what,
		    bad[i].reason, log);
		cr_assert_null(strchr(strstr(log, where), '\x1b'), "no raw control characters");
		free(log);
		authkeys_free(ak);
		free(text);
	}
	for (size_t i = 0; i < n; i++)
		free(bad[i].line);
	free(la);
	free(lc);
	ssh_key_free(a);
	ssh_key_free(c);
	ssh_key_free(z);
	ssh_key_free(y);
}

Test(authkeys, all_malformed_lines_in_one_file)
{
	ssh_key good[2] = { gen(SSH_KEYTYPE_ED25519, 0), gen(SSH_KEYTYPE_ECDSA_P521, 521) };
	ssh_key z = gen(SSH_KEYTYPE_ED25519, 0), y = gen(SSH_KEYTYPE_ECDSA_P256, 256);
	char *lg[2] = { keyline(good[0], "g0"), keyline(good[1], "g1") };
	struct bad bad[64];
	size_t n = bad_lines(bad, z, y), len = 0, cap = 1 << 20;
	char *text = xmalloc(cap), *log, where[PATH_MAX + 80];
	struct authkeys *ak;
	const char *path;

	/* good, bad, good, bad, ..., good: line 2i+2 is bad line i. */
	for (size_t i = 0; i <= n; i++) {
		const char *g = lg[i % 2];

		memcpy(text + len, g, strlen(g));
		len += strlen(g);
		text[len++] = '\n';
		if (i == n)
			break;
		memcpy(text + len, bad[i].line, bad[i].len);
		len += bad[i].len;
		text[len++] = '\n';
	}
	path = write_bytes("keys", text, len, 0600);
	ak = load_ok(path);
	cr_assert_eq(authkeys_count(ak), n + 1);
	cr_assert(listed(ak, good[0]));
	cr_assert(listed(ak, good[1]));
	cr_assert_not(listed(ak, z));
	cr_assert_not(listed(ak, y));
	log = read_log();
	cr_assert_eq(count_warnings(log), n, "%s", log);
	for (size_t i = 0; i < n; i++) {
		snprintf(where, sizeof where, "%s:%zu: ", path, 2 * i + 2);
		cr_assert_not_null(strstr(log, where), "%s: line %zu", bad[i].what, 2 * i + 2);
	}
	free(log);
	authkeys_free(ak);
	free(text);
	for (size_t i = 0; i < n; i++)
		free(bad[i].line);
	free(lg[0]);
	free(lg[1]);
	ssh_key_free(good[0]);
	ssh_key_free(good[1]);
	ssh_key_free(z);
	ssh_key_free(y);
}

Test(authkeys, short_rsa_key_is_skipped)
{
	ssh_key a = gen(SSH_KEYTYPE_ED25519, 0), r = gen(SSH_KEYTYPE_RSA, 1024);
	char *la = keyline(a, "a"), *lr = keyline(r, "weak"), text[4096], *log;
	struct authkeys *ak;

	snprintf(text, sizeof text, "%s\n%s\n%s\n", lr, la, lr);
	ak = load_ok(write_file("keys", text));
	cr_assert_eq(authkeys_count(ak), 1);
	cr_assert(listed(ak, a));
	cr_assert_not(listed(ak, r));
	log = read_log();
	cr_assert_eq(count_warnings(log), 2, "%s", log);
	cr_assert_not_null(strstr(log, "keys:1: RSA key of 1024 bits is too short (minimum 2048)"),
	    "%s", log);
	cr_assert_not_null(strstr(log, "keys:3: RSA key of 1024 bits is too short"), "%s", log);
	free(log);
	authkeys_free(ak);
	free(la);
	free(lr);
	ssh_key_free(a);
	ssh_key_free(r);
}

Test(authkeys, huge_rsa_key_is_skipped)
{
	struct blob bl;
	uint8_t n[2051];
	char *s, text[8192], *log;
	struct authkeys *ak;

	/* A 16408-bit modulus: past OpenSSH's 16384. */
	memset(n, 0xff, sizeof n);
	memset(&bl, 0, sizeof bl);
	blob_puts(&bl, "ssh-rsa");
	blob_put(&bl, "\x01\x00\x01", 3);
	blob_put(&bl, n, sizeof n);
	s = b64_encode(bl.buf, bl.len);
	snprintf(text, sizeof text, "ssh-rsa %s big\n", s);
	ak = load_ok(write_file("keys", text));
	cr_assert_eq(authkeys_count(ak), 0);
	log = read_log();
	cr_assert_not_null(strstr(log, "keys:1: RSA key of 16408 bits is too long (maximum 16384)"),
	    "%s", log);
	free(log);
	free(s);
	authkeys_free(ak);
}

Test(authkeys, line_length_limit)
{
	ssh_key a = gen(SSH_KEYTYPE_ED25519, 0);
	char *la = keyline(a, "c"), *text, *log;
	size_t l = strlen(la);
	struct authkeys *ak;

	/* Exactly AUTHKEYS_LINE_MAX bytes before the newline: kept. */
	text = xmalloc(2 * AUTHKEYS_LINE_MAX + 4);
	memcpy(text, la, l);
	memset(text + l, 'x', AUTHKEYS_LINE_MAX - l);
	text[AUTHKEYS_LINE_MAX] = '\n';
	ak = load_ok(write_bytes("keys", text, AUTHKEYS_LINE_MAX + 1, 0600));
	cr_assert_eq(authkeys_count(ak), 1);
	cr_assert(listed(ak, a));
	authkeys_free(ak);

	/* One more: skipped. */
	text[AUTHKEYS_LINE_MAX] = 'x';
	text[AUTHKEYS_LINE_MAX + 1] = '\n';
	clear_log();
	ak = load_ok(write_bytes("keys", text, AUTHKEYS_LINE_MAX + 2, 0600));
	cr_assert_eq(authkeys_count(ak), 0);
	log = read_log();
	cr_assert_not_null(strstr(log, "keys:1: line longer than 16384 bytes"), "%s", log);
	free(log);
	authkeys_free(ak);
	free(text);
	free(la);
	ssh_key_free(a);
}

Test(authkeys, duplicates_are_fine)
{
	ssh_key a = gen(SSH_KEYTYPE_ED25519, 0);
	char *la = keyline(a, "a"), text[1024];
	struct authkeys *ak;

	snprintf(text, sizeof text, "%s\n%s\n%s\n", la, la, la);
	ak = load_ok(write_file("keys", text));
	cr_assert_eq(authkeys_count(ak), 3);
	cr_assert(listed(ak, a));
	authkeys_free(ak);
	free(la);
	ssh_key_free(a);
}

Test(authkeys, number_of_keys_is_capped)
{
	ssh_key a = gen(SSH_KEYTYPE_ED25519, 0), b = gen(SSH_KEYTYPE_ED25519, 0);
	char *la = keyline(a, "a"), *lb = keyline(b, "b"), *text, *log, where[64];
	size_t l = strlen(la), len = 0;
	struct authkeys *ak;

	text = xmalloc((l + 1) * (AUTHKEYS_MAX + 1) + strlen(lb) + 64);
	for (int i = 0; i < AUTHKEYS_MAX; i++) {
		memcpy(text + len, la, l);
		len += l;
		text[len++] = '\n';
	}
	/* Key 4097, then lines the reader must not even look at. */
	len += (size_t)sprintf(text + len, "%s\nbogus line\n%s\n", lb, lb);
	ak = load_ok(write_bytes("keys", text, len, 0600));
	cr_assert_eq(authkeys_count(ak), AUTHKEYS_MAX);
	cr_assert(listed(ak, a));
	cr_assert_not(listed(ak, b));
	log = read_log();
	cr_assert_eq(count_warnings(log), 1, "%s", log);
	snprintf(where, sizeof where, "keys:%d: more than %d keys", AUTHKEYS_MAX + 1, AUTHKEYS_MAX);
	cr_assert_not_null(strstr(log, where), "%s", log);
	free(log);
	authkeys_free(ak);
	free(text);
	free(la);
	free(lb);
	ssh_key_free(a);
	ssh_key_free(b);
}

Test(authkeys, empty_file_loads_with_no_keys)
{
	struct authkeys *ak;
	char *log;

	ak = load_ok(write_file("keys", ""));
	cr_assert_eq(authkeys_count(ak), 0);
	cr_assert_not(authkeys_match(ak, NULL));
	authkeys_free(ak);
	ak = load_ok(write_file("keys", "# nothing yet\n\n"));
	cr_assert_eq(authkeys_count(ak), 0);
	authkeys_free(ak);
	log = read_log();
	cr_assert_eq(count_warnings(log), 0, "%s", log);
	free(log);
}

Test(authkeys, missing_file_is_an_error)
{
	char err[512];
	const char *path = path_in("nope");

	cr_assert_null(authkeys_load(path, err, sizeof err));
	cr_assert_not_null(strstr(err, path), "%s", err);
	cr_assert_not_null(strstr(err, "No such file or directory"), "%s", err);
	/* The error buffer is optional, and a short one is cut, not overrun. */
	cr_assert_null(authkeys_load(path, NULL, 0));
	memset(err, 'z', sizeof err);
	cr_assert_null(authkeys_load(path, err, 8));
	cr_assert_eq(strlen(err), 7);
	cr_assert_eq(err[8], 'z');
}

Test(authkeys, writable_file_is_refused)
{
	mode_t modes[] = { 0666, 0622, 0620, 0602, 0660 };
	char err[512];

	for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
		char want[64];

		write_bytes("keys", "", 0, modes[i]);
		cr_assert_null(authkeys_load(path_in("keys"), err, sizeof err), "mode %o", modes[i]);
		snprintf(want, sizeof want, "writable by group or others (mode %04o)", modes[i]);
		cr_assert_not_null(strstr(err, want), "%s", err);
	}
	/* Readable by all is fine: these are public keys. */
	write_bytes("keys", "", 0, 0644);
	authkeys_free(load_ok(path_in("keys")));
}

Test(authkeys, writable_directory_is_refused)
{
	char err[512];
	const char *sub = path_in("sub");
	char path[PATH_MAX + 64];

	cr_assert_eq(mkdir(sub, 0700), 0);
	snprintf(path, sizeof path, "%s/keys", sub);
	write_bytes("sub/keys", "", 0, 0600);
	authkeys_free(load_ok(path));

	cr_assert_eq(chmod(sub, 0770), 0);
	cr_assert_null(authkeys_load(path, err, sizeof err));
	cr_assert_not_null(strstr(err, "is writable by group or others (mode 0770)"), "%s", err);
	cr_assert_not_null(strstr(err, "directory"), "%s", err);

	cr_assert_eq(chmod(sub, 01777), 0);
	cr_assert_null(authkeys_load(path, err, sizeof err), "sticky does not help");
	cr_assert_eq(chmod(sub, 0700), 0);
}

Test(authkeys, symlinks_are_checked_at_both_ends)
{
	char err[512];
	const char *opendir = path_in("open"), *target = path_in("open/keys");
	const char *linkpath = path_in("link");

	/* The link is in a private directory; the file it points to sits in
	 * one anyone may come to write to. */
	cr_assert_eq(mkdir(opendir, 0700), 0);
	write_bytes("open/keys", "", 0, 0600);
	cr_assert_eq(symlink(target, linkpath), 0);
	authkeys_free(load_ok(linkpath));
	cr_assert_eq(chmod(opendir, 0777), 0);
	cr_assert_null(authkeys_load(linkpath, err, sizeof err));
	cr_assert_not_null(strstr(err, "/open is writable by group or others"), "%s", err);
	cr_assert_eq(chmod(opendir, 0700), 0);
}

Test(authkeys, not_a_regular_file_is_refused)
{
	char err[512];

	cr_assert_null(authkeys_load(dir, err, sizeof err));
	cr_assert_not_null(strstr(err, "not a regular file"), "%s", err);
	/* A FIFO must not hang the load. */
	cr_assert_eq(mkfifo(path_in("fifo"), 0600), 0);
	cr_assert_null(authkeys_load(path_in("fifo"), err, sizeof err));
	cr_assert_not_null(strstr(err, "not a regular file"), "%s", err);
}

Test(authkeys, foreign_owner_is_refused)
{
	char err[512], path[PATH_MAX + 64];

	if (geteuid() != 0) {
		teardown(); /* a skipped test's .fini does not run */
		cr_skip_test("needs root to give a file away");
	}
	write_bytes("keys", "", 0, 0600);
	cr_assert_eq(chown(path_in("keys"), 65534, 65534), 0);
	cr_assert_null(authkeys_load(path_in("keys"), err, sizeof err));
	cr_assert_not_null(strstr(err, "owned by uid 65534, not by uid 0 or root"), "%s", err);

	cr_assert_eq(mkdir(path_in("sub"), 0755), 0);
	write_bytes("sub/keys", "", 0, 0600);
	snprintf(path, sizeof path, "%s", path_in("sub/keys"));
	authkeys_free(load_ok(path));
	cr_assert_eq(chown(path_in("sub"), 65534, 65534), 0);
	cr_assert_null(authkeys_load(path, err, sizeof err));
	cr_assert_not_null(strstr(err, "is owned by uid 65534"), "%s", err);
}

Test(authkeys, unreadable_file_is_an_error)
{
	char err[512];

	if (geteuid() == 0) {
		teardown(); /* a skipped test's .fini does not run */
		cr_skip_test("root reads every file");
	}
	write_bytes("keys", "", 0, 0000);
	cr_assert_null(authkeys_load(path_in("keys"), err, sizeof err));
	cr_assert_not_null(strstr(err, "Permission denied"), "%s", err);
}

Test(authkeys, null_is_harmless)
{
	authkeys_free(NULL);
	cr_assert_eq(authkeys_count(NULL), 0);
	cr_assert_not(authkeys_match(NULL, NULL));
}
