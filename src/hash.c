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
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot open: %s", strerror(errno));
        return SIFT_ERR_IO;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) abort();
    static unsigned char block[1 << 20];
    uint64_t total = 0;
    size_t n;
    while ((n = fread(block, 1, sizeof block, f)) > 0) {
        EVP_DigestUpdate(ctx, block, n);
        total += n;
    }
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
    sift_hex(md, 32, out);
    if (size) *size = total;
    return SIFT_OK;
}
