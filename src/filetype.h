/* filetype.h — the real type of some bytes, from their content, through
 * libmagic (file(1)'s database). The only module that includes <magic.h>. */
#ifndef SIFT_FILETYPE_H
#define SIFT_FILETYPE_H

#include "sift.h"

#define SIFT_FILETYPE_SNIFF 4096   /* bytes of a part worth looking at */

/* MIME type libmagic gives for the n bytes (borrowed), e.g. "application/pdf",
 * written to out (NUL-terminated, cut to outlen). Returns 0, or -1 if libmagic
 * is unavailable (out = ""). The database is loaded on first use; thread-safe (one
 * call at a time goes into libmagic). */
int sift_filetype_mime(const uint8_t *p, size_t n, char *out, size_t outlen);
/* The same; use_fast = 0 always asks libmagic (no fixed signatures, no
 * remembered answers; tests compare the two). */
int sift_filetype_mime_ex(const uint8_t *p, size_t n, char *out, size_t outlen, int use_fast);
/* Answers given from memory (the same bytes seen before) and libmagic calls
 * remembered, since the start or the last sift_filetype_close. */
void sift_filetype_cache_stats(uint64_t *hits, uint64_t *misses);

/* Releases libmagic and forgets its answers (optional, at exit). */
void sift_filetype_close(void);

#endif
