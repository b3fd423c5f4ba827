/* wire.h — frame normaliser: turns any supported link-layer frame into a bare
 * IPv4 packet that libnids accepts, or rejects it with a counted reason.
 * Handles Ethernet (+ any number of 802.1Q/802.1ad tags, MPLS, PPPoE session),
 * Linux SLL and SLL2, NULL/LOOP, raw IP. IPv6 is translated to synthetic IPv4
 * addresses in 240.0.0.0/4 (1:1 map, reversible). No library included. */
#ifndef SIFT_WIRE_H
#define SIFT_WIRE_H

#include "sift.h"

enum sift_wire_verdict {
    SIFT_WIRE_IPV4 = 0,     /* out holds an IPv4 packet */
    SIFT_WIRE_NOT_IP,       /* ARP, LLDP, ... */
    SIFT_WIRE_UNSUPPORTED,  /* unknown link type or encapsulation */
    SIFT_WIRE_MALFORMED,    /* too short, bad header length, ... */
    SIFT_WIRE_NOT_TCP,      /* IP but not TCP (UDP, ICMP): not needed by SMTP */
    SIFT_WIRE_FILTERED      /* TCP between addresses the filter does not want */
};

struct sift_wire_stats {
    uint64_t frames, ipv4, ipv6, not_ip, unsupported, malformed, not_tcp;
    uint64_t vlan_tagged, fragments, bad_ip_csum, bad_tcp_csum, short_frames;
    uint64_t frag_datagrams;    /* datagrams rebuilt from fragments by sift_wire_defrag */
    uint64_t frag_dropped;      /* fragments thrown away: expired, bound hit, malformed */
    uint64_t filtered;          /* TCP packets left out by sift_wire_set_filter */
};

struct sift_wire;   /* opaque: holds the IPv6 map and scratch buffers */

struct sift_wire *sift_wire_new(void);
void sift_wire_free(struct sift_wire *w);

/* Normalise one frame. On SIFT_WIRE_IPV4, *ip and *ip_len point at the IPv4 packet:
 * either inside frame (borrowed) or inside w's scratch buffer (valid until the
 * next call). caplen < wirelen frames are counted in short_frames; the IP total
 * length is trimmed to what was captured only when safe (TSO length 0). */
enum sift_wire_verdict sift_wire_normalise(struct sift_wire *w, int dlt,
                                           const uint8_t *frame, uint32_t caplen,
                                           uint32_t wirelen,
                                           const uint8_t **ip, uint32_t *ip_len);

/* Text form of an IPv4 address as fed to libnids (network byte order), turned
 * back into the real address: synthetic 240.0.0.0/4 addresses become the IPv6
 * address they stand for. buf needs 46 bytes. Returns 4 or 6 (IP version). */
int sift_wire_addr_string(const struct sift_wire *w, uint32_t addr_be, char *buf, size_t len);

const struct sift_wire_stats *sift_wire_stats(const struct sift_wire *w);

/* Only TCP between chosen addresses: keep(user, version, src, dst) gets the
 * real addresses (4 or 16 bytes, as on the wire, before any IPv6 mapping) of
 * every TCP packet (fragments too) and returns 0 to leave it out
 * (SIFT_WIRE_FILTERED). keep NULL: no filter (the default). */
typedef int (*sift_wire_keep_fn)(void *user, int version, const uint8_t *src, const uint8_t *dst);
void sift_wire_set_filter(struct sift_wire *w, sift_wire_keep_fn keep, void *user);

/* 1 if sift_wire_normalise knows link type dlt (a DLT_ value), else 0: a
 * capture of another link type is refused whole rather than read as noise. */
int sift_wire_link_supported(int dlt);

/* IPv4 fragment reassembly (RFC 791) for packets returned by sift_wire_normalise.
 * A packet that is not a fragment is handed back as is (returns 1). A fragment
 * is copied and kept; when it completes its datagram, returns 1 with *out and
 * *out_len set to the whole datagram (fragment fields cleared, header checksum
 * recomputed) in w's buffer, valid until the next call. Returns 0 while pieces
 * are missing, -1 when the fragment was dropped (malformed, too big). Where
 * fragments overlap the first copy wins. At most 64 datagrams are pending; the
 * oldest is dropped for a new one, and any older than 30 s of packet time
 * (ts_us) is dropped. */
int sift_wire_defrag(struct sift_wire *w, const uint8_t *ip, uint32_t len, int64_t ts_us,
                     const uint8_t **out, uint32_t *out_len);

#endif
