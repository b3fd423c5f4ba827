/* fuzz_wire.c — libFuzzer target for the frame normaliser (src/wire.c): the
 * first byte picks one of the link types wire.c supports (or an unsupported one)
 * and whether the frame claims to be longer on the wire than captured; the rest
 * is the frame. Every byte of the IPv4 result is read (ASan checks the bounds)
 * and its addresses are turned back into text. */
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

static volatile uint32_t sink_sum;

static const int dlts[] = { 1, 113, 276, 0, 108, 12, 14, 101, 228, 229, 147 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 0x40000) return 0;
    int dlt = dlts[(data[0] & 0x0f) % (sizeof dlts / sizeof dlts[0])];
    uint32_t caplen = (uint32_t)(size - 1);
    uint32_t wirelen = (data[0] & 0x10) ? caplen + 100 : caplen;
    struct sift_wire *w = sift_wire_new();
    const uint8_t *ip = NULL;
    uint32_t ip_len = 0;
    /* twice: the second call sees the IPv6 map and scratch buffer already in use */
    for (int round = 0; round < 2; round++) {
        enum sift_wire_verdict v = sift_wire_normalise(w, dlt, data + 1, caplen, wirelen, &ip, &ip_len);
        if (v != SIFT_WIRE_IPV4) continue;
        uint32_t sum = 0;
        for (uint32_t i = 0; i < ip_len; i++) sum += ip[i];
        sink_sum += sum;
        if (ip_len >= 20) {
            char buf[46];
            uint32_t src, dst;
            __builtin_memcpy(&src, ip + 12, 4);
            __builtin_memcpy(&dst, ip + 16, 4);
            sink_sum += (uint32_t)sift_wire_addr_string(w, src, buf, sizeof buf);
            sink_sum += (uint32_t)sift_wire_addr_string(w, dst, buf, sizeof buf);
        }
    }
    const struct sift_wire_stats *st = sift_wire_stats(w);
    sink_sum += (uint32_t)st->frames;
    sift_wire_free(w);
    return 0;
}
