/* pcap_floor.c — bench_pcap_floor: the libpcap read floor for the benchmark: every packet of
 * the given captures read with pcap_next_ex and its captured length summed. Nothing is parsed,
 * nothing reassembled; not installed. Usage: bench_pcap_floor FILE... */
#include <pcap.h>
#include <stdint.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    uint64_t packets = 0, bytes = 0, x = 0;
    for (int i = 1; i < argc; i++) {
        char err[PCAP_ERRBUF_SIZE];
        pcap_t *p = pcap_open_offline(argv[i], err);
        if (!p) { fprintf(stderr, "bench_pcap_floor: %s\n", err); return 1; }
        struct pcap_pkthdr *h;
        const u_char *d;
        while (pcap_next_ex(p, &h, &d) == 1) {
            packets++;
            bytes += h->caplen;
            x += d[h->caplen / 2];   /* touch the packet so nothing is optimised away */
        }
        pcap_close(p);
    }
    printf("packets=%llu bytes=%llu check=%llu\n", (unsigned long long)packets,
           (unsigned long long)bytes, (unsigned long long)(x & 0xff));
    return 0;
}
