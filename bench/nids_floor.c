/* nids_floor.c — bench_nids_floor: the libnids reassembly floor for the benchmark: our own
 * libpcap loop strips Ethernet and feeds each IPv4 packet to nids_pcap_handler over a dead
 * DLT_RAW handle with the settings of NOTES-libs 1.13; the TCP callback collects every stream
 * and only counts bytes. IPv6 TCP/UDP without extension headers is rewritten into an IPv4
 * packet (addresses hashed into 240.0.0.0/4, as smtpsift's wire.c maps them 1:1) so the same
 * streams are reassembled. Nothing else is parsed. Not installed.
 * Usage: bench_nids_floor FILE (Ethernet captures) */
#include <nids.h>
#include <pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

static uint64_t g_bytes, g_streams, g_warnings, g_skipped;
static struct pcap_pkthdr g_hdr;
static u_char g_v4[65536 + 20];

static uint32_t v6_to_v4(const u_char *a)
{
    uint32_t h = 2166136261u;   /* FNV-1a; a collision merely merges two hosts */
    for (int i = 0; i < 16; i++) h = (h ^ a[i]) * 16777619u;
    return htonl(0xF0000000u | (h & 0x0FFFFFFFu));
}

/* IPv6 packet (no extension headers) → IPv4 packet in g_v4; returns its length or 0. */
static size_t v6_rewrite(const u_char *p, size_t n)
{
    if (n < 40 || (p[6] != 6 && p[6] != 17)) return 0;
    size_t pl = (size_t)p[4] << 8 | p[5];
    if (pl > n - 40 || pl + 20 > 65535) return 0;
    u_char *o = g_v4;
    memset(o, 0, 20);
    o[0] = 0x45; o[2] = (u_char)((pl + 20) >> 8); o[3] = (u_char)(pl + 20); o[6] = 0x40;
    o[8] = p[7]; o[9] = p[6];
    uint32_t s = v6_to_v4(p + 8), d = v6_to_v4(p + 24);
    memcpy(o + 12, &s, 4); memcpy(o + 16, &d, 4);
    memcpy(o + 20, p + 40, pl);
    return pl + 20;
}   /* libnids keeps a pointer to it (nids_last_pcap_header) */

static void on_tcp(struct tcp_stream *s, void **param)
{
    (void)param;
    switch (s->nids_state) {
    case NIDS_JUST_EST:
        s->client.collect++;
        s->server.collect++;
        g_streams++;
        break;
    case NIDS_DATA:
        g_bytes += (uint64_t)s->client.count_new + (uint64_t)s->server.count_new;
        break;
    default:
        break;
    }
}

static void on_warning(int type, int err, struct ip *ip, void *data)
{
    (void)type; (void)err; (void)ip; (void)data;
    g_warnings++;
}

static void on_oom(char *where)
{
    fprintf(stderr, "bench_nids_floor: libnids out of memory (%s)\n", where);
    abort();
}

int main(int argc, char **argv)
{
    if (argc != 2) { fprintf(stderr, "usage: bench_nids_floor FILE\n"); return 2; }
    char err[PCAP_ERRBUF_SIZE];
    pcap_t *in = pcap_open_offline(argv[1], err);
    if (!in) { fprintf(stderr, "bench_nids_floor: %s\n", err); return 1; }
    if (pcap_datalink(in) != DLT_EN10MB) { fprintf(stderr, "bench_nids_floor: Ethernet only\n"); return 1; }
    pcap_t *dead = pcap_open_dead(DLT_RAW, 262144);

    nids_params.n_tcp_streams = 1 << 18;
    nids_params.n_hosts = 4096;
    nids_params.scan_num_hosts = 0;
    nids_params.syslog = on_warning;
    nids_params.no_mem = on_oom;
    nids_params.tcp_workarounds = 1;
    nids_params.tcp_flow_timeout = 300;
    nids_params.one_loop_less = 0;
    nids_params.multiproc = 0;
    nids_params.pcap_filter = NULL;
    nids_params.filename = NULL;
    nids_params.device = NULL;
    nids_params.pcap_desc = dead;
    static struct nids_chksum_ctl all = { 0, 0, NIDS_DONT_CHKSUM, 0 };
    nids_register_chksum_ctl(&all, 1);
    if (!nids_init()) { fprintf(stderr, "bench_nids_floor: %s\n", nids_errbuf); return 1; }
    nids_register_tcp((void *)on_tcp);

    struct pcap_pkthdr *h;
    const u_char *d;
    uint64_t packets = 0;
    while (pcap_next_ex(in, &h, &d) == 1) {
        packets++;
        if (h->caplen < 14) { g_skipped++; continue; }
        g_hdr = *h;
        if (d[12] == 0x08 && d[13] == 0x00) {
            g_hdr.caplen -= 14;
            g_hdr.len -= 14;
            nids_pcap_handler(NULL, &g_hdr, (u_char *)(uintptr_t)(d + 14));
        } else if (d[12] == 0x86 && d[13] == 0xdd) {
            size_t n = v6_rewrite(d + 14, h->caplen - 14);
            if (!n) { g_skipped++; continue; }
            g_hdr.caplen = g_hdr.len = (bpf_u_int32)n;
            nids_pcap_handler(NULL, &g_hdr, g_v4);
        } else {
            g_skipped++;
        }
    }
    nids_exit();
    pcap_close(dead);
    pcap_close(in);
    printf("packets=%llu skipped=%llu streams=%llu bytes=%llu warnings=%llu\n",
           (unsigned long long)packets, (unsigned long long)g_skipped, (unsigned long long)g_streams,
           (unsigned long long)g_bytes, (unsigned long long)g_warnings);
    return 0;
}
