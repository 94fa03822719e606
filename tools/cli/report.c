/* report.c — gnf report DIR: the table and the summary of a gnf fit-many batch, from the records
 * in DIR/results.jsonl (fit_many.c writes them; docs/CLUSTER.md).  Records are keyed by the
 * model's file name ("output"); per item the last record gives the status, and the last "ok"
 * record the metric, parameters and seconds of the fit that made the model (a later "skipped"
 * record means a rerun found that model complete). */
#include "cli.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *HEAD =
    "usage: gnf report DIR [--json]\n"
    "The items of a gnf fit-many batch (DIR/results.jsonl): input, status of the last attempt (ok,\n"
    "skipped = already done, failed, interrupted), the quality metric of its model (images and radiance\n"
    "fields: PSNR in dB; signed distance fields: IoU; higher is better), parameters and fitting seconds;\n"
    "then per task the mean, median and worst metric, the counts, and every failure with its error.\n";

typedef struct {
    char *key, *input, *task, *status, *error;
    double metric, params, seconds;   /* NAN when unknown */
    int order, item;
} entry;

/* The task's metric: the key in the eval JSON and its name in the table. */
static const char *metric_key(const char *task) { return task && !strcmp(task, "sdf") ? "iou" : "psnr"; }
static const char *metric_label(const char *task) { return task && !strcmp(task, "sdf") ? "IoU" : "PSNR dB"; }

static const char *str_of(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}
static double num_of(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* Replaces *dst by a copy of s (NULL stays NULL); 0, or -1 when out of memory. */
static int set_str(char **dst, const char *s) {
    char *c = s ? strdup(s) : NULL;
    if (s && !c) return -1;
    free(*dst);
    *dst = c;
    return 0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int cmp_entry(const void *a, const void *b) {
    const entry *x = a, *y = b;
    if (x->item != y->item) return x->item < y->item ? -1 : 1;
    return x->order - y->order;
}

/* The entries, and an open-addressing hash table of their indices by key (-1: empty slot). */
typedef struct {
    entry *ev;
    int n, cap;
    int *slot;
    size_t nslot;   /* a power of two, at least twice cap */
} table;

static size_t hash_str(const char *s) {   /* FNV-1a */
    size_t h = 14695981039346656037ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* The slot of key: where it is, or the empty slot where it goes. */
static size_t find_slot(const table *t, const char *key) {
    size_t i = hash_str(key) & (t->nslot - 1);
    while (t->slot[i] >= 0 && strcmp(t->ev[t->slot[i]].key, key)) i = (i + 1) & (t->nslot - 1);
    return i;
}

/* Room for one more entry (entries and slots doubled when full); 0, or -1 out of memory. */
static int grow(table *t) {
    if (t->n < t->cap) return 0;
    int nc = t->cap ? 2 * t->cap : 64;
    entry *v = realloc(t->ev, sizeof *v * (size_t)nc);
    if (!v) return -1;
    t->ev = v, t->cap = nc;
    free(t->slot);
    t->nslot = 4 * (size_t)nc;
    if (!(t->slot = malloc(sizeof *t->slot * t->nslot))) return -1;
    memset(t->slot, 0xff, sizeof *t->slot * t->nslot);
    for (int k = 0; k < t->n; k++) t->slot[find_slot(t, t->ev[k].key)] = k;
    return 0;
}

/* Folds one record into the entries; 0, 1 for a record without "output"/"status", -1 out of memory. */
static int fold(table *t, const cJSON *r) {
    const char *key = str_of(r, "output"), *status = str_of(r, "status");
    if (!key || !status) return 1;
    if (grow(t)) return -1;
    size_t sl = find_slot(t, key);
    int k = t->slot[sl];
    entry **ev = &t->ev;
    if (k < 0) {
        k = t->n++;
        t->slot[sl] = k;
        entry *e = &(*ev)[k];
        memset(e, 0, sizeof *e);
        e->metric = e->params = e->seconds = NAN;
        e->order = k;
        double it = num_of(r, "item");
        e->item = isfinite(it) ? (int)it : 1 << 30;
        if (set_str(&e->key, key)) return -1;
    }
    entry *e = &(*ev)[k];
    if (set_str(&e->input, str_of(r, "input")) || set_str(&e->status, status) || set_str(&e->error, str_of(r, "error")) ||
        (str_of(r, "task") && set_str(&e->task, str_of(r, "task"))))
        return -1;
    if (!strcmp(status, "ok")) {   /* the fit that made the model: its numbers */
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(r, "metrics");
        e->metric = num_of(m, metric_key(e->task));
        e->params = num_of(r, "params");
        e->seconds = num_of(r, "seconds");
    } else if (strcmp(status, "skipped")) {   /* failed or interrupted: no model in use */
        e->metric = e->params = e->seconds = NAN;
    }
    return 0;
}

static void free_entries(entry *ev, int n) {
    for (int k = 0; k < n; k++) free(ev[k].key), free(ev[k].input), free(ev[k].task), free(ev[k].status), free(ev[k].error);
    free(ev);
}

static int is_done(const entry *e) { return !strcmp(e->status, "ok") || !strcmp(e->status, "skipped"); }

/* Adds the per-task summary (count, mean, median, worst metric) to js, or prints it. */
static void summarise_task(const entry *ev, int n, const char *task, cJSON *js, double *vals) {
    int m = 0, worst = -1;
    double sum = 0;
    for (int k = 0; k < n; k++) {
        if (!ev[k].task || strcmp(ev[k].task, task) || !is_done(&ev[k]) || !isfinite(ev[k].metric)) continue;
        vals[m++] = ev[k].metric;
        sum += ev[k].metric;
        if (worst < 0 || ev[k].metric < ev[worst].metric) worst = k;
    }
    if (!m) return;
    qsort(vals, (size_t)m, sizeof *vals, cmp_double);
    double mean = sum / m, median = m % 2 ? vals[m / 2] : (vals[m / 2 - 1] + vals[m / 2]) / 2;
    if (js) {
        cJSON *t = cJSON_AddObjectToObject(js, task);
        cJSON_AddStringToObject(t, "metric", metric_key(task));
        cJSON_AddNumberToObject(t, "count", m);
        cJSON_AddNumberToObject(t, "mean", mean);
        cJSON_AddNumberToObject(t, "median", median);
        cJSON_AddNumberToObject(t, "worst", ev[worst].metric);
        cJSON_AddStringToObject(t, "worst_input", ev[worst].input ? ev[worst].input : ev[worst].key);
    } else {
        int d = strcmp(task, "sdf") ? 2 : 5;
        printf("%s (%s, %d model%s): mean %.*f, median %.*f, worst %.*f (%s)\n", task, metric_label(task), m, m == 1 ? "" : "s", d, mean, d, median, d,
               ev[worst].metric, ev[worst].input ? ev[worst].input : ev[worst].key);
    }
}

int cmd_report(int argc, char **argv) {
    cli_args a;
    int rc = cli_parse(&a, V_REPORT, "gnf report", argc, argv, 1, HEAD, NULL);
    if (rc >= 0) return rc;
    if (!a.npos) return usage_error("missing DIR");
    rc = 0;
    char path[4096];
    snprintf(path, sizeof path, "%s/results.jsonl", a.pos[0]);
    FILE *f = fopen(path, "r");
    if (!f) return fail("%s: cannot open: %s (is %s a gnf fit-many folder?)", path, strerror(errno), a.pos[0]);
    table tb = {0};
    int line = 0, bad = 0, manifest_items = 0;
    char *buf = NULL;
    size_t bcap = 0;
    while (!rc && getline(&buf, &bcap, f) >= 0) {
        line++;
        cJSON *r = cJSON_Parse(buf);
        int k = cJSON_IsObject(r) ? fold(&tb, r) : 1;
        if (k > 0 && bad++ < 5) fprintf(stderr, "gnf report: warning: %s:%d is not a fit-many record; ignored\n", path, line);
        if (k < 0) rc = fail("out of memory");
        double it = num_of(r, "items");
        if (isfinite(it) && it > manifest_items) manifest_items = (int)it;
        cJSON_Delete(r);
    }
    if (!rc && ferror(f)) rc = fail("%s: read error: %s", path, strerror(errno));
    free(buf);
    fclose(f);
    free(tb.slot);
    entry *ev = tb.ev;
    int n = tb.n;
    double *vals = rc ? NULL : malloc(sizeof *vals * (size_t)(n + 1));
    if (!rc && !vals) rc = fail("out of memory");
    if (rc) { free_entries(ev, n); return rc; }
    qsort(ev, (size_t)n, sizeof *ev, cmp_entry);
    int count[4] = {0}, missing = manifest_items > n ? manifest_items - n : 0;   /* ok, skipped, failed, interrupted */
    for (int k = 0; k < n; k++)
        count[!strcmp(ev[k].status, "ok") ? 0 : !strcmp(ev[k].status, "skipped") ? 1 : !strcmp(ev[k].status, "failed") ? 2 : 3]++;
    static const char *tasks[] = {"image", "sdf", "nerf"};
    if (a.o[O_REPORT_JSON].set) {
        cJSON *js = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(js, "items");
        for (int k = 0; k < n; k++) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "input", ev[k].input ? ev[k].input : "");
            cJSON_AddStringToObject(o, "output", ev[k].key);
            cJSON_AddStringToObject(o, "status", ev[k].status);
            cJSON_AddStringToObject(o, "task", ev[k].task ? ev[k].task : "");
            if (isfinite(ev[k].metric)) cJSON_AddNumberToObject(o, metric_key(ev[k].task), ev[k].metric);
            if (isfinite(ev[k].params)) cJSON_AddNumberToObject(o, "params", ev[k].params);
            if (isfinite(ev[k].seconds)) cJSON_AddNumberToObject(o, "seconds", ev[k].seconds);
            if (ev[k].error) cJSON_AddStringToObject(o, "error", ev[k].error);
            cJSON_AddItemToArray(arr, o);
        }
        cJSON *s = cJSON_AddObjectToObject(js, "summary");
        cJSON_AddNumberToObject(s, "items", manifest_items > n ? manifest_items : n);
        cJSON_AddNumberToObject(s, "done", count[0] + count[1]);
        cJSON_AddNumberToObject(s, "ok", count[0]);
        cJSON_AddNumberToObject(s, "skipped", count[1]);
        cJSON_AddNumberToObject(s, "failed", count[2]);
        cJSON_AddNumberToObject(s, "interrupted", count[3]);
        cJSON_AddNumberToObject(s, "not_run", missing);
        cJSON_AddNumberToObject(s, "bad_lines", bad);
        cJSON *t = cJSON_AddObjectToObject(s, "tasks");
        for (int k = 0; k < 3; k++) summarise_task(ev, n, tasks[k], t, vals);
        cJSON *fl = cJSON_AddArrayToObject(s, "failures");
        for (int k = 0; k < n; k++)
            if (!is_done(&ev[k])) {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddStringToObject(o, "input", ev[k].input ? ev[k].input : ev[k].key);
                cJSON_AddStringToObject(o, "status", ev[k].status);
                cJSON_AddStringToObject(o, "error", ev[k].error ? ev[k].error : "");
                cJSON_AddItemToArray(fl, o);
            }
        char *out = cJSON_PrintUnformatted(js);
        if (out) printf("%s\n", out);
        else rc = fail("out of memory");
        free(out);
        cJSON_Delete(js);
    } else {
        int w = 5;
        for (int k = 0; k < n; k++) {
            int L = (int)strlen(ev[k].input ? ev[k].input : ev[k].key);
            if (L > w) w = L < 60 ? L : 60;
        }
        printf("%-*s  %-11s  %-5s  %10s  %9s  %8s  %s\n", w, "input", "status", "task", "metric", "params", "seconds", "model");
        for (int k = 0; k < n; k++) {
            const entry *e = &ev[k];
            char met[32] = "-", par[32] = "-", sec[32] = "-";
            if (isfinite(e->metric)) snprintf(met, sizeof met, e->task && !strcmp(e->task, "sdf") ? "IoU %.4f" : "%.2f dB", e->metric);
            if (isfinite(e->params)) snprintf(par, sizeof par, "%.0f", e->params);
            if (isfinite(e->seconds)) snprintf(sec, sizeof sec, "%.1f", e->seconds);
            printf("%-*s  %-11s  %-5s  %10s  %9s  %8s  %s\n", w, e->input ? e->input : e->key, e->status, e->task ? e->task : "?", met, par, sec,
                   e->key);
        }
        printf("\n%d items: %d done (%d fitted ok, %d skipped as already done), %d failed, %d interrupted, %d not run yet\n",
               manifest_items > n ? manifest_items : n, count[0] + count[1], count[0], count[1], count[2], count[3], missing);
        for (int k = 0; k < 3; k++) summarise_task(ev, n, tasks[k], NULL, vals);
        for (int k = 0; k < n; k++)
            if (!is_done(&ev[k])) printf("%s: %s: %s\n", ev[k].status, ev[k].input ? ev[k].input : ev[k].key, ev[k].error ? ev[k].error : "");
        if (bad) printf("%d line(s) of %s are not records (ignored)\n", bad, path);
    }
    free(vals);
    free_entries(ev, n);
    return rc;
}
