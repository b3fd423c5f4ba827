/* workq.c — see workq.h. One mutex guards the ring; workers run jobs with
 * the mutex released, taking them in submission order; the owner takes them
 * back in that order (a finished job waits for the ones before it). A worker
 * given up by the watchdog keeps a reference on the queue (the queue is freed
 * by whoever lets go last) and never touches the ring again. */
#include "workq.h"

#include "sift.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { S_QUEUED = 0, S_RUNNING, S_DONE };

struct slot {
    void *job;
    uint64_t weight;
    int state;
    enum sift_workq_status st;
};

struct worker {
    pthread_t th;
    clockid_t cid;
    int has_cid;
    struct sift_workq *q;
    atomic_int abandoned;
    volatile int abandoned_flag;  /* what the job function polls */
    int busy;                     /* under q->mu: running the job at cur_seq */
    uint64_t cur_seq;
    struct timespec cpu0;         /* its CPU clock when the job started */
};

struct sift_workq {
    pthread_mutex_t mu;
    pthread_cond_t cv_work, cv_done;
    atomic_int refs;
    sift_workq_fn fn;
    void *ctx;
    struct sift_workq_opts o;
    struct slot *ring;
    size_t cap;
    uint64_t seq_head, seq_tail, seq_next;   /* oldest not taken, next free, next to run */
    uint64_t bytes;
    struct worker *ws[SIFT_WORKQ_MAX_THREADS];   /* live workers (NULL slots: none) */
    int nw;                                  /* live workers */
    unsigned n_abandoned;
    int stop, no_more_work, inline_mode;
    atomic_int done_hint;                    /* jobs finished and not taken */
};

static void q_release(struct sift_workq *q)
{
    if (atomic_fetch_sub(&q->refs, 1) == 1) {
        pthread_mutex_destroy(&q->mu);
        pthread_cond_destroy(&q->cv_work);
        pthread_cond_destroy(&q->cv_done);
        free(q->ring);
        free(q);
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct sift_workq *q = w->q;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        if (q->stop || atomic_load(&w->abandoned)) break;
        while (q->seq_next < q->seq_tail && q->ring[q->seq_next % q->cap].state == S_DONE) q->seq_next++;
        if (q->seq_next == q->seq_tail) {
            pthread_cond_wait(&q->cv_work, &q->mu);
            continue;
        }
        uint64_t s = q->seq_next++;   /* jobs are handed out in order; they may finish out of it */
        struct slot *sl = &q->ring[s % q->cap];
        sl->state = S_RUNNING;
        w->busy = 1;
        w->cur_seq = s;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &w->cpu0);
        void *job = sl->job;
        pthread_mutex_unlock(&q->mu);
        q->fn(job, q->ctx, &w->abandoned_flag);
        if (atomic_load(&w->abandoned)) {   /* given up meanwhile: the ring is not ours */
            if (q->o.drop) q->o.drop(job);
            q_release(q);
            free(w);
            return NULL;
        }
        pthread_mutex_lock(&q->mu);
        if (atomic_load(&w->abandoned)) {
            if (q->o.drop) q->o.drop(job);
            break;
        }
        w->busy = 0;
        sl->state = S_DONE;
        sl->st = SIFT_WORKQ_DONE;
        atomic_fetch_add(&q->done_hint, 1);
        pthread_cond_broadcast(&q->cv_done);
    }
    int gone = atomic_load(&w->abandoned);
    pthread_mutex_unlock(&q->mu);
    if (gone) {
        q_release(q);
        free(w);
    }
    return NULL;
}

/* Starts a worker and adds it to q->ws (under q->mu once workers run). 0 on success. */
static int worker_start(struct sift_workq *q)
{
    struct worker *w = sift_xcalloc(1, sizeof *w);
    w->q = q;
    atomic_init(&w->abandoned, 0);
    atomic_fetch_add(&q->refs, 1);
    /* signals (SIGINT...) stay with the capture thread */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&w->th, NULL, worker_main, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        atomic_fetch_sub(&q->refs, 1);
        free(w);
        return -1;
    }
    w->has_cid = pthread_getcpuclockid(w->th, &w->cid) == 0;
    q->ws[q->nw++] = w;
    return 0;
}

struct sift_workq *sift_workq_new(sift_workq_fn fn, void *ctx, const struct sift_workq_opts *o)
{
    struct sift_workq *q = sift_xcalloc(1, sizeof *q);
    if (o) q->o = *o;
    else q->o.threads = 1;
    if (!q->o.max_jobs) q->o.max_jobs = 256;
    if (!q->o.max_bytes) q->o.max_bytes = 64u << 20;
    if (!q->o.max_abandoned) q->o.max_abandoned = 2;
    q->fn = fn;
    q->ctx = ctx;
    q->cap = q->o.max_jobs + 1;
    q->ring = sift_xcalloc(q->cap, sizeof *q->ring);
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv_work, NULL);
    pthread_cond_init(&q->cv_done, NULL);
    atomic_init(&q->refs, 1);
    atomic_init(&q->done_hint, 0);
    int want = q->o.threads < SIFT_WORKQ_MAX_THREADS ? q->o.threads : SIFT_WORKQ_MAX_THREADS;
    for (int i = 0; i < want; i++) worker_start(q);
    q->inline_mode = q->nw == 0;
    return q;
}

int sift_workq_full(const struct sift_workq *q)
{
    size_t n = (size_t)(q->seq_tail - q->seq_head);
    return n >= q->o.max_jobs || (n > 0 && q->bytes >= q->o.max_bytes);
}

size_t sift_workq_pending(const struct sift_workq *q)
{
    return (size_t)(q->seq_tail - q->seq_head);
}

int sift_workq_ready_hint(const struct sift_workq *q)
{
    return q->seq_tail != q->seq_head &&
           (q->inline_mode || atomic_load_explicit(&((struct sift_workq *)q)->done_hint, memory_order_relaxed) > 0);
}

unsigned sift_workq_abandoned_count(const struct sift_workq *q)
{
    return q->n_abandoned;
}

void sift_workq_submit(struct sift_workq *q, void *job, uint64_t weight, int needs_work)
{
    pthread_mutex_lock(&q->mu);
    if ((size_t)(q->seq_tail - q->seq_head) >= q->cap) abort();   /* owner ignored sift_workq_full */
    struct slot *sl = &q->ring[q->seq_tail % q->cap];
    sl->job = job;
    sl->weight = weight;
    sl->state = S_QUEUED;
    sl->st = SIFT_WORKQ_DONE;
    if (!needs_work) {
        sl->state = S_DONE;
        sl->st = SIFT_WORKQ_PASS;
    } else if (q->no_more_work) {
        sl->state = S_DONE;
        sl->st = SIFT_WORKQ_SKIPPED;
    }
    q->seq_tail++;
    q->bytes += weight;
    int run_here = q->inline_mode && sl->state == S_QUEUED;
    if (sl->state == S_DONE) atomic_fetch_add(&q->done_hint, 1);
    else if (!q->inline_mode) pthread_cond_signal(&q->cv_work);
    pthread_mutex_unlock(&q->mu);
    if (run_here) {
        static const volatile int never = 0;
        q->fn(job, q->ctx, &never);
        sl->state = S_DONE;
        atomic_fetch_add(&q->done_hint, 1);
    }
}

static double ts_diff(const struct timespec *a, const struct timespec *b)
{
    return (double)(a->tv_sec - b->tv_sec) + (a->tv_nsec - b->tv_nsec) / 1e9;
}

/* Under q->mu: gives up the worker running the job at seq if it ran past its limit. */
static int watchdog(struct sift_workq *q, uint64_t seq)
{
    if (q->o.cpu_limit_s <= 0) return 0;
    int k = -1;
    for (int i = 0; i < q->nw; i++)
        if (q->ws[i]->busy && q->ws[i]->cur_seq == seq) k = i;
    if (k < 0) return 0;
    struct worker *w = q->ws[k];
    struct timespec now;
    if (!w->has_cid || clock_gettime(w->cid, &now) != 0) return 0;
    struct slot *sl = &q->ring[seq % q->cap];
    double limit = q->o.cpu_limit_s + q->o.cpu_per_mb * ((double)sl->weight / 1e6);
    if (ts_diff(&now, &w->cpu0) < limit) return 0;
    /* Give it up: the job is lost to that thread; a new worker takes its place. */
    w->abandoned_flag = 1;
    atomic_store(&w->abandoned, 1);
    pthread_detach(w->th);
    q->ws[k] = q->ws[--q->nw];
    q->ws[q->nw] = NULL;
    q->n_abandoned++;
    sl->state = S_DONE;
    sl->st = SIFT_WORKQ_TIMEOUT;
    atomic_fetch_add(&q->done_hint, 1);
    if (q->n_abandoned < q->o.max_abandoned) worker_start(q);
    if (!q->nw) {   /* no more work: what is queued comes back skipped */
        q->no_more_work = 1;
        for (uint64_t s = seq + 1; s < q->seq_tail; s++) {
            struct slot *o = &q->ring[s % q->cap];
            if (o->state == S_QUEUED) {
                o->state = S_DONE;
                o->st = SIFT_WORKQ_SKIPPED;
                atomic_fetch_add(&q->done_hint, 1);
            }
        }
    }
    return 1;
}

void *sift_workq_take(struct sift_workq *q, int wait, enum sift_workq_status *st)
{
    pthread_mutex_lock(&q->mu);
    for (;;) {
        if (q->seq_head == q->seq_tail) {
            pthread_mutex_unlock(&q->mu);
            return NULL;
        }
        struct slot *sl = &q->ring[q->seq_head % q->cap];
        if (sl->state == S_DONE) {
            void *job = sl->job;
            if (st) *st = sl->st;
            q->bytes -= sl->weight;
            q->seq_head++;
            atomic_fetch_sub(&q->done_hint, 1);
            pthread_mutex_unlock(&q->mu);
            return job;
        }
        if (!wait) {
            pthread_mutex_unlock(&q->mu);
            return NULL;
        }
        if (q->o.cpu_limit_s > 0) {
            struct timespec dl;
            clock_gettime(CLOCK_REALTIME, &dl);
            dl.tv_nsec += 200 * 1000000L;
            if (dl.tv_nsec >= 1000000000L) { dl.tv_sec++; dl.tv_nsec -= 1000000000L; }
            pthread_cond_timedwait(&q->cv_done, &q->mu, &dl);
            watchdog(q, q->seq_head);
        } else {
            pthread_cond_wait(&q->cv_done, &q->mu);
        }
    }
}

void sift_workq_free(struct sift_workq *q)
{
    if (!q) return;
    pthread_mutex_lock(&q->mu);
    q->stop = 1;
    struct worker *ws[SIFT_WORKQ_MAX_THREADS];
    int nw = q->nw;
    memcpy(ws, q->ws, sizeof ws);
    q->nw = 0;
    pthread_cond_broadcast(&q->cv_work);
    pthread_mutex_unlock(&q->mu);
    for (int i = 0; i < nw; i++) {
        pthread_join(ws[i]->th, NULL);
        atomic_fetch_sub(&q->refs, 1);   /* its reference */
        free(ws[i]);
    }
    q_release(q);
}
