/* reasm.h — TCP reassembly. libnids is the reassembler; this interface hides
 * it (the only file that sees struct tcp_stream is reasm.c). Callers get
 * per-connection events with packet provenance. */
#ifndef SIFT_REASM_H
#define SIFT_REASM_H

#include "sift.h"
#include "capture.h"
#include "wire.h"

enum sift_close_reason {
    SIFT_CLOSE_FIN = 0,     /* both sides closed normally */
    SIFT_CLOSE_RST,         /* reset */
    SIFT_CLOSE_TIMEOUT,     /* libnids gave up on it */
    SIFT_CLOSE_EOF          /* still open when the input ended */
};
const char *sift_close_reason_name(enum sift_close_reason r);  /* "fin","rst","timeout","eof" */

struct sift_flow_info {
    char cli_addr[46], srv_addr[46];  /* real addresses (IPv6 un-translated) */
    uint16_t cli_port, srv_port;
    int ip_version;                   /* 4 or 6 */
    struct sift_pktref first;         /* first packet of the connection (its SYN when captured) */
};

struct sift_reasm_cbs {
    void *user;
    /* A new connection was established. Return a per-flow handle to follow it,
     * or NULL to ignore it (no further events for it). */
    void *(*on_open)(void *user, const struct sift_flow_info *fi);
    /* In-order bytes of one direction. data is borrowed for the call. pkt is the
     * packet whose arrival made the bytes available. Return 0 to go on, or -1
     * to stop following this flow: on_close is then called at once (reason as
     * passed) and nothing more is delivered for it. */
    int (*on_data)(void *user, void *flow, enum sift_dir dir, const uint8_t *data,
                   size_t len, const struct sift_pktref *pkt);
    /* len bytes of this direction are missing from the capture (reserved for
     * the gap issue; may never be called yet). */
    void (*on_gap)(void *user, void *flow, enum sift_dir dir, uint64_t len,
                   const struct sift_pktref *pkt);
    /* Connection ended; last is the last packet seen for it. Flow handle is
     * not used by reasm afterwards. Called exactly once per opened flow. */
    void (*on_close)(void *user, void *flow, enum sift_close_reason why,
                     const struct sift_pktref *last);
    /* Capture-level anomaly (no flow), e.g. "tcp_bad_checksum" counted. May be NULL. */
    sift_finding_fn on_finding;
};

/* Initialise libnids (global state: one instance per process). Returns
 * SIFT_ERR_FORMAT with err filled if libnids refuses. */
enum sift_status sift_reasm_init(const struct sift_reasm_cbs *cbs, char *err, size_t errlen);

/* Feed one captured frame (any link type wire.h supports). */
void sift_reasm_feed(const struct sift_frame *f);

/* End of input: every open connection gets on_close(SIFT_CLOSE_EOF). After
 * this, sift_reasm_init may be called again. */
void sift_reasm_finish(void);

const struct sift_wire_stats *sift_reasm_wire_stats(void);

struct sift_reasm_stats {
    uint64_t flows_opened, flows_closed, bytes_c2s, bytes_s2c;
    uint64_t nids_warnings;
};
const struct sift_reasm_stats *sift_reasm_stats(void);

#endif
