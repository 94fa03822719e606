/* common.c — messages and helpers the verbs share. */
#include "cli.h"
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

const char *g_verb = "gnf";
volatile sig_atomic_t g_signal, g_soft;

const char *signal_name(int sig) { return sig == SIGTERM ? "SIGTERM" : sig == SIGINT ? "SIGINT" : "a signal"; }

/* Appends s to buf[*n..cap) without the C library (async-signal-safe). */
static void put_str(char *buf, size_t *n, size_t cap, const char *s) {
    while (*s && *n + 1 < cap) buf[(*n)++] = *s++;
}

static void on_signal(int sig) {
    if (g_soft && !g_signal) { /* gnf fit: stop at the next step boundary, then save */
        g_signal = sig;
        return;
    }
    gnf_remove_partial_outputs();
    char msg[256];
    size_t n = 0;
    put_str(msg, &n, sizeof msg, g_verb);
    put_str(msg, &n, sizeof msg, sig == SIGTERM ? ": terminated (SIGTERM)" : ": interrupted (SIGINT)");
    put_str(msg, &n, sizeof msg, g_soft ? " again: stopped at once" : "");
    put_str(msg, &n, sizeof msg, "; no partial output left\n");
    ssize_t w = write(2, msg, n);
    (void)w;
    _exit(128 + sig);
}

void cli_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGXFSZ, SIG_IGN);
}

long long available_memory(const char **what) {
    long long avail = -1;
    *what = "unknown";
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "MemAvailable:", 13)) {
            avail = atoll(line + 13) * 1024;
            *what = "MemAvailable in /proc/meminfo";
        }
    if (f) fclose(f);
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        long long used = 0, pages = 0;
        FILE *s = fopen("/proc/self/statm", "r");
        if (s && fscanf(s, "%lld", &pages) == 1) used = pages * sysconf(_SC_PAGESIZE);
        if (s) fclose(s);
        long long left = (long long)rl.rlim_cur - used;
        if (left < 0) left = 0;
        if (avail < 0 || left < avail) {
            avail = left;
            *what = "the address-space limit, ulimit -v";
        }
    }
    return avail;
}

int usage_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", g_verb);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see '%s --help')\n", g_verb);
    va_end(ap);
    return EXIT_USAGE;
}

int runtime_error(void) { return fail("%s", gnf_last_error()); }

int fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: error: ", g_verb);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return EXIT_RUNTIME;
}

int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

long file_size(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 ? (long)st.st_size : -1;
}

const char *default_output(const char *input, char *buf, size_t n) {
    const char *base = strrchr(input, '/');
    snprintf(buf, n, "%s", base ? base + 1 : input);
    char *dot = strrchr(buf, '.');
    if (dot) *dot = 0;
    strncat(buf, ".gnf", n - strlen(buf) - 1);
    return buf;
}

gnf_status crop_center(gnf_image *img, int cw, int ch) {
    if (cw > img->w || ch > img->h) return GNF_ERR_INVALID;
    gnf_image out;
    gnf_status s = gnf_image_alloc(&out, cw, ch, img->c);
    if (s != GNF_OK) return s;
    int x0 = (img->w - cw) / 2, y0 = (img->h - ch) / 2;
    for (int i = 0; i < ch; i++)
        memcpy(out.px + (size_t)i * cw * img->c, img->px + ((size_t)(y0 + i) * img->w + x0) * img->c, sizeof(float) * (size_t)cw * img->c);
    gnf_image_free(img);
    *img = out;
    return GNF_OK;
}

void describe_model(FILE *f, const gnf_model *m) {
    static const char *basis[] = {"gaussian", "imq", "mq"};
    const gnf_model_config *c = gnf_model_get_config(m);
    if (c->encoding == GNF_ENC_HASH)
        fprintf(f, "encoding: %dD hash grids (2^%d entries per level), %d levels, resolutions", c->in_dim, c->hash_log2, c->levels);
    else
        fprintf(f, "encoding: dense %dD grids, %d levels, resolutions", c->in_dim, c->levels);
    for (int l = 0; l < c->levels; l++) fprintf(f, "%s%d", l ? "," : " ", c->res[l]);
    fprintf(f, ", features");
    for (int l = 0; l < c->levels; l++) fprintf(f, "%s%d", l ? "," : " ", c->feat[l]);
    fprintf(f, "\n");
    if (c->decoder == GNF_DEC_RBF)
        fprintf(f, "decoder: RBF, K = %d %s neurons, %d outputs\n", c->rbf_k, basis[c->basis], c->out_dim);
    else
        fprintf(f, "decoder: MLP, %d hidden layers of %d (ReLU), %d outputs\n", c->mlp_layers, c->mlp_hidden, c->out_dim);
}
