/* filetype.c — content sniffing with libmagic (the `file` command's
 * database). One cookie per process, MIME-type output only, compressed
 * content not looked into. Does NOT trust or read any file name. */
#include "filetype.h"

#include <magic.h>
#include <stdio.h>
#include <string.h>

static magic_t cookie;
static int failed;

int sift_filetype_mime(const uint8_t *p, size_t n, char *out, size_t outlen)
{
    if (outlen) out[0] = '\0';
    if (!cookie && !failed) {
        cookie = magic_open(MAGIC_MIME_TYPE | MAGIC_NO_CHECK_COMPRESS | MAGIC_NO_CHECK_TOKENS |
                            MAGIC_NO_CHECK_JSON | MAGIC_NO_CHECK_CSV | MAGIC_ERROR);
        if (!cookie || magic_load(cookie, NULL) != 0) {
            if (cookie) magic_close(cookie);
            cookie = NULL;
            failed = 1;
        }
    }
    if (!cookie) return -1;
    if (n > SIFT_FILETYPE_SNIFF) n = SIFT_FILETYPE_SNIFF;
    const char *t = magic_buffer(cookie, n ? p : (const uint8_t *)"", n);
    if (!t) return -1;
    snprintf(out, outlen, "%s", t);
    return 0;
}

void sift_filetype_close(void)
{
    if (cookie) magic_close(cookie);
    cookie = NULL;
    failed = 0;
}
