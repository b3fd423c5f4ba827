/* hash.c — SHA-256 through OpenSSL's EVP interface (libcrypto). Files are read
 * in 1 MiB blocks; nothing is memory-mapped. */
#include "hash.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sift_hash_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (!EVP_Digest(data, len, md, &n, EVP_sha256(), NULL) || n != 32) abort();
    sift_hex(md, 32, out);
}

enum sift_status sift_hash_file(const char *path, char out[65], uint64_t *size,
                                char *err, size_t errlen)
{
    return sift_hash_file_cancel(path, out, size, NULL, err, errlen);
}

enum sift_status sift_hash_fingerprint(const char *path, char out[65], uint64_t *size,
                                       char *err, size_t errlen)
{
    enum { PART = 1 << 20 };
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot read: %s", strerror(errno));
        return SIFT_ERR_IO;
    }
    unsigned char *buf = sift_xmalloc(PART);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) abort();
    uint64_t total = 0;
    int bad = fseeko(f, 0, SEEK_END) != 0;
    off_t end = bad ? 0 : ftello(f);
    if (end < 0) bad = 1;
    else total = (uint64_t)end;
    unsigned char le[8];
    for (int i = 0; i < 8; i++) le[i] = (unsigned char)(total >> (8 * i));
    EVP_DigestUpdate(ctx, le, sizeof le);
    for (int pass = 0; pass < 2 && !bad; pass++) {
        off_t at = pass == 0 ? 0 : (total > PART ? (off_t)(total - PART) : 0);
        if (pass == 1 && total <= PART) break;        /* the first MiB was the whole file */
        if (fseeko(f, at, SEEK_SET) != 0) { bad = 1; break; }
        size_t want = total - (uint64_t)at < PART ? (size_t)(total - (uint64_t)at) : PART;
        size_t n = fread(buf, 1, want, f);
        if (n != want) { bad = 1; break; }
        EVP_DigestUpdate(ctx, buf, n);
    }
    int saved = errno;
    fclose(f);
    free(buf);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    if (bad) {
        snprintf(err, errlen, "read error: %s", saved ? strerror(saved) : "short read");
        return SIFT_ERR_IO;
    }
    sift_hex(md, 32, out);
    if (size) *size = total;
    return SIFT_OK;
}

enum sift_status sift_hash_file_cancel(const char *path, char out[65], uint64_t *size,
                                       const volatile int *cancel, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot open: %s", strerror(errno));
        return SIFT_ERR_IO;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) abort();
    /* Not static: this may run on a second thread beside the capture reader. */
    unsigned char *block = sift_xmalloc(1 << 20);
    uint64_t total = 0;
    size_t n;
    int stopped = 0;
    while ((n = fread(block, 1, 1 << 20, f)) > 0) {
        EVP_DigestUpdate(ctx, block, n);
        total += n;
        if (cancel && *cancel) { stopped = 1; break; }
    }
    free(block);
    int failed = ferror(f);
    int saved = errno;
    fclose(f);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    if (failed) {
        snprintf(err, errlen, "read error: %s", strerror(saved));
        return SIFT_ERR_IO;
    }
    if (stopped) {
        snprintf(err, errlen, "interrupted");
        return SIFT_ERR_INTERRUPTED;
    }
    sift_hex(md, 32, out);
    if (size) *size = total;
    return SIFT_OK;
}

struct sift_digests {
    EVP_MD_CTX *md5, *sha1, *sha256;
};

static EVP_MD_CTX *ctx_new(const EVP_MD *md)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (!c || !EVP_DigestInit_ex(c, md, NULL)) abort();
    return c;
}

struct sift_digests *sift_digests_new(void)
{
    struct sift_digests *d = sift_xcalloc(1, sizeof *d);
    d->md5 = ctx_new(EVP_md5());
    d->sha1 = ctx_new(EVP_sha1());
    d->sha256 = ctx_new(EVP_sha256());
    return d;
}

void sift_digests_update(struct sift_digests *d, const void *data, size_t len)
{
    if (!len) return;
    EVP_DigestUpdate(d->md5, data, len);
    EVP_DigestUpdate(d->sha1, data, len);
    EVP_DigestUpdate(d->sha256, data, len);
}

static void final_hex(EVP_MD_CTX *c, char *out)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_DigestFinal_ex(c, md, &n);
    sift_hex(md, n, out);
}

void sift_digests_final(struct sift_digests *d, char md5[33], char sha1[41], char sha256[65])
{
    final_hex(d->md5, md5);
    final_hex(d->sha1, sha1);
    final_hex(d->sha256, sha256);
}

void sift_digests_free(struct sift_digests *d)
{
    if (!d) return;
    EVP_MD_CTX_free(d->md5);
    EVP_MD_CTX_free(d->sha1);
    EVP_MD_CTX_free(d->sha256);
    free(d);
}

enum sift_status sift_hash_fd_sha256_hex(int fd, uint64_t len, char out[65])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) abort();
    enum { CHUNK = 1 << 20 };
    uint8_t *buf = sift_xmalloc(CHUNK);
    enum sift_status rc = SIFT_OK;
    for (uint64_t off = 0; off < len;) {
        size_t n = len - off < CHUNK ? (size_t)(len - off) : CHUNK;
        if (sift_pread_all(fd, buf, n, off) != 0) { rc = SIFT_ERR_IO; break; }
        EVP_DigestUpdate(ctx, buf, n);
        off += n;
    }
    free(buf);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    if (rc == SIFT_OK) sift_hex(md, 32, out);
    else out[0] = '\0';
    return rc;
}
