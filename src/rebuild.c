/* rebuild.c — message bytes from the database or, when they were not stored
 * there, from their capture files read again (rebuild.h).
 *
 * A rebuild runs the ingest pipeline over the capture files of one ingest run
 * (in their original order, so sessions spanning rotated files come out the
 * same) into a temporary database that keeps the bytes, then hands out each
 * message whose SHA-256 matches one that was asked for. First only the packets
 * between the wanted sessions' addresses are read (the pipeline is then about
 * as fast as reading the file); anything not found that way is looked for in a
 * second, unfiltered pass. */
#include "rebuild.h"

#include "ingest.h"
#include "mime.h"

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { FILTER_MAX_PAIRS = 64 };   /* more sessions than this: read everything (one pass) */

/* Ctrl-C / SIGTERM while a capture is read again: the pipeline stops, the
 * temporary database (which holds message bytes) is removed, export stops. */
static volatile sig_atomic_t stop_signal;

static void on_stop(int sig)
{
    (void)sig;
    stop_signal = 1;
    sift_ingest_interrupt();
}

struct want {
    int64_t id;
    char sha[65];              /* "" if none was recorded */
    char *mail_from;
    double ts;
    int has_ts;
    int64_t ingest, f0, f1;    /* run, first and last file_index of its session */
    int ver;                   /* 4 / 6; 0 if the addresses did not parse */
    uint8_t a[16], b[16];      /* client, server */
    int done;                  /* handed out, or given up (reported) */
    int64_t tmp_id;            /* the same message in the pass's temporary database, or 0 */
};

struct wants {
    struct want *v;
    size_t n, cap;
    const struct idset *only;
};

/* --id: the messages asked for, sorted; seen[i] once found. */
struct idset {
    int64_t *v;
    unsigned char *seen;
    size_t n;
};

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* 1 if id is wanted (no set: all are); marks it seen. */
static int idset_take(const struct idset *s, int64_t id)
{
    if (!s || !s->n) return 1;
    const int64_t *p = bsearch(&id, s->v, s->n, sizeof *s->v, cmp_i64);
    if (!p) return 0;
    s->seen[p - s->v] = 1;
    return 1;
}

struct capfile {
    int64_t file_index;
    char *path, *realpath, *format;
    uint64_t size;
    char *found;               /* where it is now, or NULL */
    int reported;
};

struct capfiles {
    struct capfile *v;
    size_t n, cap;
};

/* ---- gathering ---- */

static int parse_addr(const char *s, uint8_t out[16])
{
    if (!s) return 0;
    memset(out, 0, 16);
    if (inet_pton(AF_INET, s, out) == 1) return 4;
    if (inet_pton(AF_INET6, s, out) == 1) return 6;
    return 0;
}

static int add_want(void *user, const struct sift_store_unstored *m)
{
    struct wants *w = user;
    if (!idset_take(w->only, m->id)) return 0;
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 64;
        w->v = sift_xrealloc(w->v, w->cap * sizeof *w->v);
    }
    struct want *x = &w->v[w->n++];
    memset(x, 0, sizeof *x);
    x->id = m->id;
    if (m->sha256 && strlen(m->sha256) == 64) memcpy(x->sha, m->sha256, 65);
    x->mail_from = m->mail_from ? sift_xstrdup(m->mail_from) : NULL;
    x->ts = m->ts;
    x->has_ts = m->has_ts;
    x->ingest = m->ingest_id;
    x->f0 = m->first_file;
    x->f1 = m->last_file < m->first_file ? m->first_file : m->last_file;
    int va = parse_addr(m->client_ip, x->a), vb = parse_addr(m->server_ip, x->b);
    x->ver = va && va == vb ? va : 0;
    return 0;
}

static int add_capfile(void *user, const struct sift_store_capfile *c)
{
    struct capfiles *f = user;
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 16;
        f->v = sift_xrealloc(f->v, f->cap * sizeof *f->v);
    }
    struct capfile *x = &f->v[f->n++];
    memset(x, 0, sizeof *x);
    x->file_index = c->file_index;
    x->path = sift_xstrdup(c->path ? c->path : "");
    x->realpath = c->realpath ? sift_xstrdup(c->realpath) : NULL;
    x->format = c->format ? sift_xstrdup(c->format) : NULL;
    x->size = c->size;
    return 0;
}

static void capfiles_free(struct capfiles *f)
{
    for (size_t i = 0; i < f->n; i++) {
        free(f->v[i].path);
        free(f->v[i].realpath);
        free(f->v[i].format);
        free(f->v[i].found);
    }
    free(f->v);
    memset(f, 0, sizeof *f);
}

static int by_ingest_id(const void *a, const void *b)
{
    const struct want *x = a, *y = b;
    if (x->ingest != y->ingest) return x->ingest < y->ingest ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* ---- finding the files ---- */

/* A capture read from a file (not a live source); format NULL: never read. */
static int is_file(const struct capfile *c)
{
    return !c->format || !strcmp(c->format, "pcap") || !strcmp(c->format, "pcapng");
}

/* The file as it is now: pcap_dir/<base name> first (the user said so), then
 * the absolute path of the ingest, then the path as given then. The size must
 * be the recorded one (the SHA-256 of every message is checked later). */
static void locate(struct capfile *c, const char *pcap_dir, char *why, size_t whylen)
{
    const char *base = strrchr(c->path, '/');
    base = base ? base + 1 : c->path;
    char *cand[3] = { NULL, NULL, NULL };
    size_t n = 0;
    if (pcap_dir) {
        size_t len = strlen(pcap_dir) + strlen(base) + 2;
        cand[n] = sift_xmalloc(len);
        snprintf(cand[n++], len, "%s/%s", pcap_dir, base);
    }
    if (c->realpath) cand[n++] = sift_xstrdup(c->realpath);
    cand[n++] = sift_xstrdup(c->path);
    why[0] = 0;
    for (size_t i = 0; i < n && !c->found; i++) {
        struct stat sb;
        if (stat(cand[i], &sb) != 0) {
            if (!why[0]) snprintf(why, whylen, "%s: %s", cand[i], strerror(errno));
        } else if (!S_ISREG(sb.st_mode)) {
            snprintf(why, whylen, "%s: not a regular file", cand[i]);
        } else if ((uint64_t)sb.st_size != c->size) {
            snprintf(why, whylen, "%s has %llu bytes, the ingested file had %llu", cand[i],
                     (unsigned long long)sb.st_size, (unsigned long long)c->size);
        } else {
            c->found = cand[i];
            cand[i] = NULL;
        }
    }
    for (size_t i = 0; i < n; i++) free(cand[i]);
}

/* ---- one pass over the files ---- */

struct pass {
    struct want *w;            /* the run's wants, in id order */
    size_t n;
    struct want **pending;     /* those not yet done, sorted by sha */
    size_t n_pending;
    const struct want **pairs; /* filter: one want per distinct address pair */
    size_t n_pairs;
    sift_store_raw_fn fn;
    void *user;
    size_t matched, delivered;
    int stop;
    int read_failed;           /* the pipeline said something about a file (on stderr) */
};

/* {a1, b1} and {a2, b2} are the same two addresses of len bytes, either way round. */
static int same_pair(const uint8_t *a1, const uint8_t *b1, const uint8_t *a2, const uint8_t *b2, size_t len)
{
    return (!memcmp(a1, a2, len) && !memcmp(b1, b2, len)) || (!memcmp(a1, b2, len) && !memcmp(b1, a2, len));
}

static int keep_pair(void *user, int version, const uint8_t *src, const uint8_t *dst)
{
    const struct pass *p = user;
    size_t len = version == 4 ? 4 : 16;
    for (size_t i = 0; i < p->n_pairs; i++) {
        const struct want *w = p->pairs[i];
        if (w->ver == version && same_pair(src, dst, w->a, w->b, len)) return 1;
    }
    return 0;
}

static int by_sha(const void *a, const void *b)
{
    const struct want *x = *(const struct want *const *)a, *y = *(const struct want *const *)b;
    int c = strcmp(x->sha, y->sha);
    if (c) return c;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* A message of the temporary database: every pending want with its SHA-256
 * gets it (wants with the same SHA-256 have the same bytes). */
static int match(void *user, int64_t tmp_id, const char *sha)
{
    struct pass *p = user;
    size_t lo = 0, hi = p->n_pending;   /* first pending with sha >= this one */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(p->pending[mid]->sha, sha) < 0) lo = mid + 1;
        else hi = mid;
    }
    for (size_t i = lo; i < p->n_pending && !strcmp(p->pending[i]->sha, sha); i++)
        if (!p->pending[i]->done && !p->pending[i]->tmp_id) {
            p->pending[i]->tmp_id = tmp_id;
            p->matched++;
        }
    return 0;
}

struct handout {
    struct pass *p;
    struct want *w;
};

static int hand_out(void *user, const struct sift_store_raw *r)
{
    struct handout *h = user;
    struct sift_store_raw m = *r;   /* the bytes from the rebuild, the rest from the database */
    m.id = h->w->id;
    m.sha256 = h->w->sha;
    m.mail_from = h->w->mail_from;
    m.ts = h->w->ts;
    m.has_ts = h->w->has_ts;
    h->w->done = 1;
    h->p->delivered++;
    if (h->p->fn(h->p->user, &m) != 0) h->p->stop = 1;
    return h->p->stop;
}

static void unlink_db(const char *path)
{
    static const char *const ext[] = { "", "-journal", "-wal", "-shm" };
    char buf[4200];
    for (size_t i = 0; i < sizeof ext / sizeof *ext; i++) {
        snprintf(buf, sizeof buf, "%s%s", path, ext[i]);
        unlink(buf);
    }
}

/* Runs the pipeline over files into a temporary database and finds the wanted
 * messages in it. If all were found (or this is the last pass), hands them out
 * in id order; otherwise hands out nothing, so that the unfiltered pass can
 * give them all in order. Returns 0, or -1 with err set. */
static int run_pass(struct pass *p, const char *const *files, size_t n_files, int filtered,
                    char *err, size_t errlen)
{
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp) tmp = "/tmp";
    char path[4096];
    snprintf(path, sizeof path, "%s/smtpsift-rebuild-XXXXXX", tmp);
    int fd = mkstemp(path);   /* 0600 */
    if (fd < 0) {
        snprintf(err, errlen, "cannot create a temporary database in %s: %s", tmp, strerror(errno));
        return -1;
    }
    close(fd);
    struct sift_ingest_opts io = {
        .db_path = path, .paths = files, .n_paths = n_files, .quiet = 1, .store_raw = 1,
        .command_line = "(rebuild)", .rebuild = 1,
        .keep = filtered ? keep_pair : NULL, .keep_user = filtered ? p : NULL,
    };
    if (sift_ingest_run(&io) != 0) p->read_failed = 1;   /* what: said on stderr by the pipeline */
    struct sift_store *tst;
    int r = 0;
    if (!stop_signal && sift_store_open(path, &tst, err, errlen) != SIFT_OK) {
        r = -1;
    } else if (!stop_signal) {
        p->matched = 0;
        for (size_t k = 0; k < p->n; k++) p->w[k].tmp_id = 0;
        if (sift_store_each_content_sha(tst, match, p, err, errlen) != SIFT_OK) r = -1;
        int hand = r == 0 && (!filtered || p->matched == p->n_pending);
        for (size_t k = 0; hand && k < p->n && !p->stop && !stop_signal; k++) {
            struct want *w = &p->w[k];
            if (w->done || !w->tmp_id) continue;
            struct handout h = { p, w };
            if (sift_store_raw_one(tst, w->tmp_id, hand_out, &h, err, errlen) != SIFT_OK) {
                r = -1;
                break;
            }
        }
        sift_store_close(tst);
    }
    unlink_db(path);
    if (stop_signal) {
        snprintf(err, errlen, "interrupted");
        return -1;
    }
    return r;
}

/* ---- one ingest run's messages ---- */

static int want_in(const struct want *w, int64_t idx) { return idx >= w->f0 && idx <= w->f1; }

static enum sift_status rebuild_run(struct sift_store *st, struct want *w, size_t n,
                                    const struct sift_rebuild_opts *o, sift_store_raw_fn fn, void *user,
                                    struct sift_rebuild_counts *cnt, int *stopped, char *err, size_t errlen)
{
    struct capfiles cf = {0};
    if (sift_store_each_capture(st, w[0].ingest, add_capfile, &cf, err, errlen) != SIFT_OK) {
        capfiles_free(&cf);
        return SIFT_ERR_DB;
    }
    /* Every file a wanted session touches must be there. */
    for (size_t i = 0; i < cf.n; i++) {
        struct capfile *c = &cf.v[i];
        size_t users = 0;
        for (size_t k = 0; k < n; k++) users += !w[k].done && want_in(&w[k], c->file_index);
        if (!users) continue;
        char why[4400];
        if (!is_file(c))
            snprintf(why, sizeof why, "it is a %s source, not a file", c->format);
        else
            locate(c, o->pcap_dir, why, sizeof why);
        if (c->found) continue;
        fprintf(stderr, "smtpsift: capture %s is not there (%s): %zu message%s from it cannot be had%s\n",
                c->path, why, users, users == 1 ? "" : "s",
                o->pcap_dir ? "" : "; --pcap-dir DIR looks for it in DIR");
        for (size_t k = 0; k < n; k++)
            if (!w[k].done && want_in(&w[k], c->file_index)) {
                w[k].done = 1;
                cnt->missing++;
            }
    }
    /* Sessions of the same run whose files lie before or after a missing one
     * can still come out: the files read are those the pending wants span. */
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    struct pass p = { .w = w, .n = n, .fn = fn, .user = user };
    p.pending = sift_xmalloc((n ? n : 1) * sizeof *p.pending);
    p.pairs = sift_xmalloc((n ? n : 1) * sizeof *p.pairs);
    int all_addrs = 1;
    for (size_t k = 0; k < n; k++) {
        if (w[k].done) continue;
        if (!w[k].sha[0]) {   /* nothing to check it against */
            fprintf(stderr, "smtpsift: message %lld has no recorded SHA-256: not rebuilt\n", (long long)w[k].id);
            w[k].done = 1;
            cnt->missing++;
            continue;
        }
        p.pending[p.n_pending++] = &w[k];
        if (w[k].f0 < lo) lo = w[k].f0;
        if (w[k].f1 > hi) hi = w[k].f1;
        if (!w[k].ver) all_addrs = 0;
        int seen = 0;
        for (size_t i = 0; i < p.n_pairs && !seen; i++) {
            const struct want *q = p.pairs[i];
            seen = q->ver == w[k].ver && same_pair(q->a, q->b, w[k].a, w[k].b, 16);
        }
        if (!seen) p.pairs[p.n_pairs++] = &w[k];
    }
    qsort(p.pending, p.n_pending, sizeof *p.pending, by_sha);
    const char **files = sift_xmalloc((cf.n ? cf.n : 1) * sizeof *files);
    size_t n_files = 0;
    for (size_t i = 0; i < cf.n; i++)
        if (cf.v[i].found && cf.v[i].file_index >= lo && cf.v[i].file_index <= hi)
            files[n_files++] = cf.v[i].found;
    enum sift_status r = SIFT_OK;
    if (p.n_pending && n_files) {
        int filtered = all_addrs && p.n_pairs <= FILTER_MAX_PAIRS;
        if (!o->quiet)
            fprintf(stderr, "smtpsift: reading %zu capture file%s again for %zu message%s\n", n_files,
                    n_files == 1 ? "" : "s", p.n_pending, p.n_pending == 1 ? "" : "s");
        for (int pass = 0; pass < 2 && !p.stop && p.delivered < p.n_pending; pass++) {
            if (pass == 1) {
                /* What the address filter did not find: everything, once, from the run's
                 * first file on (as the ingest read it: the same connections compete for
                 * the same bounds). Earlier files are looked for quietly. */
                n_files = 0;
                for (size_t i = 0; i < cf.n; i++) {
                    struct capfile *c = &cf.v[i];
                    if (c->file_index > hi) continue;
                    if (!c->found && is_file(c)) {
                        char why[4400];
                        locate(c, o->pcap_dir, why, sizeof why);
                    }
                    if (c->found) files[n_files++] = c->found;
                }
            }
            if (run_pass(&p, files, n_files, filtered, err, errlen) != 0) {
                r = SIFT_ERR_IO;
                break;
            }
            cnt->files_read += n_files;
            if (!filtered) break;
            filtered = 0;
        }
    }
    cnt->rebuilt += p.delivered;
    *stopped = p.stop;
    for (size_t k = 0; k < p.n_pending && r == SIFT_OK && !p.stop; k++) {
        struct want *x = p.pending[k];
        if (x->done) continue;
        if (p.read_failed)
            fprintf(stderr, "smtpsift: message %lld (SHA-256 %s) could not be read again from its capture"
                    " (see above)\n", (long long)x->id, x->sha);
        else
            fprintf(stderr, "smtpsift: message %lld (SHA-256 %s) is not in its capture any more: the file"
                    " changed since it was ingested (or a file of the run before it is missing)\n",
                    (long long)x->id, x->sha);
        x->done = 1;
        cnt->missing++;
    }
    free(files);
    free(p.pending);
    free(p.pairs);
    capfiles_free(&cf);
    return r;
}

/* ---- the whole database ---- */

struct stored_ctx {
    sift_store_raw_fn fn;
    void *user;
    const struct idset *only;
    size_t n;
    int stop;
};

static int stored_one(void *user, const struct sift_store_raw *m)
{
    struct stored_ctx *s = user;
    if (!idset_take(s->only, m->id)) return 0;
    s->n++;
    s->stop = s->fn(s->user, m) != 0;
    return s->stop;
}

enum sift_status sift_each_message_bytes(struct sift_store *st, const struct sift_rebuild_opts *o,
                                         sift_store_raw_fn fn, void *user,
                                         struct sift_rebuild_counts *counts, char *err, size_t errlen)
{
    struct sift_rebuild_counts cnt = {0};
    struct idset only = {0};
    if (o->n_ids) {
        only.v = sift_xmalloc(o->n_ids * sizeof *only.v);
        memcpy(only.v, o->ids, o->n_ids * sizeof *only.v);
        qsort(only.v, o->n_ids, sizeof *only.v, cmp_i64);
        for (size_t i = 0; i < o->n_ids; i++)   /* duplicates once */
            if (!only.n || only.v[only.n - 1] != only.v[i]) only.v[only.n++] = only.v[i];
        only.seen = sift_xcalloc(only.n, 1);
    }
    struct stored_ctx sc = { .fn = fn, .user = user, .only = &only };
    enum sift_status r = sift_store_each_raw(st, stored_one, &sc, err, errlen);
    cnt.stored = sc.n;
    struct wants w = { .only = &only };
    if (r == SIFT_OK && !sc.stop) r = sift_store_each_unstored(st, add_want, &w, err, errlen);
    if (r == SIFT_OK && w.n) {
        /* Held across the runs: GMime cannot be started again once shut down,
         * and each run's own init/shutdown then only counts. */
        sift_mime_init();
        struct sigaction sa, old_int, old_term;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_stop;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, &old_int);
        sigaction(SIGTERM, &sa, &old_term);
        qsort(w.v, w.n, sizeof *w.v, by_ingest_id);
        int stopped = 0;
        for (size_t i = 0; i < w.n && r == SIFT_OK && !stopped;) {
            size_t j = i;
            while (j < w.n && w.v[j].ingest == w.v[i].ingest) j++;
            r = rebuild_run(st, &w.v[i], j - i, o, fn, user, &cnt, &stopped, err, errlen);
            i = j;
        }
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);
        sift_mime_shutdown();
    }
    for (size_t i = 0; i < only.n && r == SIFT_OK; i++)
        if (!only.seen[i]) {
            fprintf(stderr, "smtpsift: --id %lld: no message with content has that id\n", (long long)only.v[i]);
            cnt.unknown_ids++;
        }
    free(only.v);
    free(only.seen);
    for (size_t i = 0; i < w.n; i++) free(w.v[i].mail_from);
    free(w.v);
    if (counts) *counts = cnt;
    return r;
}
