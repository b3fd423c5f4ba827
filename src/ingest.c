/* ingest.c — drives one ingest run: expands directories, skips captures
 * already in the database (by SHA-256), reads the files as one continuous
 * capture through libnids, hands each flow to the dissector that recognises
 * it, decodes finished messages and stores everything. No protocol parsing. */
#include "ingest.h"

#include "capture.h"
#include "detect.h"
#include "detect_content.h"
#include "dissect.h"
#include "hash.h"
#include "mime.h"
#include "outfile.h"
#include "reasm.h"
#include "progress.h"
#include "store.h"
#include "workq.h"

#include <dirent.h>
#include <malloc.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

static volatile sig_atomic_t interrupted;

static volatile int hash_cancel;   /* stops a capture-file hash thread */

void sift_ingest_interrupt(void)
{
    interrupted = 1;
    hash_cancel = 1;
    sift_capture_break();
}

struct finding_rec {
    char *rule;
    enum sift_severity sev;
    char *detail;
    struct sift_pktref where;
    int has_where;
};

struct ingest {
    struct sift_store *st;
    char (*file_sha)[65];       /* per file index: quick fingerprint (session uids) */
    int64_t note_capture;       /* first capture read by this run (run-level notes) */
    size_t n_files;
    uint64_t sessions, messages, attachments, findings, flows_ignored;
    struct sift_progress *prog;   /* NULL unless stderr is a terminal */
    uint64_t prog_done;           /* bytes of input consumed, estimated */
    /* findings collected while decoding one message, stored after its row */
    struct finding_rec *pending;
    size_t n_pending, cap_pending;
    int has_extract, extract_dirfd;   /* --extract DIR: attachments written there */
    struct sift_detect *det;          /* detection context (detect.h); created on first use if NULL */
    int in_finish;                    /* storing a job that came back (findings go straight in) */
    uint64_t spool_failed;            /* messages cut because no temporary file could be written */
    struct sift_workq *wq;            /* message decoding on the second core (workq.h) */
    int hash_only;                    /* rebuild: messages hashed, not decoded */
};

struct flow {
    struct ingest *ing;
    struct sift_flow_info fi;
    struct sift_probe *probe;             /* while undecided */
    const struct sift_dissector *d;       /* once decided */
    void *dstate;
    int64_t session_id;
    uint64_t bytes[2];
    uint32_t n_messages;
    int ignored;
    int auth_ok;                          /* an AUTH got 235 */
    unsigned auth_failed;                 /* AUTH attempts answered 4xx/5xx */
    size_t jobs;                          /* its jobs in the work queue */
};

/* A message (or a connection's end) on its way through the work queue. The
 * worker fills sha/mime/finds for a message with content; everything else
 * (detection, the database) happens on the capture thread when the job comes
 * back, in submission order. */
struct mjob {
    enum { J_TXN, J_CLOSE, J_FINDING } kind;
    struct flow *fl;                      /* NULL only for a capture finding */
    struct sift_smtp_txn *t;              /* J_TXN */
    int extract_dirfd;
    /* session facts as they were when the message ended */
    int auth_ok, tls;
    unsigned auth_failed;
    char *helo;
    /* worker results */
    char sha[65];
    struct sift_mime_summary *mime;
    struct finding_rec *finds;
    size_t n_finds, cap_finds;
    /* the connection's end */
    enum sift_close_reason why;
    struct sift_pktref last;
    struct sift_flow_end end;             /* what reasm said at the close (a copy) */
    /* Given up by the watchdog, the job has two holders, the capture thread
     * and the stuck worker (if it ever returns): the last one frees it. */
    atomic_int holders;
};

/* ---------- findings ---------- */

static void finding_push(struct finding_rec **v, size_t *n, size_t *cap, const char *rule,
                         enum sift_severity sev, const char *detail, const struct sift_pktref *where)
{
    if (*n >= 1000) return;   /* bound per message */
    if (*n == *cap) {
        *cap = *cap ? 2 * *cap : 8;
        *v = sift_xrealloc(*v, *cap * sizeof **v);
    }
    struct finding_rec *f = &(*v)[(*n)++];
    f->rule = sift_xstrdup(rule);
    f->sev = sev;
    f->detail = detail ? sift_xstrdup(detail) : NULL;
    f->has_where = where != NULL;
    if (where) f->where = *where;
}

static void collect_finding(void *user, const char *rule, enum sift_severity sev,
                            const char *detail, const struct sift_pktref *where)
{
    struct ingest *ing = user;
    finding_push(&ing->pending, &ing->n_pending, &ing->cap_pending, rule, sev, detail, where);
}

/* The worker's collector: findings go with the job. */
static void job_finding(void *user, const char *rule, enum sift_severity sev,
                        const char *detail, const struct sift_pktref *where)
{
    struct mjob *j = user;
    finding_push(&j->finds, &j->n_finds, &j->cap_finds, rule, sev, detail, where);
}

static void flush_findings(struct ingest *ing, int64_t session_id, int64_t message_id)
{
    for (size_t i = 0; i < ing->n_pending; i++) {
        struct finding_rec *f = &ing->pending[i];
        sift_store_finding(ing->st, 0, session_id, message_id, f->rule, f->sev, f->detail,
                           f->has_where ? &f->where : NULL);
        ing->findings++;
        free(f->rule);
        free(f->detail);
    }
    ing->n_pending = 0;
}

static void job_submit(struct ingest *ing, struct mjob *j, uint64_t weight, int needs_work);

/* A finding about a session (fl) or the capture (fl NULL). While messages
 * are being decoded it waits in the queue behind them, so rows (and ids)
 * come out in the same order whatever the threads' timing. */
static void side_finding(struct ingest *ing, struct flow *fl, const char *rule, enum sift_severity sev,
                         const char *detail, const struct sift_pktref *where)
{
    if (!strcmp(rule, "spool_failed")) ing->spool_failed++;
    if (!ing->in_finish && ing->wq && sift_workq_pending(ing->wq)) {
        struct mjob *j = sift_xcalloc(1, sizeof *j);
        j->kind = J_FINDING;
        j->fl = fl;
        finding_push(&j->finds, &j->n_finds, &j->cap_finds, rule, sev, detail, where);
        job_submit(ing, j, 64, 0);
        return;
    }
    sift_store_finding(ing->st, 0, fl ? fl->session_id : 0, 0, rule, sev, detail, where);
    ing->findings++;
}

static void session_finding(void *user, const char *rule, enum sift_severity sev,
                            const char *detail, const struct sift_pktref *where)
{
    struct flow *fl = user;
    side_finding(fl->ing, fl, rule, sev, detail, where);
}

static void note_finding(void *user, const char *rule, enum sift_severity sev,
                         const char *detail, const struct sift_pktref *where)
{
    struct ingest *ing = user;
    sift_store_finding(ing->st, ing->note_capture, 0, 0, rule, sev, detail, where);
    ing->findings++;
}

static void capture_finding(void *user, const char *rule, enum sift_severity sev,
                            const char *detail, const struct sift_pktref *where)
{
    side_finding(user, NULL, rule, sev, detail, where);
}

/* ---------- dissector sink ---------- */

static void on_command(void *user, const struct sift_smtp_cmd *c)
{
    struct flow *fl = user;
    sift_store_command(fl->ing->st, fl->session_id, c);
}

static void on_auth(void *user, const struct sift_smtp_auth *a)
{
    struct flow *fl = user;
    sift_store_auth(fl->ing->st, fl->session_id, a);
    if (a->outcome_code == 235) fl->auth_ok = 1;
    else if (a->outcome_code >= 400) fl->auth_failed++;
}

static void on_xclient(void *user, const struct sift_smtp_xclient *x)
{
    struct flow *fl = user;
    sift_store_xclient(fl->ing->st, fl->session_id, x);
}

/* The session facts detect.h reads (strings borrowed from fl and the dissector). */
static struct sift_detect_session detect_facts(struct flow *fl)
{
    const struct sift_smtp_session *si = sift_smtp_session_info(fl->dstate);
    struct sift_detect_session s = { .client_ip = fl->fi.cli_addr, .helo = si ? si->helo_name : NULL,
                                     .auth_ok = fl->auth_ok, .auth_failures = fl->auth_failed,
                                     .tls = si ? si->tls_started : 0 };
    return s;
}

/* Forged-sender and risk rules on one transaction; findings join the pending ones. */
static void detect_txn(struct mjob *j, const struct sift_smtp_txn *t, const struct sift_mime_summary *mime)
{
    struct ingest *ing = j->fl->ing;
    if (!ing->det) ing->det = sift_detect_new(NULL);
    struct sift_detect_session s = { .client_ip = j->fl->fi.cli_addr, .helo = j->helo,
                                     .auth_ok = j->auth_ok, .auth_failures = j->auth_failed,
                                     .tls = j->tls };
    struct sift_detect_rcpt *r = sift_xcalloc(t->n_rcpts ? t->n_rcpts : 1, sizeof *r);
    for (size_t i = 0; i < t->n_rcpts; i++) {
        r[i].address = t->rcpts[i].address;
        r[i].reply_code = t->rcpts[i].reply_code;
    }
    struct sift_detect_txn dt = { t->mail_from ? t->mail_from : "", r, t->n_rcpts };
    sift_detect_message(ing->det, &s, &dt, mime, collect_finding, ing);
    free(r);
}

/* Test hook: a message containing $SIFT_TEST_MIME_HANG makes the decoder spin
 * (burning CPU) until the watchdog gives it up, as a parser stuck in a loop
 * would. */
static void test_hang(const struct sift_smtp_txn *t, const volatile int *abandoned)
{
    const char *marker = getenv("SIFT_TEST_MIME_HANG");
    if (!marker || !*marker || !t->content.data) return;
    if (!memmem(t->content.data, t->content.len, marker, strlen(marker))) return;
    volatile uint64_t spin = 0;
    while (!*abandoned) spin++;
}

/* SHA-256 of a message, in memory or spooled. SIFT_ERR_IO if a spool cannot be read back. */
static enum sift_status message_sha256(const struct sift_smtp_txn *t, char out[65])
{
    if (t->spooled) return sift_hash_fd_sha256_hex(t->spool_fd, t->spool_len, out);
    sift_hash_sha256_hex(t->content.data ? t->content.data : (const uint8_t *)"", t->content.len, out);
    return SIFT_OK;
}

/* A spooled message up to this size is mapped for its hash and decoding (the
 * spool is our own unlinked file: nothing else can cut it short, so no
 * SIGBUS); a larger one is read through the file, so that memory stays flat
 * (mapped pages count as resident while the decoders hold them). */
enum { MAP_SPOOL_MAX = 16 << 20 };

/* Worker: everything about one message that needs no shared state. */
static void job_work(void *jobp, void *ctx, const volatile int *abandoned)
{
    const struct ingest *ing = ctx;   /* only read here */
    struct mjob *j = jobp;
    struct sift_smtp_txn *t = j->t;
    struct sift_mime_opts mo = { .extract_dirfd = j->extract_dirfd };
    /* The message's bytes in memory: held, or spooled and mapped; NULL: read
     * through the spool file. */
    const uint8_t *data = t->content.data ? t->content.data : (const uint8_t *)"";
    size_t len = t->content.len;
    void *map = MAP_FAILED;
    if (t->spooled) {
        data = NULL;
        if (t->spool_len && t->spool_len <= MAP_SPOOL_MAX)
            map = mmap(NULL, (size_t)t->spool_len, PROT_READ, MAP_PRIVATE, t->spool_fd, 0);
        if (map != MAP_FAILED) {
            data = map;
            len = (size_t)t->spool_len;
        }
    }
    if (data) sift_hash_sha256_hex(data, len, j->sha);
    else if (message_sha256(t, j->sha) != SIFT_OK)
        job_finding(j, "spool_failed", SIFT_SEV_HIGH, "cannot read a spooled message back", NULL);
    if (!ing->hash_only) {
        test_hang(t, abandoned);
        if (!*abandoned) {   /* else the job is no longer ours to fill */
            j->mime = data ? sift_mime_parse_ex(data, len, &mo, job_finding, j)
                           : sift_mime_parse_fd(t->spool_fd, t->spool_len, &mo, job_finding, j);
            sift_detect_content(j->mime, job_finding, j);
        }
    }
    if (map != MAP_FAILED) munmap(map, len);
}

static void job_free(struct mjob *j)
{
    for (size_t i = 0; i < j->n_finds; i++) {
        free(j->finds[i].rule);
        free(j->finds[i].detail);
    }
    free(j->finds);
    free(j->helo);
    free(j);
}

static void session_end(struct flow *fl, enum sift_close_reason why, const struct sift_pktref *last,
                        const struct sift_flow_end *fe);

static void job_drop_now(struct mjob *j)
{
    sift_mime_free(j->mime);
    sift_smtp_txn_free(j->t);
    job_free(j);
}

/* Capture thread: a job came back; store it (in submission order). */
static void job_store(struct ingest *ing, struct mjob *j, enum sift_workq_status st);

static void job_finish(struct ingest *ing, struct mjob *j, enum sift_workq_status st)
{
    ing->in_finish = 1;
    job_store(ing, j, st);
    ing->in_finish = 0;
}

static void job_store(struct ingest *ing, struct mjob *j, enum sift_workq_status st)
{
    struct flow *fl = j->fl;
    if (fl) fl->jobs--;
    if (j->kind == J_FINDING) {
        const struct finding_rec *f = &j->finds[0];
        sift_store_finding(ing->st, 0, fl ? fl->session_id : 0, 0, f->rule, f->sev, f->detail,
                           f->has_where ? &f->where : NULL);
        ing->findings++;
        job_free(j);
        return;
    }
    if (j->kind == J_CLOSE) {
        session_end(fl, j->why, &j->last, &j->end);
        job_free(j);
        return;
    }
    struct sift_smtp_txn *t = j->t;
    /* Given up by the watchdog: the stuck thread still owns j (it frees it,
     * and the message, if it ever returns: job_drop). Only the message is read
     * here, as it was handed over (that thread only reads it too); the
     * results of the decoding are not touched. */
    int timeout = st == SIFT_WORKQ_TIMEOUT;
    struct finding_rec *finds = timeout ? NULL : j->finds;
    size_t n_finds = timeout ? 0 : j->n_finds, cap_finds = timeout ? 0 : j->cap_finds;
    struct sift_mime_summary *mime = timeout ? NULL : j->mime;
    char sha[65];
    memcpy(sha, j->sha, sizeof sha);
    if (t->has_content && (timeout || st == SIFT_WORKQ_SKIPPED)) {
        char detail[160];
        if (timeout)
            snprintf(detail, sizeof detail, "decoding this %llu-byte message used more than its CPU time"
                     " limit (--mime-timeout); it is stored undecoded",
                     (unsigned long long)sift_smtp_content_len(t));
        else
            snprintf(detail, sizeof detail, "message decoding was stopped after %u stuck decoders;"
                     " this message is stored undecoded", sift_workq_abandoned_count(ing->wq));
        finding_push(&finds, &n_finds, &cap_finds, timeout ? "mime_parse_timeout" : "mime_parse_skipped",
                     SIFT_SEV_MEDIUM, detail, t->content_first_pkt.frame_no ? &t->content_first_pkt : NULL);
        message_sha256(t, sha);
    }
    sift_store_unit_begin(ing->st);   /* a crash leaves the message with its findings, or neither */
    int64_t mid = sift_store_message(ing->st, fl->session_id, t, mime, t->has_content ? sha : NULL);
    for (size_t i = 0; i < n_finds; i++) {
        struct finding_rec *f = &finds[i];
        sift_store_finding(ing->st, 0, fl->session_id, mid, f->rule, f->sev, f->detail,
                           f->has_where ? &f->where : NULL);
        ing->findings++;
    }
    detect_txn(j, t, mime);
    flush_findings(ing, fl->session_id, mid);
    sift_store_unit_end(ing->st);
    if (t->has_content) {
        ing->messages++;
        if (mime) ing->attachments += mime->n_attachments;
    }
    if (timeout) {
        for (size_t i = 0; i < n_finds; i++) {
            free(finds[i].rule);
            free(finds[i].detail);
        }
        free(finds);
        if (atomic_fetch_sub(&j->holders, 1) == 1) job_drop_now(j);
        return;
    }
    j->finds = finds;   /* may have grown */
    j->n_finds = n_finds;
    j->cap_finds = cap_finds;
    sift_mime_free(j->mime);
    sift_smtp_txn_free(t);
    job_free(j);
}

/* A worker given up by the watchdog came back after all: the job is freed
 * by whichever of it and the capture thread lets go last. */
static void job_drop(void *jobp)
{
    struct mjob *j = jobp;
    if (atomic_fetch_sub(&j->holders, 1) == 1) job_drop_now(j);
}

/* Takes back finished jobs: all that are ready, or with wait until none is pending. */
static void jobs_collect(struct ingest *ing, int wait)
{
    if (!ing->wq) return;
    for (;;) {
        enum sift_workq_status st;
        struct mjob *j = sift_workq_take(ing->wq, wait, &st);
        if (!j) return;
        job_finish(ing, j, st);
    }
}

/* One temporary file is open per spooled message (a message past 2 MiB, or
 * past 16 KiB while 64 MiB of messages are being received at once): the
 * usual soft limit of 1024 descriptors would cut messages short under many
 * concurrent large transfers. Raised to the hard limit (at most 65536). */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= 65536 || rl.rlim_cur >= rl.rlim_max) return;
    rl.rlim_cur = rl.rlim_max < 65536 ? rl.rlim_max : 65536;
    (void)setrlimit(RLIMIT_NOFILE, &rl);
}

/* Blocks of 2 MiB and more are mapped on their own and go back to the
 * system when freed (glibc otherwise raises this threshold as large blocks
 * come and go, and their pages then stay in the heap): peak memory stays
 * the same on a 1 GB capture as on a 50 MB one. */
static void memory_policy(void)
{
    mallopt(M_MMAP_THRESHOLD, 2 << 20);
}

/* The work queue: decoding threads, one per CPU (at most 4; SIFT_THREADS=N
 * in the environment sets N, 0 decodes on the capture thread). A message may
 * use mime_timeout CPU seconds plus 0.2 s per MB before it is given up
 * (0: 60 s; < 0: no limit). */
static void jobs_start(struct ingest *ing, double mime_timeout)
{
    const char *th = getenv("SIFT_THREADS");
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1) n = 1;
    if (n > 4) n = 4;
    if (th && *th) n = strtol(th, NULL, 10);
    if (n < 0) n = 0;
    struct sift_workq_opts wo = {
        .max_jobs = 256, .max_bytes = 12u << 20,
        .cpu_limit_s = mime_timeout < 0 ? 0 : mime_timeout > 0 ? mime_timeout : 60,
        .cpu_per_mb = mime_timeout < 0 ? 0 : 0.2,
        .max_abandoned = 3,
        .drop = job_drop,
        .threads = (int)n,
    };
    ing->wq = sift_workq_new(job_work, ing, &wo);
}

static void job_submit(struct ingest *ing, struct mjob *j, uint64_t weight, int needs_work)
{
    while (sift_workq_full(ing->wq)) {
        enum sift_workq_status st;
        struct mjob *done = sift_workq_take(ing->wq, 1, &st);
        if (!done) break;
        job_finish(ing, done, st);
    }
    if (j->fl) j->fl->jobs++;
    sift_workq_submit(ing->wq, j, weight, needs_work);
}

static void on_txn(void *user, struct sift_smtp_txn *t)
{
    struct flow *fl = user;
    struct ingest *ing = fl->ing;
    fl->n_messages++;
    struct mjob *j = sift_xcalloc(1, sizeof *j);
    atomic_init(&j->holders, 2);
    j->fl = fl;
    j->t = t;
    j->extract_dirfd = ing->has_extract ? ing->extract_dirfd : -1;
    const struct sift_smtp_session *si = sift_smtp_session_info(fl->dstate);
    j->auth_ok = fl->auth_ok;
    j->auth_failed = fl->auth_failed;
    j->tls = si ? si->tls_started : 0;
    j->helo = si && si->helo_name ? sift_xstrdup(si->helo_name) : NULL;
    job_submit(ing, j, t->has_content ? 4096 + (uint64_t)t->content.len : 256, t->has_content);   /* a spooled one is on disk */
}

/* ---------- reassembly callbacks ---------- */

static void *flow_open(void *user, const struct sift_flow_info *fi)
{
    struct flow *fl = sift_xcalloc(1, sizeof *fl);
    fl->ing = user;
    fl->fi = *fi;
    return fl;
}

static void make_uid(const struct ingest *ing, const struct sift_flow_info *fi, char uid[17])
{
    char key[512], hex[65];
    const char *cap = fi->first.file_idx < ing->n_files ? ing->file_sha[fi->first.file_idx] : "";
    snprintf(key, sizeof key, "%s/%llu/%s/%u/%s/%u", cap, (unsigned long long)fi->first.frame_no,
             fi->cli_addr, fi->cli_port, fi->srv_addr, fi->srv_port);
    sift_hash_sha256_hex(key, strlen(key), hex);
    uid[0] = 'S';
    memcpy(uid + 1, hex, 15);
    uid[16] = '\0';
}

static int flow_data(void *user, void *flowp, enum sift_dir dir, const uint8_t *data, size_t len,
                     const struct sift_pktref *pkt)
{
    struct ingest *ing = user;
    struct flow *fl = flowp;
    fl->bytes[dir] += len;
    if (fl->d) {
        fl->d->feed(fl->dstate, dir, data, len, pkt);
        return 0;
    }
    const struct sift_dissector *d;
    if (!fl->probe) fl->probe = sift_xcalloc(1, sizeof *fl->probe);   /* only flows with data */
    switch (sift_dissect_probe(fl->probe, dir, data, len, pkt, fl->fi.srv_port, &d)) {
    case SIFT_PROBE_MORE:
        return 0;
    case SIFT_PROBE_NONE:
        fl->ignored = 1;
        ing->flows_ignored++;
        return -1;
    case SIFT_PROBE_FOUND:
        break;
    }
    char uid[17];
    make_uid(ing, &fl->fi, uid);
    fl->session_id = sift_store_session_open(ing->st, &fl->fi, uid);
    ing->sessions++;
    struct sift_smtp_sink sink = { .user = fl, .on_command = on_command, .on_txn = on_txn,
                                   .on_finding = session_finding, .on_auth = on_auth,
                                   .on_xclient = on_xclient };
    fl->d = d;
    fl->dstate = d->state_new(&sink);
    /* The probe holds the bytes so far, this chunk included (up to its cap). */
    sift_dissect_replay(fl->probe, d, fl->dstate);
    size_t probed = fl->probe->last_take;
    if (probed < len) d->feed(fl->dstate, dir, data + probed, len - probed, pkt);
    free(fl->probe);
    fl->probe = NULL;
    return 0;
}

static void flow_gap(void *user, void *flowp, enum sift_dir dir, uint64_t len, const struct sift_pktref *pkt)
{
    (void)user;
    struct flow *fl = flowp;
    if (fl->d) fl->d->gap(fl->dstate, dir, len, pkt);
}

/* Evasion by tiny segments (a payload cut into pieces of a few bytes, which
 * defeats matchers that look at one packet at a time): a direction with at
 * least 1000 data segments of which 90 % carry 1 to 8 bytes. */
static void tiny_segments_check(struct flow *fl, const struct sift_flow_end *fe, const struct sift_pktref *last)
{
    for (int d = 0; d < 2; d++) {
        uint64_t n = fe->segments[d], t = fe->tiny_segments[d];
        if (n < 1000 || t * 10 < n * 9) continue;
        char detail[200];
        snprintf(detail, sizeof detail, "%s sent %llu of its %llu data segments with 1 to 8 bytes",
                 d == SIFT_DIR_C2S ? "the client" : "the server", (unsigned long long)t, (unsigned long long)n);
        session_finding(fl, "tcp_tiny_segments", SIFT_SEV_LOW, detail, last);
    }
}

static void session_end(struct flow *fl, enum sift_close_reason why, const struct sift_pktref *last,
                        const struct sift_flow_end *fe)
{
    struct ingest *ing = fl->ing;
    sift_store_unit_begin(ing->st);   /* the session's end and its findings together */
    struct sift_store_session_end end = {
        .smtp = sift_smtp_session_info(fl->dstate),
        .reason = why,
        .last = *last,
        .bytes_c2s = fl->bytes[SIFT_DIR_C2S],
        .bytes_s2c = fl->bytes[SIFT_DIR_S2C],
        .n_messages = fl->n_messages,
        .reassembly = fe->reassembly,
    };
    if (ing->det) {
        struct sift_detect_session ds = detect_facts(fl);
        sift_detect_session_end(ing->det, &ds, session_finding, fl);
    }
    tiny_segments_check(fl, fe, last);
    sift_store_session_close(ing->st, fl->session_id, &end);
    sift_store_session_gap(ing->st, fl->session_id, fe->gap_bytes[0] + fe->gap_bytes[1]);
    sift_store_unit_end(ing->st);
    fl->d->state_free(fl->dstate);
    free(fl->probe);
    free(fl);
}

static void flow_close(void *user, void *flowp, enum sift_close_reason why, const struct sift_pktref *last)
{
    (void)user;
    struct flow *fl = flowp;
    if (!fl->d) {
        free(fl->probe);
        free(fl);
        return;
    }
    /* The dissector's last rows (commands, findings) go now; its messages are
     * queued: the session row is finished once they are stored. */
    sift_store_unit_begin(fl->ing->st);
    fl->d->close(fl->dstate, last);
    sift_store_unit_end(fl->ing->st);
    if (!sift_workq_pending(fl->ing->wq)) {   /* else its end waits behind what is queued */
        session_end(fl, why, last, sift_reasm_flow_end());
        return;
    }
    struct mjob *j = sift_xcalloc(1, sizeof *j);
    j->kind = J_CLOSE;
    j->fl = fl;
    j->why = why;
    j->last = *last;
    j->end = *sift_reasm_flow_end();   /* valid only during this callback */
    job_submit(fl->ing, j, 64, 0);
}

/* ---------- inputs ---------- */

static int is_capture_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    unsigned char m[4];
    if (!f) return 0;
    size_t n = fread(m, 1, 4, f);
    fclose(f);
    if (n < 4) return 0;
    uint32_t be = (uint32_t)m[0] << 24 | (uint32_t)m[1] << 16 | (uint32_t)m[2] << 8 | m[3];
    return be == 0xa1b2c3d4 || be == 0xd4c3b2a1 || be == 0xa1b23c4d || be == 0x4d3cb2a1 ||
           be == 0x0a0d0d0a;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

struct pathlist { char **v; size_t n, cap; };

static void pathlist_add(struct pathlist *l, char *p)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->v = sift_xrealloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n++] = p;
}

/* Expand directories into their capture files in name order. Returns 0, or
 * 1 if some path could not be read (message printed). */
static int expand_paths(const struct sift_ingest_opts *o, struct pathlist *out)
{
    int bad = 0;
    for (size_t i = 0; i < o->n_paths; i++) {
        const char *p = o->paths[i];
        struct stat sb;
        if (stat(p, &sb) != 0) {
            fprintf(stderr, "smtpsift: %s: cannot read: %s\n", p, strerror(errno));
            bad = 1;
            continue;
        }
        if (!S_ISDIR(sb.st_mode)) {
            pathlist_add(out, sift_xstrdup(p));
            continue;
        }
        DIR *dir = opendir(p);
        if (!dir) {
            fprintf(stderr, "smtpsift: %s: cannot read directory: %s\n", p, strerror(errno));
            bad = 1;
            continue;
        }
        struct pathlist sub = {0};
        struct dirent *de;
        while ((de = readdir(dir)) != NULL) {
            if (de->d_name[0] == '.') continue;
            size_t n = strlen(p) + strlen(de->d_name) + 2;
            char *full = sift_xmalloc(n);
            size_t pl = strlen(p);
            snprintf(full, n, "%s%s%s", p, pl && p[pl - 1] == '/' ? "" : "/", de->d_name);
            struct stat fs;
            if (stat(full, &fs) == 0 && S_ISREG(fs.st_mode) && is_capture_file(full))
                pathlist_add(&sub, full);
            else
                free(full);
        }
        closedir(dir);
        if (sub.n) qsort(sub.v, sub.n, sizeof *sub.v, cmp_str);
        else {
            fprintf(stderr, "smtpsift: %s: no capture files in this directory\n", p);
            bad = 1;
        }
        for (size_t k = 0; k < sub.n; k++) pathlist_add(out, sub.v[k]);
        free(sub.v);
    }
    return bad;
}

static void frame_cb(const struct sift_frame *f, void *user)
{
    struct ingest *ing = user;
    sift_reasm_feed(f);
    if (sift_workq_ready_hint(ing->wq)) jobs_collect(ing, 0);
    if (sift_store_error(ing->st)) sift_capture_break();   /* disk full...: stop reading */
    if (ing->prog) {   /* a record header (16 bytes in pcap) plus the frame */
        ing->prog_done += 16 + (uint64_t)f->caplen;
        sift_progress_update(ing->prog, ing->prog_done);
    }
}

/* The full SHA-256 of a capture file, computed on a second thread while the
 * main thread reads the same file (the page cache serves both). */
struct hash_job {
    pthread_t th;
    int started;
    const char *path;
    char sha[65];
    uint64_t size;
    enum sift_status rc;
    char err[256];
};

static void *hash_job_run(void *arg)
{
    struct hash_job *j = arg;
    j->rc = sift_hash_file_cancel(j->path, j->sha, &j->size, &hash_cancel, j->err, sizeof j->err);
    return NULL;
}

/* The same on its own thread. The capture thread is the pipeline's critical
 * path and the decoders feed on it, while this hash is needed only when the
 * file is finished: lowest priority (Linux: per thread), so it takes what the
 * others leave (1 GB benchmark: 4-9 % less wall time, bench/README.md). */
static void *hash_job_thread(void *arg)
{
    (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19);
    return hash_job_run(arg);
}

static void hash_job_start(struct hash_job *j, const char *path)
{
    j->path = path;
    if (pthread_create(&j->th, NULL, hash_job_thread, j) == 0) {
        j->started = 1;
    } else {   /* no thread: hash here */
        hash_job_run(j);
    }
    j->started |= 2;
}

/* Waits for the hash; copies it into out on success. No job: SIFT_OK, out untouched. */
static enum sift_status hash_job_finish(struct hash_job *j, char out[65])
{
    if (!(j->started & 2)) return SIFT_OK;
    if (j->started & 1) pthread_join(j->th, NULL);
    j->started = 0;
    if (j->rc == SIFT_OK) memcpy(out, j->sha, 65);
    return j->rc;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The ingest run behind sift_ingest_run and sift_ingest_memory: with mem set,
 * the only input is those mem_len bytes, named o->paths[0]. */
static int run(const struct sift_ingest_opts *o, const uint8_t *mem, size_t mem_len)
{
    struct pathlist files = {0};
    int rc = 0;
    if (mem) pathlist_add(&files, sift_xstrdup(o->n_paths ? o->paths[0] : "(memory)"));
    else rc = expand_paths(o, &files);
    double t0 = now_s();
    char err[512];

    struct ingest ing = {0};
    if (o->extract_dir) {
        ing.extract_dirfd = sift_outdir_open(o->extract_dir, err, sizeof err);
        ing.has_extract = ing.extract_dirfd >= 0;
    }
    if ((o->extract_dir && !ing.has_extract) ||
        sift_store_open(o->db_path, &ing.st, err, sizeof err) != SIFT_OK) {
        fprintf(stderr, "smtpsift: %s: %s\n", o->extract_dir && !ing.has_extract ? "--extract" : o->db_path, err);
        if (ing.has_extract) close(ing.extract_dirfd);
        for (size_t i = 0; i < files.n; i++) free(files.v[i]);
        free(files.v);
        return 1;
    }
    sift_store_set_redact(ing.st, o->redact_secrets);
    sift_store_set_no_raw(ing.st, !mem && !o->store_raw);
    ing.hash_only = o->rebuild;
    sift_store_bulk(ing.st, 1);
    ing.n_files = files.n;
    {   /* large messages go to temporary files: say now if they cannot */
        int fd = sift_tmpfile(NULL);
        if (fd >= 0) close(fd);
        else
            fprintf(stderr, "smtpsift: warning: cannot create temporary files in %s (%s): messages over"
                    " 2 MiB will be cut (finding spool_failed); set TMPDIR\n",
                    getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", strerror(errno));
    }
    ing.file_sha = sift_xcalloc(files.n ? files.n : 1, sizeof *ing.file_sha);
    uint64_t total_size = 0, done_size = 0;
    for (size_t i = 0; !mem && i < files.n; i++) {
        struct stat sb;
        if (stat(files.v[i], &sb) == 0) total_size += (uint64_t)sb.st_size;
    }
    if (!mem) ing.prog = sift_progress_new(total_size, o->quiet);
    int64_t ingest_id = sift_store_ingest_begin(ing.st, o->command_line);
    ing.det = sift_detect_new(o->detect);

    sift_mime_init();
    memory_policy();
    raise_fd_limit();
    jobs_start(&ing, o->mime_timeout);
    struct sift_reasm_cbs cbs = {
        .user = &ing, .on_open = flow_open, .on_data = flow_data, .on_gap = flow_gap,
        .on_close = flow_close, .on_finding = capture_finding,
    };
    enum sift_status rs = sift_reasm_init(&cbs, err, sizeof err);
    if (rs == SIFT_OK && o->keep) sift_reasm_set_filter(o->keep, o->keep_user);
    if (rs != SIFT_OK) {
        fprintf(stderr, "smtpsift: cannot start reassembly: %s\n", err);
        sift_store_ingest_end(ing.st, ingest_id, "failed");
        sift_store_close(ing.st);
        sift_workq_free(ing.wq);
        sift_mime_shutdown();
        free(ing.file_sha);
        sift_detect_free(ing.det);
        if (ing.has_extract) close(ing.extract_dirfd);
        for (size_t i = 0; i < files.n; i++) free(files.v[i]);
        free(files.v);
        return 1;
    }

    uint64_t packets = 0, bytes = 0;
    size_t n_read = 0, n_skipped = 0;
    for (size_t i = 0; i < files.n && !interrupted && !sift_store_error(ing.st); i++) {
        const char *path = files.v[i];
        /* Identity of the file: a quick fingerprint now (used for skipping and for
         * session uids), the full SHA-256 on a second thread while the file is read. */
        uint64_t size = mem_len;
        char full[65] = "", prev[65];
        struct hash_job job;
        memset(&job, 0, sizeof job);
        if (mem) {
            sift_hash_sha256_hex(mem, mem_len, full);
            memcpy(ing.file_sha[i], full, sizeof full);
        } else if (sift_hash_fingerprint(path, ing.file_sha[i], &size, err, sizeof err) != SIFT_OK) {
            fprintf(stderr, "smtpsift: %s: %s\n", path, err);
            rc = 1;
            continue;
        }
        int64_t done = o->rebuild ? 0 : sift_store_capture_find_fp(ing.st, ing.file_sha[i], prev);
        if (done && !full[0] && sift_hash_file(path, full, &size, err, sizeof err) != SIFT_OK) {
            fprintf(stderr, "smtpsift: %s: %s\n", path, err);
            rc = 1;
            continue;
        }
        if (done && strcmp(full, prev) != 0) done = 0;   /* same fingerprint, other file */
        if (done) {
            if (!o->quiet)
                fprintf(stderr, "smtpsift: %s: already ingested (capture %lld, same SHA-256); skipped\n",
                        path, (long long)done);
            n_skipped++;
            continue;
        }
        if (sift_store_capture_forget_fp(ing.st, ing.file_sha[i]) > 0 && !o->quiet)
            fprintf(stderr, "smtpsift: %s: removed rows of an earlier unfinished ingest of this file\n", path);
        int64_t cap_id = sift_store_capture_add(ing.st, ingest_id, (uint32_t)i, path, full, size);
        sift_store_capture_set_hash(ing.st, cap_id, NULL, ing.file_sha[i]);
        if (!mem) {   /* where export and extract find it again (rebuild.c) */
            char *rp = realpath(path, NULL);
            sift_store_capture_set_realpath(ing.st, cap_id, rp);
            free(rp);
        }
        if (!ing.note_capture) {
            /* Run-level notes (rules skipped for want of configuration) belong to the
             * first capture this run reads: a run that skips everything adds nothing,
             * and redoing the capture replaces them. */
            ing.note_capture = cap_id;
            sift_detect_begin(ing.det, note_finding, &ing);
        }
        if (!full[0] && !o->rebuild) hash_job_start(&job, path);
        struct sift_capture_info info;
        memset(&info, 0, sizeof info);
        enum sift_status s;
        FILE *mfp = mem && mem_len ? fmemopen((void *)mem, mem_len, "rb") : NULL;
        if (!mem)
            s = sift_capture_read_file(path, (uint32_t)i, frame_cb, &ing, &info, err, sizeof err);
        else if (mfp)
            s = sift_capture_read_stream(mfp, (uint32_t)i, frame_cb, &ing, &info, err, sizeof err);
        else {
            snprintf(err, sizeof err, "empty file, not a capture");
            s = SIFT_ERR_FORMAT;
        }
        jobs_collect(&ing, 1);   /* this file's messages are stored before its row is finished */
        const char *status = "complete";
        const char *cap_err = NULL;
        if (s == SIFT_ERR_INTERRUPTED) {
            status = "interrupted";
        } else if (s != SIFT_OK) {
            if (ing.prog) fputs("\r\033[K", stderr);   /* the message must not follow the bar */
            fprintf(stderr, "smtpsift: %s: %s\n", path, err);
            status = info.truncated ? "truncated" : "failed";
            cap_err = err;
            rc = 1;
            if (info.truncated) {
                struct sift_pktref last = { (uint32_t)i, info.packets, info.last_ts_us };
                sift_store_finding(ing.st, cap_id, 0, 0, "capture_truncated", SIFT_SEV_MEDIUM, err,
                                   info.packets ? &last : NULL);
                ing.findings++;
            }
        }
        if (sift_store_error(ing.st)) {   /* the database failed (disk full...), not the capture */
            status = "failed";
            cap_err = sift_store_error(ing.st);
        }
        if (info.short_frames) {
            char detail[128];
            snprintf(detail, sizeof detail, "%llu frames were cut by the snapshot length",
                     (unsigned long long)info.short_frames);
            sift_store_finding(ing.st, cap_id, 0, 0, "capture_snaplen_short", SIFT_SEV_LOW, detail, NULL);
            ing.findings++;
        }
        if (hash_job_finish(&job, full) != SIFT_OK && !interrupted) {
            fprintf(stderr, "smtpsift: %s: %s\n", path, job.err);
            rc = 1;
        }
        sift_store_capture_set_hash(ing.st, cap_id, full[0] ? full : NULL, NULL);
        sift_store_capture_finish(ing.st, cap_id, &info, status, cap_err);
        sift_store_commit(ing.st);
        packets += info.packets;
        bytes += info.bytes;
        n_read++;
        done_size += size;
        ing.prog_done = done_size;
        if (o->verbose) {
            if (ing.prog) fputs("\r\033[K", stderr);
            fprintf(stderr, "smtpsift: %s: %s, link type %s, %llu packets, %s\n", path,
                    info.format[0] ? info.format : "?", info.dlt_name[0] ? info.dlt_name : "?",
                    (unsigned long long)info.packets, status);
        }
    }
    sift_reasm_finish();     /* closes every open connection: sessions and messages stored */
    jobs_collect(&ing, 1);
    sift_workq_free(ing.wq);
    ing.wq = NULL;
    sift_progress_end(ing.prog);
    ing.prog = NULL;
    sift_mime_shutdown();

    const char *dberr = sift_store_error(ing.st);
    if (dberr) {
        fprintf(stderr, "smtpsift: %s: %s\n", o->db_path, dberr);
        rc = 1;
    }
    sift_store_commit(ing.st);
    sift_store_ingest_end(ing.st, ingest_id, interrupted ? "interrupted" : dberr ? "failed" : "complete");
    sift_store_commit(ing.st);
    sift_store_bulk(ing.st, 0);
    sift_store_close(ing.st);

    double el = now_s() - t0;
    if (!o->quiet) {
        double mb = (double)bytes / 1e6;
        fprintf(stderr,
                "smtpsift: %zu file%s read%s, %llu packets, %.1f MB, %llu SMTP sessions, %llu messages,"
                " %llu attachments, %llu findings in %.2f s (%.1f MB/s)%s\n",
                n_read, n_read == 1 ? "" : "s",
                n_skipped ? " (some skipped as already ingested)" : "",
                (unsigned long long)packets, mb, (unsigned long long)ing.sessions,
                (unsigned long long)ing.messages, (unsigned long long)ing.attachments,
                (unsigned long long)ing.findings, el, el > 0 ? mb / el : 0.0,
                interrupted ? " — interrupted, everything finished so far is committed" : "");
    }
    if (ing.spool_failed) {
        fprintf(stderr, "smtpsift: %llu message%s cut: no temporary file could be written"
                " (finding spool_failed)\n", (unsigned long long)ing.spool_failed, ing.spool_failed == 1 ? "" : "s");
        rc = 1;
    }
    if (interrupted) rc = 1;
    for (size_t i = 0; i < files.n; i++) free(files.v[i]);
    free(files.v);
    free(ing.file_sha);
    free(ing.pending);
    sift_detect_free(ing.det);
    if (ing.has_extract) close(ing.extract_dirfd);
    return rc;
}

int sift_ingest_run(const struct sift_ingest_opts *o)
{
    return run(o, NULL, 0);
}

int sift_ingest_memory(const struct sift_ingest_opts *o, const uint8_t *data, size_t len)
{
    return run(o, data ? data : (const uint8_t *)"", len);
}

/* ---------- a pipeline fed frame by frame (live capture) ----------
 * The same flow, dissector, MIME and store code as a file ingest; the source
 * is recorded as one capture row named after it (format 'live'). */

struct sift_ingest_stream {
    struct ingest ing;
    char sha[1][65];
    char *db_path;
    int64_t ingest_id, capture_id;
    double last_commit;
};

struct sift_ingest_stream *sift_ingest_stream_open(const char *db_path, const char *command_line,
                                                   const char *source, char *err, size_t errlen)
{
    struct sift_ingest_stream *s = sift_xcalloc(1, sizeof *s);
    if (sift_store_open(db_path, &s->ing.st, err, errlen) != SIFT_OK) {
        free(s);
        return NULL;
    }
    /* A live source has no file hash: its id is unique per run (source, wall
     * clock, pid), so session uids stay unique across runs. */
    char key[256];
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    snprintf(key, sizeof key, "live/%s/%lld.%09ld/%ld", source, (long long)wall.tv_sec,
             (long)wall.tv_nsec, (long)getpid());
    sift_hash_sha256_hex(key, strlen(key), s->sha[0]);
    s->ing.file_sha = s->sha;
    s->ing.n_files = 1;
    s->ingest_id = sift_store_ingest_begin(s->ing.st, command_line);
    s->capture_id = sift_store_capture_add(s->ing.st, s->ingest_id, 0, source, s->sha[0], 0);
    sift_store_commit(s->ing.st);
    sift_mime_init();
    memory_policy();
    raise_fd_limit();
    jobs_start(&s->ing, 0);
    struct sift_reasm_cbs cbs = {
        .user = &s->ing, .on_open = flow_open, .on_data = flow_data, .on_gap = flow_gap,
        .on_close = flow_close, .on_finding = capture_finding,
    };
    if (sift_reasm_init(&cbs, err, errlen) != SIFT_OK || sift_store_error(s->ing.st)) {
        if (sift_store_error(s->ing.st)) snprintf(err, errlen, "%s", sift_store_error(s->ing.st));
        sift_workq_free(s->ing.wq);
        sift_mime_shutdown();
        sift_store_close(s->ing.st);
        free(s);
        return NULL;
    }
    s->last_commit = now_s();
    s->db_path = sift_xstrdup(db_path);
    return s;
}

void sift_ingest_stream_frame(const struct sift_frame *f, void *stream)
{
    struct sift_ingest_stream *s = stream;
    sift_reasm_feed(f);
    if (s && sift_workq_ready_hint(s->ing.wq)) jobs_collect(&s->ing, 0);
}

void sift_ingest_stream_finding(struct sift_ingest_stream *s, const char *rule, enum sift_severity sev,
                                const char *detail, const struct sift_pktref *where)
{
    sift_store_finding(s->ing.st, s->capture_id, 0, 0, rule, sev, detail, where);
    s->ing.findings++;
}

const char *sift_ingest_stream_tick(struct sift_ingest_stream *s, int force)
{
    double t = now_s();
    if (force || t - s->last_commit >= SIFT_INGEST_COMMIT_INTERVAL) {
        jobs_collect(&s->ing, force);
        sift_store_commit(s->ing.st);
        s->last_commit = t;
    }
    return sift_store_error(s->ing.st);
}

void sift_ingest_stream_counts(const struct sift_ingest_stream *s, struct sift_ingest_counts *c)
{
    c->sessions = s->ing.sessions;
    c->messages = s->ing.messages;
    c->attachments = s->ing.attachments;
    c->findings = s->ing.findings;
}

int sift_ingest_stream_close(struct sift_ingest_stream *s, const struct sift_capture_info *info,
                             const char *status, const char *error, struct sift_ingest_counts *final)
{
    if (!s) return 0;
    sift_reasm_finish();      /* every open connection ends (EOF): sessions and messages stored */
    jobs_collect(&s->ing, 1);
    sift_workq_free(s->ing.wq);
    s->ing.wq = NULL;
    sift_mime_shutdown();
    if (final) sift_ingest_stream_counts(s, final);
    sift_store_capture_finish(s->ing.st, s->capture_id, info, status, error);
    const char *dberr = sift_store_error(s->ing.st);
    int rc = dberr != NULL;
    if (dberr) fprintf(stderr, "smtpsift: %s: %s\n", s->db_path, dberr);
    sift_store_commit(s->ing.st);
    sift_store_ingest_end(s->ing.st, s->ingest_id, dberr ? "failed" : "complete");
    sift_store_close(s->ing.st);
    free(s->ing.pending);
    sift_detect_free(s->ing.det);
    free(s->db_path);
    free(s);
    return rc;
}
