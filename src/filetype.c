/* filetype.c — content sniffing with libmagic (the `file` command's
 * database). One cookie per process, behind a mutex (decoding runs on a
 * worker thread; libmagic cookies are not thread-safe), MIME-type output
 * only, compressed content not looked into. A few signatures that libmagic
 * always names the same way whatever follows them are answered without it
 * (libmagic spends ~0.5 ms per call in its soft-magic tests); the unit tests
 * check each against libmagic. Does NOT trust or read any file name. */
#include "filetype.h"

#include <magic.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static magic_t cookie;
static int failed;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

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
        const char *t = magic_buffer(cookie, n ? p : (const uint8_t *)"", n);
        if (t) {
            snprintf(out, outlen, "%s", t);
            rc = 0;
        }
    }
    pthread_mutex_unlock(&mu);
    return rc;
}

int sift_filetype_mime(const uint8_t *p, size_t n, char *out, size_t outlen)
{
    return sift_filetype_mime_ex(p, n, out, outlen, 1);
}

void sift_filetype_close(void)
{
    pthread_mutex_lock(&mu);
    if (cookie) magic_close(cookie);
    cookie = NULL;
    failed = 0;
    pthread_mutex_unlock(&mu);
}
