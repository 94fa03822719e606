/* web.c — the browser viewer's two verbs (the viewer itself is web/, embedded by
 * tools/embed_web.sh):
 *   gnf view MODEL [--port N]          a small HTTP server on 127.0.0.1: GET of the viewer's files
 *                                      and of /model.gnf only (404 for anything else, 405 for
 *                                      other methods), until SIGINT/SIGTERM
 *   gnf export-web MODEL -o OUT.html   one self-contained HTML file: the viewer's modules as
 *                                      data: URLs of an import map, the model as base64 */
#include "cli.h"
#include "web_assets.h"
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *VIEW_HELP =
    "usage: gnf view MODEL.gnf [--port N]\n"
    "Serves the browser viewer (WebGL2) and the model on http://127.0.0.1:N/ and prints the URL;\n"
    "open it in a browser to orbit the radiance field or the SDF, or pan and zoom the image.\n"
    "Only the viewer's files and the model are served (GET only, nothing else of the disk), to\n"
    "this machine only.  Ctrl-C stops it.\n"
    "  --port N   port to listen on (default 8000; 0: any free port)\n";

static const char *EXPORT_HELP =
    "usage: gnf export-web MODEL.gnf -o OUT.html\n"
    "Writes one self-contained HTML file — the viewer and the model embedded — that works offline\n"
    "(opened from disk) and from any static web host.\n"
    "  -o, --output PATH   the HTML file to write\n";

/* The embedded file called name, or NULL. */
static const gnf_web_asset *asset(const char *name) {
    for (const gnf_web_asset *a = gnf_web_assets; a->name; a++)
        if (!strcmp(a->name, name)) return a;
    return NULL;
}

/* Reads the whole file at path into *buf (malloc'd) after checking that it loads as a model, so
 * a bad file is refused here with the loader's message.  0 or the exit code. */
/* An argument that is not an option of the verb: the MODEL (at most one), else a usage error
 * (its exit code is returned; 0 when taken). */
static int model_arg(const char *arg, const char **model_path) {
    if (arg[0] == '-' && arg[1]) return usage_error("unknown option %s", arg);
    if (*model_path) return usage_error("one MODEL only");
    *model_path = arg;
    return 0;
}

static int read_model(const char *path, unsigned char **buf, size_t *n) {
    gnf_model *m = NULL;
    if (gnf_model_load(path, &m) != GNF_OK) return runtime_error();
    gnf_model_free(m);
    long sz = file_size(path);
    FILE *f = fopen(path, "rb");
    *buf = sz >= 0 ? malloc((size_t)sz + 1) : NULL;
    int rc = 0;
    if (!f || sz < 0) rc = fail("%s: %s", path, strerror(errno));
    else if (!*buf) rc = fail("%s: out of memory", path);
    else if (fread(*buf, 1, (size_t)sz, f) != (size_t)sz) rc = fail("%s: read failed", path);
    if (f) fclose(f);
    if (rc) { free(*buf); *buf = NULL; }
    *n = (size_t)sz;
    return rc;
}

/* The file name part of path. */
static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* ---- gnf view --------------------------------------------------------------------------------- */

/* Sends all n bytes (no SIGPIPE when the browser went away); 0 or -1. */
static int send_all(int fd, const void *p, size_t n) {
    const char *c = p;
    while (n) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

static void respond(int fd, int code, const char *reason, const char *type, const char *extra, const void *body, size_t n) {
    char head[512];
    int k = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nCache-Control: no-store\r\n"
                     "X-Content-Type-Options: nosniff\r\n%sConnection: close\r\n\r\n", code, reason, type, n, extra ? extra : "");
    if (send_all(fd, head, (size_t)k) == 0 && n) send_all(fd, body, n);
}

/* Answers the request whose head is req (NUL-terminated) on fd: the file, or an error. */
static void answer(int fd, char *req, const unsigned char *model, size_t model_n, const char *model_name) {
    char method[16], target[1024];
    const char *text = "text/plain; charset=utf-8";
    if (sscanf(req, "%15s %1023s HTTP/1.%*d", method, target) != 2) {
        respond(fd, 400, "Bad Request", text, NULL, "bad request\n", 12);
        return;
    }
    if (strcmp(method, "GET")) {
        respond(fd, 405, "Method Not Allowed", text, "Allow: GET\r\n", "only GET\n", 9);
        return;
    }
    char *q = strchr(target, '?');
    if (q) *q = 0;
    const char *path = !strcmp(target, "/") ? "/index.html" : target;
    const gnf_web_asset *a = path[0] == '/' && !strchr(path + 1, '/') ? asset(path + 1) : NULL;
    if (!strcmp(path, "/model.gnf")) {
        char extra[600];
        snprintf(extra, sizeof extra, "Content-Disposition: inline; filename=\"%s\"\r\n", model_name);
        respond(fd, 200, "OK", "application/octet-stream", extra, model, model_n);
    } else if (a) {
        respond(fd, 200, "OK", a->type, NULL, a->data, a->size);
    } else {
        respond(fd, 404, "Not Found", text, NULL, "not found\n", 10);
    }
}

/* A connection whose request head is being read.  Several are read side by side, so a browser's
 * idle pre-opened connection does not hold up the others; each has REQ_TIMEOUT seconds. */
#define MAX_CLIENTS 32
#define REQ_TIMEOUT 10.0
typedef struct { int fd; size_t n; double t0; char req[8192]; } client;

/* Serves until SIGINT/SIGTERM (g_signal): accepts on s, reads request heads, answers each. */
static void serve(int s, const unsigned char *model, size_t model_n, const char *model_name) {
    static client cl[MAX_CLIENTS];
    int nc = 0;
    while (!g_signal) {
        struct pollfd p[MAX_CLIENTS + 1];
        p[0] = (struct pollfd){s, POLLIN, 0};
        for (int i = 0; i < nc; i++) p[i + 1] = (struct pollfd){cl[i].fd, POLLIN, 0};
        int r = poll(p, (nfds_t)nc + 1, 250);
        double now = gnf_now();
        for (int i = nc - 1; i >= 0; i--) {
            client *c = &cl[i];
            int done = 0;
            if (r > 0 && (p[i + 1].revents & (POLLIN | POLLHUP | POLLERR))) {
                ssize_t k = recv(c->fd, c->req + c->n, sizeof c->req - 1 - c->n, 0);
                if (k <= 0 && !(k < 0 && errno == EINTR)) done = 1;
                else if (k > 0) {
                    c->n += (size_t)k;
                    c->req[c->n] = 0; /* a NUL byte inside the request only ends the search early */
                    if (strstr(c->req, "\r\n\r\n") || c->n == sizeof c->req - 1) {
                        answer(c->fd, c->req, model, model_n, model_name);
                        done = 1;
                    }
                }
            }
            if (!done && now - c->t0 > REQ_TIMEOUT) done = 1;
            if (done) {
                close(c->fd);
                cl[i] = cl[--nc];
            }
        }
        if (r > 0 && (p[0].revents & POLLIN)) {
            int fd = accept(s, NULL, NULL);
            if (fd >= 0 && nc == MAX_CLIENTS) close(fd);
            else if (fd >= 0) {
                cl[nc].fd = fd;
                cl[nc].n = 0;
                cl[nc].t0 = now;
                cl[nc].req[0] = 0;
                nc++;
            }
        }
    }
    for (int i = 0; i < nc; i++) close(cl[i].fd);
}

int cmd_view(int argc, char **argv) {
    g_verb = "gnf view";
    const char *model_path = NULL;
    long port = 8000;
    int rc;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { fputs(VIEW_HELP, stdout); return 0; }
        if (!strcmp(argv[i], "--port")) {
            char *e;
            if (i + 1 >= argc) return usage_error("--port needs a number");
            port = strtol(argv[++i], &e, 10);
            if (*e || e == argv[i] || port < 0 || port > 65535) return usage_error("--port %s is not a port number (0..65535)", argv[i]);
        } else if ((rc = model_arg(argv[i], &model_path)) != 0) {
            return rc;
        }
    }
    if (!model_path) return usage_error("missing MODEL");
    if (strlen(base_name(model_path)) > 255 || strpbrk(base_name(model_path), "\"\r\n"))
        return usage_error("%s: the model's file name cannot be sent in an HTTP header", model_path);
    unsigned char *model = NULL;
    size_t model_n = 0;
    rc = read_model(model_path, &model, &model_n);
    if (rc) return rc;
    int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof addr;
    if (s < 0) rc = fail("cannot open a socket: %s", strerror(errno));
    else if (setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 || bind(s, (struct sockaddr *)&addr, sizeof addr) < 0 ||
             listen(s, 16) < 0 || getsockname(s, (struct sockaddr *)&addr, &alen) < 0)
        rc = fail("cannot listen on 127.0.0.1:%ld: %s", port, strerror(errno));
    if (!rc) {
        g_soft = 1; /* SIGINT/SIGTERM: recorded, the loop below stops */
        printf("gnf view: serving %s on http://127.0.0.1:%d/  (Ctrl-C stops)\n", model_path, ntohs(addr.sin_port));
        fflush(stdout);
        serve(s, model, model_n, base_name(model_path));
        fprintf(stderr, "gnf view: stopped (%s)\n", signal_name(g_signal));
        rc = 128 + g_signal;
    }
    if (s >= 0) close(s);
    free(model);
    return rc;
}

/* ---- gnf export-web ----------------------------------------------------------------------------- */

typedef struct { char *p; size_t n, cap; int oom; } sbuf;

static void put(sbuf *b, const void *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = (b->cap + n + 1) * 2;
        char *np = realloc(b->p, cap);
        if (!np) { b->oom = 1; return; }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void puts_b(sbuf *b, const char *s) { put(b, s, strlen(s)); }

static void put_base64(sbuf *b, const unsigned char *d, size_t n) {
    static const char T[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char q[4];
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)d[i] << 16 | (i + 1 < n ? (unsigned)d[i + 1] << 8 : 0) | (i + 2 < n ? d[i + 2] : 0);
        q[0] = T[v >> 18 & 63];
        q[1] = T[v >> 12 & 63];
        q[2] = i + 1 < n ? T[v >> 6 & 63] : '=';
        q[3] = i + 2 < n ? T[v & 63] : '=';
        put(b, q, 4);
    }
}

/* The import map line of web/index.html that export-web replaces by one of data: URLs. */
#define IMPORT_MAP "<script type=\"importmap\">{\"imports\": {\"gnf/\": \"./\"}}</script>"
/* The marker before which the model is embedded. */
#define MODEL_MARK "<!-- gnf:model -->"

int cmd_export_web(int argc, char **argv) {
    g_verb = "gnf export-web";
    const char *model_path = NULL, *out = NULL;
    int rc;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { fputs(EXPORT_HELP, stdout); return 0; }
        if (!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) {
            if (i + 1 >= argc) return usage_error("%s needs a path", argv[i]);
            out = argv[++i];
        } else if ((rc = model_arg(argv[i], &model_path)) != 0) {
            return rc;
        }
    }
    if (!model_path) return usage_error("missing MODEL");
    if (!out) return usage_error("needs -o OUT.html");
    unsigned char *model = NULL;
    size_t model_n = 0;
    rc = read_model(model_path, &model, &model_n);
    if (rc) return rc;
    const gnf_web_asset *index = asset("index.html");
    const char *page = index ? (const char *)index->data : "";
    const char *im = strstr(page, IMPORT_MAP), *mk = strstr(page, MODEL_MARK);
    if (!im || !mk || mk < im) {
        free(model);
        return fail("the embedded viewer's index.html lacks its import map or model marker (a build problem)");
    }
    sbuf b = {0};
    put(&b, page, (size_t)(im - page));
    puts_b(&b, "<script type=\"importmap\">{\"imports\": {");
    int first = 1;
    for (const gnf_web_asset *a = gnf_web_assets; a->name; a++) {
        size_t ln = strlen(a->name);
        if (ln < 3 || strcmp(a->name + ln - 3, ".js")) continue;
        puts_b(&b, first ? "\n  \"gnf/" : ",\n  \"gnf/");
        puts_b(&b, a->name);
        puts_b(&b, "\": \"data:text/javascript;base64,");
        put_base64(&b, a->data, a->size);
        puts_b(&b, "\"");
        first = 0;
    }
    puts_b(&b, "}}</script>");
    const char *after = im + strlen(IMPORT_MAP);
    put(&b, after, (size_t)(mk - after));
    /* the name goes into an HTML attribute: characters that would end it are replaced */
    char name[256];
    snprintf(name, sizeof name, "%s", base_name(model_path));
    for (char *c = name; *c; c++)
        if (strchr("\"'<>&", *c)) *c = '_';
    puts_b(&b, "<script type=\"application/octet-stream\" id=\"gnf-model\" data-name=\"");
    puts_b(&b, name);
    puts_b(&b, "\">");
    put_base64(&b, model, model_n);
    puts_b(&b, "</script>\n");
    puts_b(&b, mk);
    free(model);
    if (b.oom) rc = fail("%s: out of memory", out);
    else if (gnf_write_file(out, b.p, b.n) != GNF_OK) rc = runtime_error();
    else printf("%s: %zu bytes, the viewer and %s (%zu bytes) in one file\n", out, b.n, model_path, model_n);
    free(b.p);
    return rc;
}
