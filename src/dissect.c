/* dissect.c — dissector registry and flow probing. A flow goes to the first
 * dissector whose probe accepts the bytes one side sent first; the port is
 * never consulted. It does not parse any protocol itself. */
#include "dissect.h"

#include <string.h>

static void *smtp_new(const struct sift_smtp_sink *sink) { return sift_smtp_new(sink, NULL); }
static void smtp_feed(void *s, enum sift_dir d, const uint8_t *p, size_t n, const struct sift_pktref *k)
{
    sift_smtp_feed(s, d, p, n, k);
}
static void smtp_gap(void *s, enum sift_dir d, uint64_t n, const struct sift_pktref *k) { sift_smtp_gap(s, d, n, k); }
static void smtp_close(void *s, const struct sift_pktref *k) { sift_smtp_close(s, k); }
static void smtp_free(void *s) { sift_smtp_free(s); }

static const struct sift_dissector registry[] = {
    { "smtp", sift_smtp_probe, sift_smtp_probe_verb, { 25, 465, 587, 2525 },
      smtp_new, smtp_feed, smtp_gap, smtp_close, smtp_free },
};

enum sift_probe_result sift_dissect_probe(struct sift_probe *p, enum sift_dir dir,
                                          const uint8_t *data, size_t len,
                                          const struct sift_pktref *pkt, uint16_t srv_port,
                                          const struct sift_dissector **found)
{
    *found = NULL;
    size_t room = SIFT_PROBE_MAX - p->dir_len[dir];
    size_t take = len < room ? len : room;
    if (p->n_chunks >= SIFT_ARRAY_LEN(p->chunks)) take = 0;
    p->last_take = take;
    if (take) {
        struct sift_probe_chunk *c = &p->chunks[p->n_chunks++];
        c->dir = dir;
        c->pkt = *pkt;
        c->off = p->len;
        c->len = take;
        memcpy(p->data + p->len, data, take);
        p->len += take;
        p->dir_len[dir] += take;
    }
    int truncated = take < len || p->n_chunks >= SIFT_ARRAY_LEN(p->chunks);
    if (truncated && !take) return SIFT_PROBE_NONE;

    /* Each side's bytes so far, contiguous, and every dissector's view of them. */
    uint8_t joined[2][SIFT_PROBE_MAX];
    size_t jlen[2] = { 0, 0 };
    for (size_t i = 0; i < p->n_chunks; i++) {
        const struct sift_probe_chunk *c = &p->chunks[i];
        memcpy(joined[c->dir] + jlen[c->dir], p->data + c->off, c->len);
        jlen[c->dir] += c->len;
    }
    int undecided = 0;
    for (size_t i = 0; i < SIFT_ARRAY_LEN(registry); i++) {
        const struct sift_dissector *d = &registry[i];
        for (int side = 0; side < 2; side++) {
            if (!jlen[side]) {
                undecided = 1;   /* this side has not spoken yet */
                continue;
            }
            int r = d->probe(joined[side], jlen[side], (enum sift_dir)side);
            if (r == 1) {
                *found = d;
                return SIFT_PROBE_FOUND;
            }
            if (r < 0) undecided = 1;
        }
        if (d->probe_weak && jlen[SIFT_DIR_C2S] && d->probe_weak(joined[SIFT_DIR_C2S], jlen[SIFT_DIR_C2S])) {
            for (size_t k = 0; k < SIFT_ARRAY_LEN(d->ports) && d->ports[k]; k++)
                if (d->ports[k] == srv_port) {
                    *found = d;
                    return SIFT_PROBE_FOUND;
                }
        }
    }
    if (!undecided || truncated) return SIFT_PROBE_NONE;
    return SIFT_PROBE_MORE;
}

void sift_dissect_replay(const struct sift_probe *p, const struct sift_dissector *d, void *state)
{
    for (size_t i = 0; i < p->n_chunks; i++) {
        const struct sift_probe_chunk *c = &p->chunks[i];
        d->feed(state, c->dir, p->data + c->off, c->len, &c->pkt);
    }
}
