/* reasm.h — TCP reassembly. libnids is the reassembler; this interface hides
 * it (the only file that sees struct tcp_stream is reasm.c). Callers get
 * per-connection events with packet provenance, also for connections whose
 * handshake was not captured, seen from one side only, or with lost segments
 * (missing bytes come as on_gap, never as data). */
#ifndef SIFT_REASM_H
#define SIFT_REASM_H

#include "sift.h"
#include "capture.h"
#include "wire.h"

enum sift_close_reason {
    SIFT_CLOSE_FIN = 0,     /* both sides closed normally */
    SIFT_CLOSE_RST,         /* reset */
    SIFT_CLOSE_TIMEOUT,     /* libnids gave up on it */
    SIFT_CLOSE_EOF,         /* still open when the input ended */
    SIFT_CLOSE_REUSED       /* a new connection (SYN with another ISN) took its 4-tuple */
};
/* "fin","rst","timeout","eof","reused" */
const char *sift_close_reason_name(enum sift_close_reason r);

/* How a connection's bytes were obtained, known when it closes. Read it with
 * sift_reasm_flow_end() inside on_close. */
struct sift_flow_end {
    /* "complete"; "one-sided" (one side sent no captured packet); "midstream"
     * (the client's SYN or the server's SYN-ACK is not in the capture);
     * "truncated" (a packet of it was cut by the snapshot length); "gap" (bytes
     * of a captured side are missing). When several hold, the first in this
     * order wins: one-sided, midstream, truncated, gap. */
    const char *reassembly;
    /* Bytes missing per direction: holes filled for on_gap, plus, for a side
     * that sent nothing captured, what its peer acknowledged (this may count
     * 1 for the side's unseen FIN). Indexed by enum sift_dir. */
    uint64_t gap_bytes[2];
    uint32_t gaps[2];                 /* holes (on_gap calls) per direction */
    uint64_t segments[2];             /* captured segments carrying data, per direction */
    uint64_t tiny_segments[2];        /* of those, with 1 to 8 bytes (evasion by tiny segments) */
};

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
    /* len bytes of this direction are missing from the capture: the next
     * on_data of this direction continues len bytes further on. Called once per
     * hole, in stream order with on_data. Not called for a side that sent no
     * captured packet at all (see struct sift_flow_end). */
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

/* End of input: holes still open are filled (on_gap), then every open
 * connection gets on_close (SIFT_CLOSE_EOF, or FIN when filling let libnids
 * see both FINs acknowledged). After this, sift_reasm_init may be called again. */
void sift_reasm_finish(void);

/* Valid only during an on_close call: how that connection was reassembled. */
const struct sift_flow_end *sift_reasm_flow_end(void);

/* Bounds of the sequence tracker; a 0 field keeps its default. Takes effect
 * at the next sift_reasm_init. Reaching max_flows or hold_total is a finding. */
struct sift_reasm_limits {
    size_t max_flows;       /* [40000] TCP connections tracked at once (beyond:
                               the oldest half-open one is dropped, else the
                               least recently active is ended: timeout) */
    size_t hold_per_flow;   /* [4 MiB] out-of-order bytes held per direction;
                               beyond: the first hole is filled at once */
    size_t hold_total;      /* [256 MiB] out-of-order bytes held in all */
    int64_t idle_us;        /* [900 s] packet time without a packet before a
                               connection is ended (timeout) */
};
void sift_reasm_set_limits(const struct sift_reasm_limits *lim);

const struct sift_wire_stats *sift_reasm_wire_stats(void);

/* Only TCP between chosen addresses is reassembled (sift_wire_set_filter);
 * call after sift_reasm_init. NULL: everything (the default). */
void sift_reasm_set_filter(sift_wire_keep_fn keep, void *user);

struct sift_reasm_stats {
    uint64_t flows_opened, flows_closed, bytes_c2s, bytes_s2c;
    uint64_t nids_warnings;
    uint64_t flows_midstream, flows_one_sided, gaps, gap_bytes, held_max;
    uint64_t flows_expired, flows_evicted, overlaps_mismatched;
};
const struct sift_reasm_stats *sift_reasm_stats(void);

#endif
