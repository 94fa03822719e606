/* error.c — thread-local failure messages behind gnf_last_error(). */
#include "core.h"
#include <stdarg.h>
#include <stdio.h>

static _Thread_local char g_msg[1024];

gnf_status gnf_fail(gnf_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_msg, sizeof g_msg, fmt, ap);
    va_end(ap);
    return s;
}

void gnf_clear_error(void) { g_msg[0] = 0; }

const char *gnf_last_error(void) { return g_msg; }

const char *gnf_status_name(gnf_status s) {
    switch (s) {
    case GNF_OK: return "ok";
    case GNF_ERR_IO: return "I/O error";
    case GNF_ERR_FORMAT: return "corrupt or malformed input";
    case GNF_ERR_UNSUPPORTED: return "unsupported input";
    case GNF_ERR_NOMEM: return "out of memory";
    case GNF_ERR_INVALID: return "invalid value";
    case GNF_ERR_DIVERGED: return "training diverged";
    }
    return "unknown status";
}
