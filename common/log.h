/*
 * Logging: one line per event on stderr, "id=SESSION key=value ...".
 * Each line is written with a single write(2), so lines from several
 * worker threads never interleave.
 */
#ifndef LOG_H
#define LOG_H

#define LOG_ERROR	0
#define LOG_WARN	1
#define LOG_INFO	2
#define LOG_DEBUG	3

#define LOG_ID_LEN	16		/* hex digits in a session id */

extern int log_level;

/* Set the threshold: lines above `level` are dropped. */
void log_set_level(int level);

/*
 * Log one event.  `id` is the session id ("-" for process events).
 * `fmt` formats the key=value pairs after the id; warnings and errors
 * get "level=warn" / "level=error" after the id.  Lines are bounded
 * (longer ones are truncated, never split).
 */
void log_event(int level, const char *id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(id, ...) do {					\
	if (log_level >= LOG_DEBUG)					\
		log_event(LOG_DEBUG, id, __VA_ARGS__);			\
} while (0)

/* Fill id[LOG_ID_LEN + 1] with a fresh random session id.  Thread-safe. */
void log_new_id(char *id);

/*
 * Make `in` safe as a log value: printable ASCII only, no spaces or
 * quotes (replaced by '_' / '?'), at most outcap - 1 bytes.  Returns out.
 */
char *log_safe(const char *in, size_t inlen, char *out, size_t outcap);

/*
 * Make `in` safe inside a quoted log value: printable ASCII, spaces
 * kept, '"' and '\\' and anything else replaced by '?'.  Returns out.
 */
char *log_quote(const char *in, char *out, size_t outcap);

/* Fatal start-up error: log it and exit(1).  Only before the loops run. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
