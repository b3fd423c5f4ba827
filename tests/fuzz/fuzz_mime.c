/* fuzz_mime.c — libFuzzer target for message decoding (src/mime.c over GMime 3;
 * RFC 5322, 2045-2049, 2047, 2231): bytes → sift_mime_parse → every field read
 * → sift_mime_free. Debian's GMime/GLib are not instrumented, so coverage
 * guidance sees only mime.c; it checks memory safety, leaks and hangs. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mime.h"

static volatile size_t sink_bytes;

static void touch(const char *s)
{
    if (s) sink_bytes += strlen(s);
}

static void on_finding(void *user, const char *rule, enum sift_severity sev,
                       const char *detail, const struct sift_pktref *where)
{
    (void)user; (void)sev; (void)where;
    touch(rule);
    touch(detail);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    setenv("G_SLICE", "always-malloc", 1);   /* before GLib starts: lets ASan see every block */
    sift_mime_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sift_mime_summary *m = sift_mime_parse(size ? data : NULL, size, on_finding, NULL);
    for (size_t i = 0; i < m->n_headers; i++) {
        touch(m->headers[i].name);
        touch(m->headers[i].value);
        for (size_t k = 0; k < m->headers[i].raw_len; k++) sink_bytes += m->headers[i].raw[k];
    }
    for (size_t i = 0; i < m->n_addresses; i++) {
        touch(m->addresses[i].field);
        touch(m->addresses[i].name);
        touch(m->addresses[i].address);
        touch(m->addresses[i].group);
    }
    for (size_t i = 0; i < m->n_parts; i++) {
        const struct sift_mime_part *p = &m->parts[i];
        touch(p->path);
        touch(p->content_type);
        touch(p->charset);
        touch(p->encoding);
        touch(p->disposition);
        touch(p->filename);
        touch(p->sha256);
        touch(p->text);
    }
    touch(m->subject);
    touch(m->from_addr);
    touch(m->from_name);
    touch(m->date);
    touch(m->message_id);
    touch(m->in_reply_to);
    sift_mime_free(m);
    return 0;
}
