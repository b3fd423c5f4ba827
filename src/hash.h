/* hash.h — SHA-256 of buffers and files through OpenSSL's libcrypto (uses the
 * CPU's SHA extensions where present). The only module that includes OpenSSL. */
#ifndef SIFT_HASH_H
#define SIFT_HASH_H

#include "sift.h"

/* SHA-256 of len bytes as 64 lower-case hex chars + NUL. */
void sift_hash_sha256_hex(const void *data, size_t len, char out[65]);

/* SHA-256 and size of the file at path. SIFT_ERR_IO with err filled on failure. */
enum sift_status sift_hash_file(const char *path, char out[65], uint64_t *size,
                                char *err, size_t errlen);

#endif
