/* filetype.c — content sniffing with libmagic (the `file` command's
 * database). One cookie per process, behind a mutex (decoding runs on a
 * worker thread; libmagic cookies are not thread-safe), MIME-type output
 * only, compressed content not looked into. A few signatures that libmagic
 * always names the same way whatever follows them are answered without it
 * (libmagic spends ~0.5 ms per call in its soft-magic tests); the unit tests
 * check each against libmagic. libmagic's answers are kept by the exact bytes
 * it was given, so the same attachment mailed again (a campaign, a newsletter,
 * a forward) is not looked at twice. Does NOT trust or read any file name. */
#include "filetype.h"

#include <magic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static magic_t cookie;
static int failed;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

/* libmagic's answers by input: direct-mapped on a hash of the bytes, an entry
 * used only when its bytes are the same (memcmp), so an answer is always the
 * one libmagic gave for exactly those bytes. 256 entries of at most
 * SIFT_FILETYPE_SNIFF bytes (1 MiB); behind mu like the cookie. */
enum { CACHE_SLOTS = 256 };
struct cache_slot {
    uint8_t *bytes;          /* SIFT_FILETYPE_SNIFF, allocated on first use */
    size_t n;
    uint64_t h;
    int used;
    char type[96];
};
static struct cache_slot cache[CACHE_SLOTS];
static uint64_t cache_hits, cache_misses;

static uint64_t bytes_hash(const uint8_t *p, size_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15u ^ n;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, p + i, 8);
        h = (h ^ v) * 0xff51afd7ed558ccdu;
        h ^= h >> 32;
    }
    for (; i < n; i++) h = (h ^ p[i]) * 0x100000001b3u;
    return h ^ (h >> 29);
}

/* Signatures at offset 0 whose libmagic answer does not depend on the rest. */
static const struct { const char *sig; size_t len; const char *type; } fast[] = {
    { "%PDF-", 5, "application/pdf" },
    { "\xff\xd8\xff", 3, "image/jpeg" },
    { "GIF87a", 6, "image/gif" },
    { "GIF89a", 6, "image/gif" },
    { "\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR", 16, "image/png" },
};

int sift_filetype_mime_ex(const uint8_t *p, size_t n, char *out, size_t outlen, int use_fast)
{
    if (outlen) out[0] = '\0';
    if (use_fast && n >= 64)   /* libmagic says other things of very short inputs */
        for (size_t i = 0; i < sizeof fast / sizeof *fast; i++)
            if (n >= fast[i].len && !memcmp(p, fast[i].sig, fast[i].len)) {
                snprintf(out, outlen, "%s", fast[i].type);
                return 0;
            }
    pthread_mutex_lock(&mu);
    if (!cookie && !failed) {
        cookie = magic_open(MAGIC_MIME_TYPE | MAGIC_NO_CHECK_COMPRESS | MAGIC_NO_CHECK_TOKENS |
                            MAGIC_NO_CHECK_JSON | MAGIC_NO_CHECK_CSV | MAGIC_ERROR);
        if (!cookie || magic_load(cookie, NULL) != 0) {
            if (cookie) magic_close(cookie);
            cookie = NULL;
            failed = 1;
        }
    }
    int rc = -1;
    if (cookie) {
        if (n > SIFT_FILETYPE_SNIFF) n = SIFT_FILETYPE_SNIFF;
        uint64_t h = bytes_hash(p, n);
        struct cache_slot *c = &cache[h % CACHE_SLOTS];
        if (use_fast && c->used && c->h == h && c->n == n && (!n || !memcmp(c->bytes, p, n))) {
            snprintf(out, outlen, "%s", c->type);
            cache_hits++;
            pthread_mutex_unlock(&mu);
            return 0;
        }
        const char *t = magic_buffer(cookie, n ? p : (const uint8_t *)"", n);
        if (t) {
            snprintf(out, outlen, "%s", t);
            rc = 0;
            if (use_fast && strlen(t) < sizeof c->type) {
                cache_misses++;
                if (!c->bytes) c->bytes = sift_xmalloc(SIFT_FILETYPE_SNIFF);
                if (n) memcpy(c->bytes, p, n);
                c->n = n;
                c->h = h;
                c->used = 1;
                snprintf(c->type, sizeof c->type, "%s", t);
            }
        }
    }
    pthread_mutex_unlock(&mu);
    return rc;
}

int sift_filetype_mime(const uint8_t *p, size_t n, char *out, size_t outlen)
{
    return sift_filetype_mime_ex(p, n, out, outlen, 1);
}

void sift_filetype_cache_stats(uint64_t *hits, uint64_t *misses)
{
    pthread_mutex_lock(&mu);
    *hits = cache_hits;
    *misses = cache_misses;
    pthread_mutex_unlock(&mu);
}

void sift_filetype_close(void)
{
    pthread_mutex_lock(&mu);
    if (cookie) magic_close(cookie);
    cookie = NULL;
    failed = 0;
    for (size_t i = 0; i < CACHE_SLOTS; i++) free(cache[i].bytes);
    memset(cache, 0, sizeof cache);
    cache_hits = cache_misses = 0;
    pthread_mutex_unlock(&mu);
}
