/* fit_many.c — gnf fit-many MANIFEST -O DIR: one model per input of a manifest, for datasets of
 * fields and for Slurm job arrays (docs/CLUSTER.md).
 *
 * Each item is fitted by a child process, this same binary running `gnf fit` (and then `gnf eval
 * --json` for the metrics), with its stdout and stderr in DIR/logs/NAME.log, so a crash, an
 * out-of-memory kill or a divergence of one item is recorded and the batch goes on.  Every
 * attempt appends one JSON line to DIR/results.jsonl: one write() on an O_APPEND descriptor under
 * an fcntl write lock, so the array tasks of one batch share the file safely (on NFS too, where
 * O_APPEND alone is not atomic across machines).  An item whose model DIR/NAME.gnf exists, loads
 * (gnf_model_load validates every byte) and is not marked interrupted is skipped: rerunning the
 * same command resumes a batch.  Items are dealt to shards round-robin by their index (item k
 * goes to shard k mod N), so shards are balanced and never change with the machine. */
#include "cli.h"
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *HEAD =
    "usage: gnf fit-many MANIFEST -O DIR [options] [-- FIT-OPTIONS]\n"
    "Fits one model per input of MANIFEST into DIR/NAME.gnf, each by a child `gnf fit` (its output in\n"
    "DIR/logs/NAME.log), evaluates it (`gnf eval --json`: PSNR/SSIM, IoU/Chamfer...) and appends one\n"
    "JSON line per item to DIR/results.jsonl (input, status ok|failed|interrupted|skipped, error,\n"
    "metrics, params, seconds, host, shard).  A failing item is recorded and the batch goes on.\n"
    "MANIFEST: one input a line (relative paths are relative to the manifest's folder; blank lines\n"
    "and lines starting with # are ignored), or JSON lines {\"input\": PATH, and optionally \"output\":\n"
    "NAME.gnf, \"params\", \"seconds\", \"steps\", \"target_psnr\", \"target_iou\", \"preset\", \"task\",\n"
    "\"args\": [more gnf fit options], \"eval\": false (no metrics for this item)}.  NAME is the input's\n"
    "path with '/' as '_' and a .gnf suffix.\n"
    "FIT-OPTIONS (after --) go to every item's gnf fit, before the item's own.\n"
    "Resuming: run the same command again; items with a complete, valid model are skipped (an\n"
    "interrupted or truncated model is fitted again).\n";
static const char *FOOT =
    "Exit codes: 0 every item of this shard done, 1 some item failed (see results.jsonl) or DIR is not\n"
    "writable, 2 usage error (a malformed manifest line is named: the batch does not start),\n"
    "130 / 143 interrupted (SIGINT / SIGTERM: the current fit is stopped and recorded as interrupted).\n"
    "Summary: gnf report DIR [--json].\n";

/* One manifest item: where it is written in the manifest, its input, its output name in DIR and
 * the gnf fit options it gets (argv-style, each malloc'd: "fit", the options, NULL). */
typedef struct {
    int line;
    char *input;    /* as written in the manifest: the key of its records */
    char *path;     /* the file to read: input, relative to the manifest's folder */
    char *name;     /* NAME.gnf in DIR */
    char **args;
    int nargs;
    gnf_task task;
    int no_eval;    /* "eval": false */
} item;

typedef struct {
    item *v;
    int n, cap;
} item_list;

static void items_free(item_list *l) {
    for (int k = 0; k < l->n; k++) {
        item *it = &l->v[k];
        free(it->input), free(it->path), free(it->name);
        for (int a = 0; a < it->nargs; a++) free(it->args[a]);
        free(it->args);
    }
    free(l->v);
}

/* Appends a copy of s to it->args (kept NULL-terminated); 0, or -1 when out of memory. */
static int add_arg(item *it, const char *s) {
    char **v = realloc(it->args, sizeof *v * ((size_t)it->nargs + 2));
    if (!v) return -1;
    it->args = v;
    if (!(v[it->nargs] = strdup(s))) return -1;
    v[++it->nargs] = NULL;
    return 0;
}

/* The default output name of an input: its path without leading "./" and "/", every '/' as '_',
 * characters outside [A-Za-z0-9._+-] as '_', trailing '/' dropped, then ".gnf". */
static char *output_name(const char *input) {
    while (!strncmp(input, "./", 2)) input += 2;
    while (*input == '/') input++;
    size_t n = strlen(input);
    while (n > 1 && input[n - 1] == '/') n--;
    char *s = malloc(n + 5);
    if (!s) return NULL;
    for (size_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)input[k];
        s[k] = isalnum(c) || c == '.' || c == '_' || c == '+' || c == '-' ? (char)c : '_';
    }
    memcpy(s + n, ".gnf", 5);
    return s;
}

/* One JSON manifest line into *it: the keys become gnf fit options.  0, or EXIT_USAGE after a
 * message naming manifest:line. */
static int parse_json_item(const char *mf, int line, const char *text, item *it) {
    static const struct { const char *key, *flag; int kind; } KEYS[] = {   /* kind: 0 string, 1 integer, 2 number */
        {"params", "--params", 1}, {"seconds", "--seconds", 2}, {"steps", "--steps", 1}, {"target_psnr", "--target-psnr", 2},
        {"target_iou", "--target-iou", 2}, {"preset", "--preset", 0}, {"task", "--task", 0},
    };
    cJSON *o = cJSON_Parse(text);
    int rc = 0;
    if (!cJSON_IsObject(o)) rc = usage_error("%s:%d: not a JSON object (a JSON line starts with '{')", mf, line);
    const cJSON *e;
    for (e = o ? o->child : NULL; !rc && e; e = e->next) {
        const char *k = e->string;
        char num[64];
        size_t q = 0, nk = sizeof KEYS / sizeof KEYS[0];
        while (q < nk && strcmp(k, KEYS[q].key)) q++;
        if (!strcmp(k, "input") || !strcmp(k, "output")) {
            if (!cJSON_IsString(e) || !*e->valuestring) { rc = usage_error("%s:%d: \"%s\" must be a non-empty string", mf, line, k); break; }
            char **dst = !strcmp(k, "input") ? &it->input : &it->name;
            if (!strcmp(k, "output") && (strchr(e->valuestring, '/') || e->valuestring[0] == '.')) {
                rc = usage_error("%s:%d: \"output\" must be a file name in DIR (no '/', not starting with '.'), got '%s'", mf, line, e->valuestring);
                break;
            }
            if (!(*dst = strdup(e->valuestring))) rc = fail("out of memory");
        } else if (!strcmp(k, "eval")) {
            if (!cJSON_IsBool(e)) { rc = usage_error("%s:%d: \"eval\" must be true or false", mf, line); break; }
            it->no_eval = cJSON_IsFalse(e);
        } else if (!strcmp(k, "args")) {
            if (!cJSON_IsArray(e)) { rc = usage_error("%s:%d: \"args\" must be a list of strings", mf, line); break; }
            for (const cJSON *a = e->child; !rc && a; a = a->next)
                if (!cJSON_IsString(a)) rc = usage_error("%s:%d: \"args\" must be a list of strings", mf, line);
                else if (add_arg(it, a->valuestring)) rc = fail("out of memory");
        } else if (q < nk) {
            if (KEYS[q].kind == 0 && !cJSON_IsString(e)) { rc = usage_error("%s:%d: \"%s\" must be a string", mf, line, k); break; }
            if (KEYS[q].kind && !cJSON_IsNumber(e)) { rc = usage_error("%s:%d: \"%s\" must be a number", mf, line, k); break; }
            if (KEYS[q].kind == 1 && (e->valuedouble != (double)(long)e->valuedouble)) { rc = usage_error("%s:%d: \"%s\" must be an integer", mf, line, k); break; }
            if (KEYS[q].kind == 1) snprintf(num, sizeof num, "%ld", (long)e->valuedouble);
            else if (KEYS[q].kind == 2) snprintf(num, sizeof num, "%.17g", e->valuedouble);
            if (add_arg(it, KEYS[q].flag) || add_arg(it, KEYS[q].kind ? num : e->valuestring)) rc = fail("out of memory");
        } else {
            rc = usage_error("%s:%d: unknown key \"%s\" (known: input, output, params, seconds, steps, target_psnr, target_iou, preset, "
                             "task, args, eval)", mf, line, k);
        }
    }
    if (!rc && !it->input) rc = usage_error("%s:%d: no \"input\"", mf, line);
    cJSON_Delete(o);
    return rc;
}

/* Checks an item's gnf fit command (global options, then its own) with the fit verb's parser and
 * task check, and sets it->task.  0, or EXIT_USAGE after a message naming manifest:line. */
static int check_item(const char *mf, item *it) {
    cli_args a;
    const char *verb = g_verb;
    int rc = cli_parse(&a, V_FIT, "gnf fit", it->nargs, it->args, 0, "", NULL);
    if (rc == 0) rc = usage_error("--help is not an option of an item");
    else if (rc < 0 && (a.o[O_OUTPUT].set || a.o[O_RESUME].set)) rc = usage_error("-o and --resume are chosen by fit-many");
    else if (rc < 0) {
        it->task = a.o[O_TASK].set ? (gnf_task)(a.o[O_TASK].i + 1) : task_of(it->path);
        rc = cli_check_task(&a, it->task);
    }
    g_verb = verb;
    if (rc > 0) return usage_error("%s:%d: the gnf fit options of '%s' are refused (above)", mf, it->line, it->input);
    return 0;
}

/* Orders item pointers by output name, then by line. */
static int cmp_name(const void *a, const void *b) {
    const item *x = *(const item *const *)a, *y = *(const item *const *)b;
    int c = strcmp(x->name, y->name);
    return c ? c : x->line - y->line;
}

/* Reads the manifest into *l, with the fit options fit_opts[0..nfit) first in every item.
 * 0, or the exit code after a message (EXIT_USAGE for a malformed line: manifest:line named). */
static int load_manifest(const char *mf, char **fit_opts, int nfit, item_list *l) {
    FILE *f = fopen(mf, "r");
    if (!f) return fail("%s: cannot open the manifest: %s", mf, strerror(errno));
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", mf);
    char *sl = strrchr(dir, '/');
    if (sl) sl[1] = 0;
    else dir[0] = 0;
    char *buf = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = 0, line = 0;
    while (!rc && (len = getline(&buf, &cap, f)) >= 0) {
        line++;
        if ((size_t)len != strlen(buf)) { rc = usage_error("%s:%d: a NUL byte (not a text manifest)", mf, line); break; }
        while (len > 0 && isspace((unsigned char)buf[len - 1])) buf[--len] = 0;
        char *s = buf;
        while (isspace((unsigned char)*s)) s++;
        if (!*s || *s == '#') continue;
        if (l->n == l->cap) {
            int nc = l->cap ? 2 * l->cap : 64;
            item *v = realloc(l->v, sizeof *v * (size_t)nc);
            if (!v) { rc = fail("out of memory"); break; }
            l->v = v, l->cap = nc;
        }
        item *it = &l->v[l->n++];
        memset(it, 0, sizeof *it);
        it->line = line;
        if (add_arg(it, "fit")) { rc = fail("out of memory"); break; }
        for (int k = 0; !rc && k < nfit; k++)
            if (add_arg(it, fit_opts[k])) rc = fail("out of memory");
        if (rc) break;
        if (*s == '{') rc = parse_json_item(mf, line, s, it);
        else if (!(it->input = strdup(s))) rc = fail("out of memory");
        if (rc) break;
        size_t np = strlen(dir) + strlen(it->input) + 1;
        if (!(it->path = malloc(np)) || (!it->name && !(it->name = output_name(it->input)))) { rc = fail("out of memory"); break; }
        snprintf(it->path, np, "%s%s", it->input[0] == '/' ? "" : dir, it->input);
        rc = check_item(mf, it);
    }
    if (!rc && ferror(f)) rc = fail("%s: read error: %s", mf, strerror(errno));
    free(buf);
    fclose(f);
    item **byname = rc ? NULL : malloc(sizeof *byname * ((size_t)l->n + 1));   /* two items must not write the same model */
    if (!rc && !byname) rc = fail("out of memory");
    for (int k = 0; !rc && k < l->n; k++) byname[k] = &l->v[k];
    if (!rc) qsort(byname, (size_t)l->n, sizeof *byname, cmp_name);
    for (int k = 1; !rc && k < l->n; k++)
        if (!strcmp(byname[k - 1]->name, byname[k]->name))
            rc = usage_error("%s:%d and line %d both write %s (the same input twice, or names that differ only in characters "
                             "outside [A-Za-z0-9._+-]); give one an \"output\"", mf, byname[k - 1]->line, byname[k]->line, byname[k]->name);
    free(byname);
    if (!rc && !l->n) rc = usage_error("%s: no inputs (one path a line, or JSON lines with \"input\")", mf);
    return rc;
}

/* --shard I/N, or the Slurm array task's place: (ID - MIN) / STEP of COUNT.  0, or EXIT_USAGE. */
static int resolve_shard(const opt_value *o, int *si, int *sn) {
    long i = 0, n = 1;
    char *e1 = NULL, *e2 = NULL;
    if (o->set) {
        i = strtol(o->s, &e1, 10);
        if (e1 == o->s || *e1 != '/' || (n = strtol(e1 + 1, &e2, 10), e2 == e1 + 1 || *e2) || n < 1 || n > 1000000 || i < 0 || i >= n)
            return usage_error("--shard needs I/N with 0 <= I < N, got '%s'", o->s);
    } else if (getenv("SLURM_ARRAY_TASK_ID")) {
        const char *id = getenv("SLURM_ARRAY_TASK_ID"), *cnt = getenv("SLURM_ARRAY_TASK_COUNT");
        const char *mn = getenv("SLURM_ARRAY_TASK_MIN"), *st = getenv("SLURM_ARRAY_TASK_STEP");
        long vid = id ? strtol(id, &e1, 10) : -1, vmin = mn ? atol(mn) : 0, vst = st ? atol(st) : 1;
        n = cnt ? strtol(cnt, &e2, 10) : 0;
        if (!cnt || *e1 || *e2 || n < 1 || vst < 1 || (vid - vmin) % vst || (i = (vid - vmin) / vst) < 0 || i >= n)
            return usage_error("cannot place Slurm array task %s (SLURM_ARRAY_TASK_COUNT %s, MIN %s, STEP %s) among the shards: "
                               "give --shard I/N (arrays must be a range, e.g. --array=0-9)", id, cnt ? cnt : "unset", mn ? mn : "unset",
                               st ? st : "unset");
    }
    *si = (int)i, *sn = (int)n;
    return 0;
}

/* Whether path holds a finished model: it loads (every size, offset and value checked) and is not
 * marked interrupted.  Fills *params and *task when it does; else why[] says what is wrong. */
static int model_complete(const char *path, long *params, gnf_task *task, char *why, size_t nwhy) {
    gnf_model *m = NULL;
    if (gnf_model_load(path, &m) != GNF_OK) { snprintf(why, nwhy, "%s", gnf_last_error()); return 0; }
    const char *intr = gnf_model_get_meta(m, "gnf.train.interrupted");
    if (intr) snprintf(why, nwhy, "%s: an interrupted fit (%s)", path, intr);
    *params = gnf_model_param_count(m);
    *task = gnf_model_get_task(m);
    gnf_model_free(m);
    return !intr;
}

static const char *task_name(gnf_task t) { return t == GNF_TASK_SDF ? "sdf" : t == GNF_TASK_NERF ? "nerf" : "image"; }

/* Runs this binary with argv (argv[0] is the verb) as a child: stdin /dev/null, stderr (and
 * stdout unless out_fd >= 0) appended to the log, killed if this process dies.  While it runs, a
 * signal this process receives (g_signal) is passed on once.  Returns the wait status, or -1
 * (errno) when it could not start. */
static int run_child(char **argv, const char *log, int out_fd) {
    int n = 0;
    while (argv[n]) n++;
    char **full = calloc((size_t)n + 2, sizeof *full);   /* "gnf", argv..., NULL */
    int lfd = full ? open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644) : -1;
    if (lfd < 0) { free(full); return -1; }
    full[0] = "gnf";
    memcpy(full + 1, argv, sizeof *full * (size_t)n);
    pid_t parent = getpid(), pid = fork();
    if (pid < 0) { close(lfd); free(full); return -1; }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);   /* fit-many killed (SIGKILL): its child goes too */
        if (getppid() != parent) _exit(127);
        int nul = open("/dev/null", O_RDONLY);
        if (nul < 0 || dup2(nul, 0) < 0 || dup2(out_fd >= 0 ? out_fd : lfd, 1) < 0 || dup2(lfd, 2) < 0) _exit(127);
        execv("/proc/self/exe", full);
        dprintf(2, "gnf fit-many: cannot run /proc/self/exe: %s\n", strerror(errno));
        _exit(127);
    }
    close(lfd);
    free(full);
    int status = 0, passed = 0;
    for (;;) {
        if (g_signal && !passed) { kill(pid, (int)g_signal); passed = 1; }
        if (waitpid(pid, &status, 0) == pid) return status;
        if (errno != EINTR) return -1;
    }
}

/* The last non-empty line of the log from byte `from` on (the error a failed fit printed). */
static void last_line(const char *log, long from, char *out, size_t n) {
    out[0] = 0;
    FILE *f = fopen(log, "r");
    if (!f) return;
    char line[1024];
    if (fseek(f, from, SEEK_SET) == 0)
        while (fgets(line, sizeof line, f)) {
            size_t L = strlen(line);
            while (L && isspace((unsigned char)line[L - 1])) line[--L] = 0;
            if (L) snprintf(out, n, "%s", line);
        }
    fclose(f);
}

/* What a wait status says, for a record: "" for exit 0. */
static void describe_status(int st, char *buf, size_t n) {
    buf[0] = 0;
    if (st == -1) snprintf(buf, n, "could not start the child process: %s", strerror(errno));
    else if (WIFSIGNALED(st))
        snprintf(buf, n, "killed by signal %d%s", WTERMSIG(st), WTERMSIG(st) == SIGKILL ? " (SIGKILL: out of memory, or a time limit?)" : "");
    else if (WEXITSTATUS(st)) snprintf(buf, n, "exit status %d", WEXITSTATUS(st));
}

/* Appends one line to DIR/results.jsonl: one write() under an fcntl write lock on an O_APPEND
 * descriptor, synced.  0, or EXIT_RUNTIME after a message naming the file. */
static int append_record(const char *results, cJSON *rec) {
    char *s = cJSON_PrintUnformatted(rec);
    if (!s) return fail("out of memory");
    size_t n = strlen(s);
    s[n++] = '\n';   /* cJSON's buffer has room: the terminating NUL becomes the newline */
    int fd = open(results, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644), rc = 0;
    struct flock lk = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    if (fd < 0) rc = fail("%s: cannot open: %s", results, strerror(errno));
    while (!rc && fcntl(fd, F_SETLKW, &lk) < 0)
        if (errno != EINTR) rc = fail("%s: cannot lock: %s", results, strerror(errno));
    ssize_t w = rc ? 0 : write(fd, s, n);
    if (!rc && (w != (ssize_t)n || fsync(fd) < 0)) rc = fail("%s: cannot append a record: %s", results, w < 0 || w == (ssize_t)n ? strerror(errno) : "short write");
    if (fd >= 0) close(fd);   /* closing drops the lock */
    free(s);
    return rc;
}

/* The metrics of a fitted model: `gnf eval MODEL INPUT --json` as a child (stderr into the log);
 * NULL with why[] set when it fails. */
static cJSON *evaluate(const item *it, const char *model, gnf_task task, const char *log, char *why, size_t nwhy) {
    char *argv[12] = {"eval", (char *)model, it->path, "--json", NULL};
    char ds[32];
    int n = 4;
    if (task == GNF_TASK_NERF) {   /* every 10th test view, at the pictures' size the model was fitted on */
        gnf_model *m = NULL;
        const char *d = NULL;
        if (gnf_model_load(model, &m) == GNF_OK && (d = gnf_model_get_meta(m, "gnf.nerf.downscale"))) snprintf(ds, sizeof ds, "%s", d);
        gnf_model_free(m);
        argv[n++] = "--every", argv[n++] = "10";
        if (d) argv[n++] = "--downscale", argv[n++] = ds;
        argv[n] = NULL;
    }
    FILE *tf = tmpfile();   /* its stdout: a file, so the child never waits on a full pipe */
    if (!tf) { snprintf(why, nwhy, "eval: cannot make a temporary file: %s", strerror(errno)); return NULL; }
    long from = file_size(log);
    int st = run_child(argv, log, fileno(tf));
    char out[8192];
    rewind(tf);
    size_t got = fread(out, 1, sizeof out - 1, tf);
    out[got] = 0;
    fclose(tf);
    char desc[256];
    describe_status(st, desc, sizeof desc);
    cJSON *j = desc[0] ? NULL : cJSON_Parse(out);
    if (!cJSON_IsObject(j)) {
        char last[512];
        last_line(log, from < 0 ? 0 : from, last, sizeof last);
        snprintf(why, nwhy, "eval failed (%s): %s", desc[0] ? desc : "no JSON object on stdout", last);
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

/* An ISO 8601 UTC time stamp of now. */
static void timestamp(char *buf, size_t n) {
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

typedef struct {
    const char *dir, *manifest, *results, *host;
    int shard_i, shard_n, total, eval;
} batch;

/* Fits (or skips) item k and appends its record.  *status_out: "ok", "failed", "interrupted" or
 * "skipped".  0, or the exit code when the record could not be written. */
static int run_item(const batch *b, int k, const item *it, const char **status_out) {
    char model[PATH_MAX], log[PATH_MAX], why[1024] = "", shard[48], when[32];
    size_t nn = strlen(it->name);
    int too_long = strlen(b->dir) + nn + 16 > sizeof model;
    snprintf(model, sizeof model, "%s/%s", b->dir, it->name);
    snprintf(log, sizeof log, "%s/logs/%.*s.log", b->dir, (int)(nn > 4 && !strcmp(it->name + nn - 4, ".gnf") ? nn - 4 : nn), it->name);
    snprintf(shard, sizeof shard, "%d/%d", b->shard_i, b->shard_n);
    long params = 0;
    gnf_task task = it->task;
    const char *status;
    double seconds = 0, eval_s = 0;
    int exit_code = -1;
    cJSON *metrics = NULL;
    if (too_long) {
        status = "failed";
        snprintf(why, sizeof why, "%.200s/%.200s...: the model's path is too long", b->dir, it->name);
    } else if (model_complete(model, &params, &task, why, sizeof why)) {
        status = "skipped";
        why[0] = 0;
    } else {
        why[0] = 0;   /* why the model was not complete: only for --dry-run */
        FILE *lf = fopen(log, "a");
        long from = file_size(log);
        timestamp(when, sizeof when);
        if (lf) {
            fprintf(lf, "== gnf fit-many %s item %d (%s line %d), shard %s, host %s:\n== gnf", when, k, b->manifest, it->line, shard, b->host);
            for (int a = 0; a < it->nargs; a++) fprintf(lf, " %s", it->args[a]);
            fprintf(lf, " %s -o %s\n", it->path, model);
        }
        if (!lf || fclose(lf)) return fail("%s: cannot write the log: %s", log, strerror(errno));
        /* argv: the item's options, then INPUT and -o MODEL */
        char **argv = calloc((size_t)it->nargs + 4, sizeof *argv);
        if (!argv) return fail("out of memory");
        memcpy(argv, it->args, sizeof *argv * (size_t)it->nargs);
        argv[it->nargs] = it->path, argv[it->nargs + 1] = "-o", argv[it->nargs + 2] = model;
        fprintf(stderr, "%s: item %d of %d: fitting %s (log %s)\n", g_verb, k, b->total, it->input, log);
        double t0 = gnf_now();
        int st = run_child(argv, log, -1);
        seconds = gnf_now() - t0;
        free(argv);
        exit_code = st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        char desc[256], last[700];
        describe_status(st, desc, sizeof desc);
        if (desc[0] && (g_signal || exit_code == 130 || exit_code == 143 ||
                        (st >= 0 && WIFSIGNALED(st) && (WTERMSIG(st) == SIGINT || WTERMSIG(st) == SIGTERM)))) {
            status = "interrupted";
            snprintf(why, sizeof why, "%s", g_signal ? signal_name(g_signal) : desc);
        } else if (desc[0]) {
            status = "failed";
            last_line(log, from < 0 ? 0 : from, last, sizeof last);
            snprintf(why, sizeof why, "%s: %s", desc, last[0] ? last : "(nothing in the log)");
        } else if (!model_complete(model, &params, &task, why, sizeof why)) {
            status = "failed";   /* exit 0 but no valid model: why says what is wrong with it */
        } else {
            status = "ok";
            if (b->eval && !it->no_eval) {
                double te = gnf_now();
                metrics = evaluate(it, model, task, log, why, sizeof why);
                eval_s = gnf_now() - te;
                if (g_signal) why[0] = 0;   /* the fit is done; only its metrics are missing */
            }
        }
    }
    timestamp(when, sizeof when);
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "input", it->input);
    cJSON_AddStringToObject(r, "output", it->name);
    cJSON_AddStringToObject(r, "status", status);
    cJSON_AddStringToObject(r, "task", task_name(task));
    if (why[0]) cJSON_AddStringToObject(r, "error", why);
    if (metrics) cJSON_AddItemToObject(r, "metrics", metrics);
    else cJSON_AddNullToObject(r, "metrics");
    if (params) cJSON_AddNumberToObject(r, "params", (double)params);
    else cJSON_AddNullToObject(r, "params");
    cJSON_AddNumberToObject(r, "seconds", (double)(long)(seconds * 1000 + 0.5) / 1000);
    cJSON_AddNumberToObject(r, "eval_seconds", (double)(long)(eval_s * 1000 + 0.5) / 1000);
    if (exit_code >= 0) cJSON_AddNumberToObject(r, "exit", exit_code);
    cJSON_AddStringToObject(r, "host", b->host);
    cJSON_AddStringToObject(r, "shard", shard);
    cJSON_AddNumberToObject(r, "item", k);
    cJSON_AddNumberToObject(r, "items", b->total);
    cJSON_AddStringToObject(r, "manifest", b->manifest);
    cJSON_AddNumberToObject(r, "line", it->line);
    cJSON_AddStringToObject(r, "time", when);
    const char *jid = getenv("SLURM_JOB_ID"), *aj = getenv("SLURM_ARRAY_JOB_ID"), *at = getenv("SLURM_ARRAY_TASK_ID");
    char sj[64];
    if (aj && at) snprintf(sj, sizeof sj, "%s_%s", aj, at);   /* how squeue and scancel name an array task */
    else if (jid) snprintf(sj, sizeof sj, "%s", jid);
    if (jid) cJSON_AddStringToObject(r, "slurm_job", sj);
    int rc = append_record(b->results, r);
    *status_out = status;
    /* one line per item on stdout */
    printf("%d\t%s\t%s", k, it->input, status);
    if (metrics && cJSON_IsNumber(cJSON_GetObjectItem(metrics, "psnr"))) printf("\tPSNR %.2f dB", cJSON_GetObjectItem(metrics, "psnr")->valuedouble);
    if (metrics && cJSON_IsNumber(cJSON_GetObjectItem(metrics, "iou"))) printf("\tIoU %.5f", cJSON_GetObjectItem(metrics, "iou")->valuedouble);
    if (!strcmp(status, "ok")) printf("\t%ld params\t%.1f s", params, seconds);
    if (why[0]) printf("\t%s", why);
    printf("\n");
    fflush(stdout);
    cJSON_Delete(r);   /* metrics with it */
    return rc;
}

/* mkdir -p of one level (DIR itself and DIR/logs); 0, or the exit code after a message. */
static int make_dir(const char *p) {
    if (mkdir(p, 0755) == 0 || (errno == EEXIST && is_dir(p))) return 0;
    return fail("%s: cannot create the folder: %s", p, strerror(errno));
}

int cmd_fit_many(int argc, char **argv) {
    int split = argc;   /* FIT-OPTIONS after "--" */
    for (int k = 1; k < argc; k++)
        if (!strcmp(argv[k], "--")) { split = k; break; }
    cli_args a;
    int rc = cli_parse(&a, V_FIT_MANY, "gnf fit-many", split, argv, 1, HEAD, FOOT);
    if (rc >= 0) return rc;
    if (!a.npos) return usage_error("missing MANIFEST");
    if (!a.o[O_OUT_DIR].set) return usage_error("missing -O DIR");
    batch b = {.dir = a.o[O_OUT_DIR].s, .manifest = a.pos[0], .eval = !a.o[O_NO_EVAL].set};
    if ((rc = resolve_shard(&a.o[O_SHARD], &b.shard_i, &b.shard_n))) return rc;
    item_list items = {0};
    int nfit = split < argc ? argc - split - 1 : 0;
    if ((rc = load_manifest(b.manifest, argv + split + (nfit > 0), nfit, &items))) { items_free(&items); return rc; }
    b.total = items.n;
    char results[PATH_MAX], logs[PATH_MAX], host[256] = "unknown";
    gethostname(host, sizeof host - 1);
    b.host = host;
    snprintf(results, sizeof results, "%s/results.jsonl", b.dir);
    snprintf(logs, sizeof logs, "%s/logs", b.dir);
    b.results = results;
    int mine = 0;
    for (int k = b.shard_i; k < items.n; k += b.shard_n) mine++;
    if (a.o[O_DRY_RUN].set) {   /* item, line, input, output, what would happen */
        for (int k = b.shard_i; k < items.n; k += b.shard_n) {
            char model[PATH_MAX], why[1024];
            long params;
            gnf_task t;
            snprintf(model, sizeof model, "%s/%s", b.dir, items.v[k].name);
            int done = model_complete(model, &params, &t, why, sizeof why);
            printf("%d\t%d\t%s\t%s\t%s\n", k, items.v[k].line, items.v[k].input, items.v[k].name, done ? "skip (a valid model)" : "fit");
        }
        items_free(&items);
        return 0;
    }
    if ((rc = make_dir(b.dir)) || (rc = make_dir(logs))) { items_free(&items); return rc; }
    fprintf(stderr, "%s: %s: %d items; shard %d/%d fits %d of them into %s on %s\n", g_verb, b.manifest, items.n, b.shard_i, b.shard_n,
            mine, b.dir, host);
    g_soft = 1;   /* SIGINT/SIGTERM: stop the current item, record it, then stop */
    int counts[4] = {0}, failed = 0;   /* ok, skipped, failed, interrupted */
    for (int k = b.shard_i; !rc && !g_signal && k < items.n; k += b.shard_n) {
        const char *st = NULL;
        rc = run_item(&b, k, &items.v[k], &st);
        if (!st) break;
        int c = !strcmp(st, "ok") ? 0 : !strcmp(st, "skipped") ? 1 : !strcmp(st, "failed") ? 2 : 3;
        counts[c]++;
        failed += c == 2;
    }
    fprintf(stderr, "%s: shard %d/%d: %d fitted, %d skipped (already done), %d failed, %d interrupted; records in %s\n", g_verb,
            b.shard_i, b.shard_n, counts[0], counts[1], counts[2], counts[3], results);
    items_free(&items);
    if (g_signal) {
        fprintf(stderr, "%s: %s; run the same command again to resume\n", g_verb, g_signal == SIGTERM ? "terminated (SIGTERM)" : "interrupted (SIGINT)");
        return 128 + (int)g_signal;
    }
    return rc ? rc : failed ? EXIT_RUNTIME : 0;
}
