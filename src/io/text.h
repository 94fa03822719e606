/* text.h — text formats: a bounds-checked scanner (the mesh readers) with locale-independent
 * numbers, words and a line-counting cursor whose failures name the input and the line (nothing
 * reads at or past `end`, so buffers need no terminator); and the JSON parse that the model and
 * scene readers share.  Internal to libgnf. */
#ifndef GNF_IO_TEXT_H
#define GNF_IO_TEXT_H

#include "core/core.h"
#include <stddef.h>

static inline int is_digit(char c) { return c >= '0' && c <= '9'; }
static inline int is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }
static inline int is_space(char c) { return is_blank(c) || c == '\n'; }

extern const double gnf_pow10[23]; /* 1e0 .. 1e22, all exact */

/* Case-insensitive comparison of the n bytes at s with the NUL-terminated lower-case word w. */
int gnf_word_is(const char *s, size_t n, const char *w);
/* The token at p (up to whitespace, at most 24 bytes, "..." if longer) with non-printable bytes
 * as '?', in buf: for messages that quote the input without trusting it. */
const char *gnf_show(char buf[32], const char *p, const char *end);
/* Scans a decimal number ([sign] digits [. digits] [e [sign] digits]) or nan/inf/infinity at s;
 * returns the position after it, or NULL if there is none.  Callers check what follows. */
const char *gnf_scan_double(const char *s, const char *end, double *out);
/* Scans [sign] digits, saturating at +-10^18; NULL if there are no digits. */
const char *gnf_scan_long(const char *s, const char *end, long long *out);

typedef struct {
    const char *path;    /* the name used in messages */
    const char *p, *end; /* end: one past the data */
    long line;           /* 1-based line of p */
} gnf_text;

void gnf_text_blank(gnf_text *t);            /* skips blanks on the line */
void gnf_text_next_line(gnf_text *t);        /* to the start of the next line (or the end) */
void gnf_text_space(gnf_text *t, int hash);  /* whitespace across lines; '#' comments if hash */
int gnf_text_eol(gnf_text *t);               /* after blanks: at the end of the line or data? */
/* The whitespace-delimited word at p on the current line (length 0 at the end of the line). */
size_t gnf_text_word(gnf_text *t, const char **w);
/* GNF_ERR_FORMAT "path:line: expected <what>, found ..." */
gnf_status gnf_text_expected(gnf_text *t, const char *what);
/* A number / an integer on the current line, ending at whitespace or the end of the data. */
gnf_status gnf_text_double(gnf_text *t, double *v, const char *what);
gnf_status gnf_text_long(gnf_text *t, long long *v, const char *what);
/* A coordinate: a number that is finite as a float. */
gnf_status gnf_text_coord(gnf_text *t, float *c);

/* Parses txt[0..n) (NUL-terminated at n) into *root: one JSON object with nothing but whitespace
 * after it.  GNF_ERR_FORMAT "<name>: <what> is not valid JSON (error near byte i of n)" / "has
 * extra characters" / "is not a JSON object"; cJSON's parses are serialised (its error position
 * is process-wide). */
struct cJSON;
gnf_status gnf_json_parse(const char *name, const char *what, const char *txt, size_t n, struct cJSON **root);

#endif
