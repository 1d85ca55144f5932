/* Configuration: one table of keys yields the struct, the defaults, the INI
 * handler, the validation and the `persh serve -T` dump. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "log.h"
#include "util.h"

#define CONFIG_K UINT64_C(1024)
#define CONFIG_M (UINT64_C(1024) * 1024)

#define CONFIG_MS_S INT64_C(1000)
#define CONFIG_MS_M (INT64_C(60) * CONFIG_MS_S)
#define CONFIG_MS_H (INT64_C(60) * CONFIG_MS_M)

/* The longest line config_load takes: inih's line buffer, less the newline
 * and the NUL config_reader hands it. */
#if INI_USE_STACK
#define CONFIG_LINE_MAX (INI_MAX_LINE - 2)
#else
#define CONFIG_LINE_MAX (INI_INITIAL_ALLOC - 2)
#endif

/* One identifier per key, to index per-key data such as the line a key
 * was set on. */
enum config_id {
#define CONFIG_ID(sec, key, type, def, doc) CONFIG_ID_##sec##_##key,
	CONFIG_TABLE(CONFIG_ID)
#undef CONFIG_ID
	CONFIG_NKEYS
};
#define CONFIG_NONE CONFIG_NKEYS
#define CONFIG_KEY(sec, key) CONFIG_ID_##sec##_##key

/* Section and name of each key, in table order. */
static const struct {
	const char *section;
	const char *key;
} config_keys[] = {
#define CONFIG_NAME(sec, key, type, def, doc) { #sec, #key },
	CONFIG_TABLE(CONFIG_NAME)
#undef CONFIG_NAME
};

/* What a bad value of each type is called, and how to write a good one. */
#define CONFIG_BAD_str "bad value '%s'"
#define CONFIG_BAD_path "bad path '%s' (use an absolute path, or nothing for the default)"
#define CONFIG_BAD_name "bad name '%s' (use 1 to 64 of A-Z a-z 0-9 . _ -)"
#define CONFIG_BAD_loglevel "bad log level '%s' (use error, warn, info or debug)"
#define CONFIG_BAD_size "bad size '%s' (use bytes, or a number with K or M)"
#define CONFIG_BAD_duration \
	"bad duration '%s' (use a number with ms, s, m or h, e.g. 5s, or never)"
#define CONFIG_BAD_uint "bad number '%s' (use a non-negative integer)"
#define CONFIG_BAD_key "bad key '%s' (use ^X, C-x, a single character, or none)"
#define CONFIG_BAD_addr "bad address '%s' (use HOST:PORT, [IPv6]:PORT, or nothing)"
#define CONFIG_BAD_bool "bad value '%s' (use yes or no)"
#define CONFIG_BAD_restore "bad restore mode '%s' (use screen, replay or none)"

static const char *const config_restore_names[] = { "screen", "replay", "none" };

/* State of one config_load, shared by the reader and the handler. */
struct config_load {
	struct config *cfg;
	const char *path;
	FILE *fp;
	char *buf; /* getline buffer */
	size_t bufsize;
	int lineno;     /* line last handed to inih */
	int errline;    /* line of the first error we found, 0 if none */
	int read_errno; /* a read failed with this */
	int lines[CONFIG_NKEYS]; /* line each key was set on, 0 if not */
	char *err;
	size_t errlen;
};

/* What a cross-key check needs to name the culprit. */
struct config_check {
	const struct config *cfg;
	const char *path;  /* file being loaded, NULL from config_validate */
	const int *lines;  /* with path: line each key was set on */
	char *err;
	size_t errlen;
};

/* Write one error line: "PATH:LINE: ", "PATH: " or no prefix, then fmt. */
static void PRINTFLIKE(5, 0)
config_verror(char *err, size_t errlen, const char *path, int line, const char *fmt,
    va_list ap)
{
	int n = 0;

	if (err == NULL || errlen == 0)
		return;
	err[0] = '\0';
	if (path != NULL && line > 0)
		n = snprintf(err, errlen, "%s:%d: ", path, line);
	else if (path != NULL)
		n = snprintf(err, errlen, "%s: ", path);
	if (n >= 0 && (size_t)n < errlen)
		vsnprintf(err + n, errlen - n, fmt, ap);
}

/* config_verror with arguments. */
static void PRINTFLIKE(5, 6)
config_error(char *err, size_t errlen, const char *path, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	config_verror(err, errlen, path, line, fmt, ap);
	va_end(ap);
}

/* Record an error at the current line. Only the first counts: it stops the
 * parse, and what follows a bad line is often noise caused by it. */
static void PRINTFLIKE(2, 3)
config_load_error(struct config_load *ld, const char *fmt, ...)
{
	va_list ap;

	if (ld->errline != 0)
		return;
	ld->errline = ld->lineno;
	va_start(ap, fmt);
	config_verror(ld->err, ld->errlen, ld->path, ld->lineno, fmt, ap);
	va_end(ap);
}

/* Read the leading decimal digits of s, refusing values above max; *end is
 * left at the first non-digit. */
static int
config_parse_digits(const char *s, uint64_t max, uint64_t *n, const char **end)
{
	const char *p;
	uint64_t v = 0, d;

	for (p = s; *p >= '0' && *p <= '9'; p++) {
		d = (uint64_t)(*p - '0');
		if (v > (max - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (p == s)
		return -1;
	*n = v;
	*end = p;
	return 0;
}

/* Parse "250ms", "5s", "10m", "24h" or "never" into milliseconds. A bare
 * number is refused: 5 could mean seconds as well as milliseconds. */
int
config_parse_duration(const char *s, int64_t *ms)
{
	const char *end;
	uint64_t n;
	int64_t unit;

	if (strcmp(s, "never") == 0) {
		*ms = CONFIG_NEVER;
		return 0;
	}
	if (config_parse_digits(s, INT64_MAX, &n, &end) != 0)
		return -1;
	if (strcmp(end, "ms") == 0)
		unit = 1;
	else if (strcmp(end, "s") == 0)
		unit = CONFIG_MS_S;
	else if (strcmp(end, "m") == 0)
		unit = CONFIG_MS_M;
	else if (strcmp(end, "h") == 0)
		unit = CONFIG_MS_H;
	else
		return -1;
	if (n > (uint64_t)(INT64_MAX / unit))
		return -1;
	*ms = (int64_t)n * unit;
	return 0;
}

/* Parse bytes, or a number with K or M (binary; k and m as well). */
int
config_parse_size(const char *s, uint64_t *bytes)
{
	const char *end;
	uint64_t n, unit;

	if (config_parse_digits(s, UINT64_MAX, &n, &end) != 0)
		return -1;
	if (*end == '\0')
		unit = 1;
	else if ((*end == 'K' || *end == 'k') && end[1] == '\0')
		unit = CONFIG_K;
	else if ((*end == 'M' || *end == 'm') && end[1] == '\0')
		unit = CONFIG_M;
	else
		return -1;
	if (n > UINT64_MAX / unit)
		return -1;
	*bytes = n * unit;
	return 0;
}

/* The byte ^c sends: control of a letter or of @[\]^_, and ^? for DEL;
 * -1 if c has no control character. */
static int
config_control(int c)
{
	if (c == '?')
		return 0x7f;
	if (c >= 'a' && c <= 'z')
		c -= 'a' - 'A';
	if (c >= '@' && c <= '_')
		return c & 0x1f;
	return -1;
}

/* Parse a detach key: ^X, C-x, one printable character, or none (-1). */
int
config_parse_key(const char *s, int *key)
{
	int c;

	if (strcmp(s, "none") == 0) {
		*key = -1;
		return 0;
	}
	if (s[0] == '^' && s[1] != '\0' && s[2] == '\0')
		c = config_control((unsigned char)s[1]);
	else if (s[0] == 'C' && s[1] == '-' && s[2] != '\0' && s[3] == '\0')
		c = config_control((unsigned char)s[2]);
	else if (s[0] > ' ' && s[0] < 0x7f && s[1] == '\0') {
		/* Only printable ASCII: a space cannot be written as an INI
		 * value, and other bytes have ^X names or are not characters. */
		c = (unsigned char)s[0];
	} else
		return -1;
	if (c == -1)
		return -1;
	*key = c;
	return 0;
}

/* Format milliseconds in the largest unit that is exact. */
void
config_format_duration(int64_t ms, char *buf, size_t len)
{
	if (ms == CONFIG_NEVER)
		snprintf(buf, len, "never");
	else if (ms == 0)
		snprintf(buf, len, "0s");
	else if (ms > 0 && ms % CONFIG_MS_H == 0)
		snprintf(buf, len, "%" PRId64 "h", ms / CONFIG_MS_H);
	else if (ms > 0 && ms % CONFIG_MS_M == 0)
		snprintf(buf, len, "%" PRId64 "m", ms / CONFIG_MS_M);
	else if (ms > 0 && ms % CONFIG_MS_S == 0)
		snprintf(buf, len, "%" PRId64 "s", ms / CONFIG_MS_S);
	else
		snprintf(buf, len, "%" PRId64 "ms", ms);
}

/* Format bytes with M or K when exact, else as a plain number. */
void
config_format_size(uint64_t bytes, char *buf, size_t len)
{
	if (bytes != 0 && bytes % CONFIG_M == 0)
		snprintf(buf, len, "%" PRIu64 "M", bytes / CONFIG_M);
	else if (bytes != 0 && bytes % CONFIG_K == 0)
		snprintf(buf, len, "%" PRIu64 "K", bytes / CONFIG_K);
	else
		snprintf(buf, len, "%" PRIu64, bytes);
}

/* Format a key the way config_parse_key reads it back. */
void
config_format_key(int key, char *buf, size_t len)
{
	if (key == -1)
		snprintf(buf, len, "none");
	else if (key == 0x7f)
		snprintf(buf, len, "^?");
	else if (key >= 0 && key < 0x20)
		snprintf(buf, len, "^%c", key | 0x40);
	else if (key > ' ' && key < 0x7f)
		snprintf(buf, len, "%c", key);
	else {
		/* Not something the parser produces; make it visibly bad so a
		 * dump of it fails to load rather than changing meaning. */
		snprintf(buf, len, "<0x%x>", (unsigned)key);
	}
}

/*
 * Per-type setters: parse s into *p, 0 or -1. On failure *p is untouched.
 */

/* Free text. */
static int
config_set_str(char **p, const char *s)
{
	free(*p);
	*p = xstrdup(s);
	return 0;
}

/* Empty (the built-in choice) or absolute: a relative path would depend on
 * the daemon's working directory, which is /. */
static int
config_set_path(char **p, const char *s)
{
	if (*s != '\0' && *s != '/')
		return -1;
	return config_set_str(p, s);
}

/* A session name. */
static int
config_set_name(char **p, const char *s)
{
	if (!name_valid(s, strlen(s)))
		return -1;
	return config_set_str(p, s);
}

/* Split "HOST:PORT" or "[V6]:PORT"; 0 or -1. */
int
config_parse_addr(const char *s, char *host, size_t hostlen, unsigned *port)
{
	const char *colon, *h = s;
	size_t hlen;
	char *end;
	unsigned long p;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL || close[1] != ':')
			return -1;
		h = s + 1;
		hlen = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL || memchr(s, ':', (size_t)(colon - s)) != NULL)
			return -1;
		hlen = (size_t)(colon - s);
	}
	if (hlen == 0 || hlen >= hostlen || colon[1] < '0' || colon[1] > '9')
		return -1;
	errno = 0;
	p = strtoul(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || p == 0 || p > 65535)
		return -1;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	*port = (unsigned)p;
	return 0;
}

/* Empty, or an address config_parse_addr accepts. */
static int
config_set_addr(char **p, const char *s)
{
	char host[256];
	unsigned port;

	if (s[0] != '\0' && config_parse_addr(s, host, sizeof host, &port) == -1)
		return -1;
	return config_set_str(p, s);
}

/* yes/no, true/false, on/off, 1/0. */
static int
config_set_bool(int *p, const char *s)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	for (int i = 0; i < 4; i++) {
		if (strcmp(s, yes[i]) == 0 || strcmp(s, no[i]) == 0) {
			*p = strcmp(s, yes[i]) == 0;
			return 0;
		}
	}
	return -1;
}

/* screen, replay or none. */
static int
config_set_restore(int *p, const char *s)
{
	for (int i = 0; i < 3; i++) {
		if (strcmp(s, config_restore_names[i]) == 0) {
			*p = i;
			return 0;
		}
	}
	return -1;
}

/* error, warn, info or debug. */
static int
config_set_loglevel(int *p, const char *s)
{
	int level = log_level_parse(s);

	if (level == -1)
		return -1;
	*p = level;
	return 0;
}

/* Bytes. */
static int
config_set_size(uint64_t *p, const char *s)
{
	return config_parse_size(s, p);
}

/* Milliseconds or never. */
static int
config_set_duration(int64_t *p, const char *s)
{
	return config_parse_duration(s, p);
}

/* Plain decimal, no sign, that fits an unsigned. */
static int
config_set_uint(unsigned *p, const char *s)
{
	const char *end;
	uint64_t n;

	if (config_parse_digits(s, UINT_MAX, &n, &end) != 0 || *end != '\0')
		return -1;
	*p = (unsigned)n;
	return 0;
}

/* A detach key. */
static int
config_set_key(int *p, const char *s)
{
	return config_parse_key(s, p);
}

/*
 * Per-type display: the value as written in a file. Strings are returned
 * as they are; other types are formatted into buf.
 */

/* Text needs no formatting. */
static const char *
config_show_str(const char *v, char *buf, size_t len)
{
	(void)buf;
	(void)len;
	return v;
}
#define config_show_path config_show_str
#define config_show_addr config_show_str
#define config_show_name config_show_str

/* A level by name. */
static const char *
config_show_loglevel(int v, char *buf, size_t len)
{
	(void)buf;
	(void)len;
	return log_level_name(v);
}

/* yes or no. */
static const char *
config_show_bool(int v, char *buf, size_t len)
{
	(void)buf;
	(void)len;
	return v ? "yes" : "no";
}

/* A restore mode by name. */
static const char *
config_show_restore(int v, char *buf, size_t len)
{
	(void)buf;
	(void)len;
	return v >= 0 && v < 3 ? config_restore_names[v] : "?";
}

/* Bytes with K or M. */
static const char *
config_show_size(uint64_t v, char *buf, size_t len)
{
	config_format_size(v, buf, len);
	return buf;
}

/* A duration with its unit. */
static const char *
config_show_duration(int64_t v, char *buf, size_t len)
{
	config_format_duration(v, buf, len);
	return buf;
}

/* Decimal. */
static const char *
config_show_uint(unsigned v, char *buf, size_t len)
{
	snprintf(buf, len, "%u", v);
	return buf;
}

/* ^X notation. */
static const char *
config_show_key(int v, char *buf, size_t len)
{
	config_format_key(v, buf, len);
	return buf;
}

/* Per-type release: only strings own memory. */
static void
config_clear_str(char **p)
{
	free(*p);
	*p = NULL;
}
#define config_clear_path config_clear_str
#define config_clear_addr config_clear_str
#define config_clear_name config_clear_str
#define config_clear_loglevel(p) ((void)(p))
#define config_clear_restore(p) ((void)(p))
#define config_clear_bool(p) ((void)(p))
#define config_clear_size(p) ((void)(p))
#define config_clear_duration(p) ((void)(p))
#define config_clear_uint(p) ((void)(p))
#define config_clear_key(p) ((void)(p))

/* The value of one key as it would be written in a file. */
static const char *
config_value(const struct config *cfg, enum config_id id, char *buf, size_t len)
{
	switch (id) {
#define CONFIG_SHOW(sec, key, type, def, doc) \
	case CONFIG_KEY(sec, key):            \
		return config_show_##type(cfg->sec##_##key, buf, len);
	CONFIG_TABLE(CONFIG_SHOW)
#undef CONFIG_SHOW
	case CONFIG_NKEYS:
		break;
	}
	return "";
}

/* 1 if some key of the table lives in section. */
static int
config_section_known(const char *section)
{
	for (size_t i = 0; i < CONFIG_NKEYS; i++)
		if (strcmp(config_keys[i].section, section) == 0)
			return 1;
	return 0;
}

/* A built-in default that does not parse is a bug in the table. */
static void __attribute__((noreturn))
config_bad_default(const char *section, const char *key, const char *def)
{
	fprintf(stderr, "persh: bad built-in default [%s] %s = '%s'\n", section, key, def);
	abort();
}

/* A configuration holding every built-in default. */
struct config *
config_new(void)
{
	struct config *cfg = xcalloc(1, sizeof *cfg);

#define CONFIG_DEFAULT(sec, key, type, def, doc)                \
	if (config_set_##type(&cfg->sec##_##key, def) != 0) \
		config_bad_default(#sec, #key, def);
	CONFIG_TABLE(CONFIG_DEFAULT)
#undef CONFIG_DEFAULT
	return cfg;
}

/* Free a configuration and the strings it owns. */
void
config_free(struct config *cfg)
{
	if (cfg == NULL)
		return;
#define CONFIG_CLEAR(sec, key, type, def, doc) config_clear_##type(&cfg->sec##_##key);
	CONFIG_TABLE(CONFIG_CLEAR)
#undef CONFIG_CLEAR
	free(cfg);
}

/*
 * inih reader: hands inih one line at a time so we always know the current
 * line (Debian builds inih without INI_HANDLER_LINENO), and checks what
 * inih cannot tell us about.
 */
static char *
config_reader(char *str, int num, void *stream)
{
	struct config_load *ld = stream;
	ssize_t n;
	size_t len;
	char *s, *end;
	int known;

	/* Stop at our first error; see config_load_error. */
	if (ld->errline != 0 || ld->read_errno != 0)
		return NULL;
	errno = 0;
	n = getline(&ld->buf, &ld->bufsize, ld->fp);
	if (n == -1) {
		if (ferror(ld->fp))
			ld->read_errno = errno != 0 ? errno : EIO;
		return NULL;
	}
	ld->lineno++;
	s = ld->buf;
	if (memchr(s, '\0', (size_t)n) != NULL) {
		config_load_error(ld, "NUL byte in line");
		return NULL;
	}
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
	if (ld->lineno == 1 && strncmp(s, "\xef\xbb\xbf", 3) == 0)
		s += 3;
	/* inih reads an indented line after a key as a continuation of that
	 * key's value; here indentation means nothing, so strip it. */
	while (isspace((unsigned char)*s))
		s++;
	len = strlen(s);
	/* inih gets the line with its newline, else a line that fills its
	 * buffer exactly looks cut and inih swallows the next one. */
	if (num < 2 || len > (size_t)num - 2) {
		config_load_error(ld, "line too long (at most %d characters)", num - 2);
		return NULL;
	}

	/* inih calls the handler for keys only, so a section with no keys
	 * would slip through unchecked: check each header as it goes by. */
	if (*s == '[' && (end = strchr(s + 1, ']')) != NULL) {
		*end = '\0';
		known = config_section_known(s + 1);
		if (!known)
			config_load_error(ld, "unknown section [%s]", s + 1);
		*end = ']';
		if (!known)
			return NULL;
	}

	memcpy(str, s, len);
	str[len] = '\n';
	str[len + 1] = '\0';
	return str;
}

/* inih handler: set one key. A key set twice keeps its later value, as the
 * last word in a file is the one its author sees. */
static int
#if INI_HANDLER_LINENO
config_handler(void *user, const char *section, const char *name, const char *value, int lineno)
#else
config_handler(void *user, const char *section, const char *name, const char *value)
#endif
{
	struct config_load *ld = user;
	struct config *cfg = ld->cfg;

#if INI_HANDLER_LINENO
	(void)lineno; /* the reader counts lines */
#endif
	if (ld->errline != 0)
		return 0;
	/* Builds of inih with INI_CALL_HANDLER_ON_NEW_SECTION report section
	 * headers this way; the reader has checked them already. */
	if (name == NULL && value == NULL)
		return 1;
	/* INI_ALLOW_NO_VALUE builds pass a line without '=' with no value. */
	if (value == NULL) {
		config_load_error(ld, "syntax error");
		return 0;
	}
	if (*section == '\0') {
		config_load_error(ld, "key '%s' outside any section", name);
		return 0;
	}

#define CONFIG_HANDLE(sec, key, type, def, doc)                                          \
	if (strcmp(section, #sec) == 0 && strcmp(name, #key) == 0) {                     \
		if (config_set_##type(&cfg->sec##_##key, value) != 0) {                  \
			config_load_error(ld, "[%s] %s: " CONFIG_BAD_##type, section, name, \
			    value);                                                      \
			return 0;                                                        \
		}                                                                        \
		ld->lines[CONFIG_KEY(sec, key)] = ld->lineno;                            \
		return 1;                                                                \
	}
	CONFIG_TABLE(CONFIG_HANDLE)
#undef CONFIG_HANDLE

	if (!config_section_known(section))
		config_load_error(ld, "unknown section [%s]", section);
	else
		config_load_error(ld, "unknown key '%s' in [%s]", name, section);
	return 0;
}

/* Describe a key and its value for a message: "[heartbeat] timeout (5s)". */
static void
config_describe(const struct config *cfg, enum config_id id, char *buf, size_t len)
{
	char value[64];

	snprintf(buf, len, "[%s] %s (%s)", config_keys[id].section, config_keys[id].key,
	    config_value(cfg, id, value, sizeof value));
}

/* Fail a check on key a ("[s] a (v) what") or on a against b ("[s] a (v)
 * what [s] b (v)"). When loading a file, point at the line that set a, or
 * else b; with neither set in the file, name just the file. */
static int
config_fail(struct config_check *cc, enum config_id a, const char *what, enum config_id b)
{
	char da[256], db[256];
	int line = 0;

	if (cc->path != NULL) {
		line = cc->lines[a];
		if (line == 0 && b != CONFIG_NONE)
			line = cc->lines[b];
	}
	config_describe(cc->cfg, a, da, sizeof da);
	if (b == CONFIG_NONE) {
		config_error(cc->err, cc->errlen, cc->path, line, "%s %s", da, what);
		return -1;
	}
	config_describe(cc->cfg, b, db, sizeof db);
	config_error(cc->err, cc->errlen, cc->path, line, "%s %s %s", da, what, db);
	return -1;
}

/* The [relay] checks. The target is fixed by the configuration (the relay
 * is no open proxy), so a bad one is caught here rather than per stream. */
static int
config_check_relay(struct config_check *cc)
{
	const struct config *cfg = cc->cfg;
	char host[256];
	unsigned port;

	if (strcmp(cfg->relay_target, "ssh") != 0 &&
	    config_parse_addr(cfg->relay_target, host, sizeof host, &port) == -1)
		return config_fail(cc, CONFIG_KEY(relay, target),
		    "must be HOST:PORT, [IPv6]:PORT or ssh", CONFIG_NONE);
	if (cfg->relay_listen[0] != '\0' && strcmp(cfg->relay_target, "ssh") == 0 &&
	    cfg->ssh_listen[0] == '\0')
		return config_fail(cc, CONFIG_KEY(relay, target), "needs an address in",
		    CONFIG_KEY(ssh, listen));
	/* Less than a frame or two would stall a bulk transfer on every ack. */
	if (cfg->relay_buffer < 64 * CONFIG_K || cfg->relay_buffer > 1024 * CONFIG_M)
		return config_fail(cc, CONFIG_KEY(relay, buffer), "must be between 64K and 1024M",
		    CONFIG_NONE);
	/* A stream kept forever would hold its target connection forever. */
	if (cfg->relay_resume_window == CONFIG_NEVER || cfg->relay_resume_window <= 0)
		return config_fail(cc, CONFIG_KEY(relay, resume_window),
		    "must be more than 0 (it cannot be never)", CONFIG_NONE);
	if (cfg->relay_max_streams < 1)
		return config_fail(cc, CONFIG_KEY(relay, max_streams), "must be at least 1",
		    CONFIG_NONE);
	return 0;
}

/* Every check that one value or a pair of values must pass: in one place,
 * so that config_load and config_validate agree. */
static int
config_check(struct config_check *cc)
{
	const struct config *cfg = cc->cfg;

	/* A ring smaller than a page cannot hold one full-screen redraw;
	 * more than 1G per session is surely a slip of the finger. The bounds
	 * are repeated in words because the messages are meant for people. */
	if (cfg->session_scrollback < 4 * CONFIG_K || cfg->session_scrollback > 1024 * CONFIG_M)
		return config_fail(cc, CONFIG_KEY(session, scrollback),
		    "must be between 4K and 1024M", CONFIG_NONE);
	if (cfg->session_client_buffer < 4 * CONFIG_K)
		return config_fail(cc, CONFIG_KEY(session, client_buffer), "must be at least 4K",
		    CONFIG_NONE);
	/* A client further behind than the ring reaches could not catch up
	 * from it anyway. */
	if (cfg->session_client_buffer > cfg->session_scrollback)
		return config_fail(cc, CONFIG_KEY(session, client_buffer), "must be at most",
		    CONFIG_KEY(session, scrollback));
	if (cfg->ssh_keepalive_count < 1)
		return config_fail(cc, CONFIG_KEY(ssh, keepalive_count), "must be at least 1",
		    CONFIG_NONE);
	if (cfg->ssh_keepalive_interval == CONFIG_NEVER || cfg->ssh_keepalive_interval < 100)
		return config_fail(cc, CONFIG_KEY(ssh, keepalive_interval),
		    "must be at least 100ms (keepalives cannot be turned off)", CONFIG_NONE);
	if (cfg->ssh_login_grace == CONFIG_NEVER || cfg->ssh_login_grace <= 0)
		return config_fail(cc, CONFIG_KEY(ssh, login_grace), "must be more than 0",
		    CONFIG_NONE);
	if (cfg->client_reconnect_base == CONFIG_NEVER || cfg->client_reconnect_base <= 0)
		return config_fail(cc, CONFIG_KEY(client, reconnect_base), "must be more than 0",
		    CONFIG_NONE);
	if (cfg->client_reconnect_max == CONFIG_NEVER ||
	    cfg->client_reconnect_max < cfg->client_reconnect_base)
		return config_fail(cc, CONFIG_KEY(client, reconnect_max), "must be at least",
		    CONFIG_KEY(client, reconnect_base));
	if (cfg->session_max_sessions < 1)
		return config_fail(cc, CONFIG_KEY(session, max_sessions), "must be at least 1",
		    CONFIG_NONE);
	/* 0 would drop clients the moment the shell pauses; never keeps the
	 * shell paused until the clients drain, as a real terminal would. */
	if (cfg->session_stall_timeout != CONFIG_NEVER && cfg->session_stall_timeout <= 0)
		return config_fail(cc, CONFIG_KEY(session, stall_timeout),
		    "must be more than 0, or never", CONFIG_NONE);

	/* Heartbeats are how a dead link is noticed at all: they cannot be
	 * turned off. */
	if (cfg->heartbeat_interval == CONFIG_NEVER)
		return config_fail(cc, CONFIG_KEY(heartbeat, interval), "cannot be never",
		    CONFIG_NONE);
	if (cfg->heartbeat_interval <= 0)
		return config_fail(cc, CONFIG_KEY(heartbeat, interval), "must be more than 0",
		    CONFIG_NONE);
	if (cfg->heartbeat_timeout == CONFIG_NEVER)
		return config_fail(cc, CONFIG_KEY(heartbeat, timeout), "cannot be never",
		    CONFIG_NONE);
	/* The timeout travels in HELLO as 32-bit milliseconds. */
	if (cfg->heartbeat_timeout > 24 * 3600 * 1000)
		return config_fail(cc, CONFIG_KEY(heartbeat, timeout), "must be at most 24h",
		    CONFIG_NONE);
	/* One late heartbeat must not drop a live peer. Halving the timeout
	 * rather than doubling the interval cannot overflow. */
	if (cfg->heartbeat_timeout / 2 < cfg->heartbeat_interval)
		return config_fail(cc, CONFIG_KEY(heartbeat, timeout), "must be at least twice",
		    CONFIG_KEY(heartbeat, interval));
	return config_check_relay(cc);
}

/* Checks across keys (e.g. heartbeat timeout vs interval). -1 with err. */
int
config_validate(const struct config *cfg, char *err, size_t errlen)
{
	struct config_check cc = { cfg, NULL, NULL, err, errlen };

	return config_check(&cc);
}

/* Read an INI file over cfg and check the result. */
int
config_load(struct config *cfg, const char *path, char *err, size_t errlen)
{
	struct config_load ld;
	struct config_check cc;
	int ret, rv = -1;

	memset(&ld, 0, sizeof ld);
	ld.cfg = cfg;
	ld.path = path;
	ld.err = err;
	ld.errlen = errlen;
	if ((ld.fp = fopen(path, "re")) == NULL) {
		config_error(err, errlen, path, 0, "cannot read: %s", strerror(errno));
		return -1;
	}

	ret = ini_parse_stream(config_reader, &ld, config_handler, &ld);
	/* inih returns the first line it could not parse, or the first line
	 * our handler refused; we stopped reading at our own first error. So
	 * an earlier line from inih is a syntax error we have not seen. */
	if (ret > 0 && (ld.errline == 0 || ret < ld.errline)) {
		config_error(err, errlen, path, ret, "syntax error");
		goto out;
	}
	if (ld.errline != 0)
		goto out;
	if (ld.read_errno != 0) {
		config_error(err, errlen, path, 0, "cannot read: %s", strerror(ld.read_errno));
		goto out;
	}
	if (ret < 0) {
		config_error(err, errlen, path, 0, "cannot parse: out of memory");
		goto out;
	}

	cc.cfg = cfg;
	cc.path = path;
	cc.lines = ld.lines;
	cc.err = err;
	cc.errlen = errlen;
	if (config_check(&cc) != 0)
		goto out;
	rv = 0;
out:
	free(ld.buf);
	fclose(ld.fp);
	return rv;
}

/* Write one "key = value" line. */
static void
config_dump_key(FILE *fp, const char *key, const char *value)
{
	/* A value that filled a line as "key=value" must be written so again,
	 * or the line is too long to load back. inih takes " ;" as the start
	 * of a comment, so a value beginning with ';' must follow the '='
	 * directly to survive a reload. */
	if (*value == '\0')
		fprintf(fp, "%s =\n", key);
	else if (strlen(key) + strlen(" = ") + strlen(value) > CONFIG_LINE_MAX)
		fprintf(fp, "%s=%s\n", key, value);
	else if (*value == ';')
		fprintf(fp, "%s =%s\n", key, value);
	else
		fprintf(fp, "%s = %s\n", key, value);
}

/* Print the effective configuration as a valid INI file: every section once
 * with all its keys, in table order. Any configuration config_load produced
 * reads back from it unchanged. */
void
config_dump(const struct config *cfg, FILE *fp)
{
	char buf[64];
	size_t i, j;

	fputs("# persh: effective configuration\n", fp);
	for (i = 0; i < CONFIG_NKEYS; i++) {
		for (j = 0; j < i; j++)
			if (strcmp(config_keys[j].section, config_keys[i].section) == 0)
				break;
		if (j < i)
			continue; /* section already printed */
		fprintf(fp, "\n[%s]\n", config_keys[i].section);
		for (j = i; j < CONFIG_NKEYS; j++) {
			if (strcmp(config_keys[j].section, config_keys[i].section) != 0)
				continue;
			config_dump_key(fp, config_keys[j].key,
			    config_value(cfg, (enum config_id)j, buf, sizeof buf));
		}
	}
}
