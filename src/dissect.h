/* dissect.h — the dissector registry: which application protocol a TCP flow
 * carries, decided from its first bytes (never from the port alone), and the
 * probe buffer that holds those bytes until a dissector accepts or all refuse.
 * SMTP is the only dissector today; POP3/IMAP/LMTP would register beside it. */
#ifndef SIFT_DISSECT_H
#define SIFT_DISSECT_H

#include "sift.h"
#include "smtp.h"

/* Events a dissector emits go to a sink shaped like SMTP's (commands with
 * replies, message transactions, findings). */
struct sift_dissector {
    const char *name;
    int (*probe)(const uint8_t *data, size_t len, enum sift_dir dir);  /* 1 yes, 0 no, -1 more */
    /* Weaker evidence from the client's first bytes, trusted only on one of ports[]
     * (the port is a tie-breaker, never enough alone). May be NULL. */
    int (*probe_weak)(const uint8_t *data, size_t len);
    uint16_t ports[8];
    void *(*state_new)(const struct sift_smtp_sink *sink);
    void (*feed)(void *state, enum sift_dir dir, const uint8_t *data, size_t len,
                 const struct sift_pktref *pkt);
    void (*gap)(void *state, enum sift_dir dir, uint64_t len, const struct sift_pktref *pkt);
    void (*close)(void *state, const struct sift_pktref *last);
    void (*state_free)(void *state);
};

/* Bytes kept per direction while probing; if no dissector has decided by then
 * the flow is not followed. */
#define SIFT_PROBE_MAX 1024

struct sift_probe_chunk {
    enum sift_dir dir;
    struct sift_pktref pkt;
    size_t off, len;          /* range in the probe buffer */
};

struct sift_probe {
    uint8_t data[2 * SIFT_PROBE_MAX];
    size_t len;
    struct sift_probe_chunk chunks[32];
    size_t n_chunks;
    size_t dir_len[2];
    size_t last_take;         /* bytes of the latest call's data that were kept */
};

enum sift_probe_result { SIFT_PROBE_MORE = 0, SIFT_PROBE_FOUND, SIFT_PROBE_NONE };

/* Add bytes of one direction to the probe and ask the registry about the bytes
 * each side sent so far. On FOUND, *found is the dissector; the caller replays the
 * probe's chunks (in arrival order) into it, then goes on feeding directly. While
 * one side's bytes are refused but the other side has not spoken, the answer is
 * MORE (a client may send junk before the server greets). NONE means no dissector
 * wants the flow: both sides refused, or the probe is full. srv_port is the
 * server's port, used only as a tie-breaker (see probe_weak). */
enum sift_probe_result sift_dissect_probe(struct sift_probe *p, enum sift_dir dir,
                                          const uint8_t *data, size_t len,
                                          const struct sift_pktref *pkt, uint16_t srv_port,
                                          const struct sift_dissector **found);

/* Per-direction bytes of the probe joined, for replay: calls fn for each
 * chunk in arrival order. */
void sift_dissect_replay(const struct sift_probe *p, const struct sift_dissector *d, void *state);

#endif
