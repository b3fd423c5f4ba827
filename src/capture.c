/* capture.c — reads pcap and pcapng files with libpcap and hands each frame,
 * with its provenance (file, frame number, packet timestamp), to a callback.
 * The only file that includes <pcap.h> besides reasm.c (which needs a dead
 * handle for libnids). Live capture from an interface with a BPF filter is at
 * the end (sift_capture_live_*). No decoding here. */
#include "capture.h"
#include "wire.h"

#include <errno.h>
#include <pcap.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

static volatile sig_atomic_t g_break;

void sift_capture_break(void)
{
    g_break = 1;
}

/* "pcap", "pcapng" or NULL from the first four bytes of a file. */
static const char *format_of(const unsigned char m[4])
{
    static const unsigned char magics[][4] = {
        { 0xd4, 0xc3, 0xb2, 0xa1 }, { 0xa1, 0xb2, 0xc3, 0xd4 },   /* µs, either byte order */
        { 0x4d, 0x3c, 0xb2, 0xa1 }, { 0xa1, 0xb2, 0x3c, 0x4d },   /* ns */
    };
    static const unsigned char ng[4] = { 0x0a, 0x0d, 0x0d, 0x0a };   /* section header block */
    for (size_t i = 0; i < SIFT_ARRAY_LEN(magics); i++)
        if (memcmp(m, magics[i], 4) == 0) return "pcap";
    if (memcmp(m, ng, 4) == 0) return "pcapng";
    return NULL;
}

static void fill_dlt(struct sift_capture_info *info, int dlt)
{
    const char *name = pcap_datalink_val_to_name(dlt);
    info->dlt = dlt;
    if (name) snprintf(info->dlt_name, sizeof info->dlt_name, "%s", name);
    else snprintf(info->dlt_name, sizeof info->dlt_name, "DLT_%d", dlt);
}

/* Opens path and reads it with sift_capture_read_stream. */
enum sift_status sift_capture_read_file(const char *path, uint32_t file_idx,
                                        sift_frame_fn fn, void *user,
                                        struct sift_capture_info *info,
                                        char *err, size_t errlen)
{
    FILE *fp;

    memset(info, 0, sizeof *info);
    if (errlen) err[0] = '\0';
    if (!(fp = fopen(path, "rb"))) {
        snprintf(err, errlen, "cannot open: %s", strerror(errno));
        return SIFT_ERR_IO;
    }
    /* libpcap reads each record with two freads: with stdio's 4 KiB buffer that is a
     * read(2) per 4 KiB of capture; 1 MiB makes it one per MiB (glibc ignores the
     * size unless it is given the buffer; the stream is closed before we return). */
    char *buf = malloc(1 << 20);
    if (buf) setvbuf(fp, buf, _IOFBF, 1 << 20);
    enum sift_status rc = sift_capture_read_stream(fp, file_idx, fn, user, info, err, errlen);
    free(buf);
    return rc;
}

/* Checks the magic number itself (so "empty" and "not a capture" get distinct,
 * clear answers), then lets libpcap read the same FILE from the start.
 * Timestamps are requested in microseconds whatever the file's precision
 * (libpcap scales nanosecond files). */
enum sift_status sift_capture_read_stream(FILE *fp, uint32_t file_idx,
                                          sift_frame_fn fn, void *user,
                                          struct sift_capture_info *info,
                                          char *err, size_t errlen)
{
    char pcerr[PCAP_ERRBUF_SIZE] = "";
    unsigned char magic[4];
    const char *fmt;
    pcap_t *pc;

    memset(info, 0, sizeof *info);
    if (errlen) err[0] = '\0';
    size_t got = fread(magic, 1, 4, fp);
    if (got < 4) {
        int ioerr = ferror(fp);
        fclose(fp);
        if (ioerr) { snprintf(err, errlen, "cannot read: I/O error"); return SIFT_ERR_IO; }
        snprintf(err, errlen, got == 0 ? "empty file, not a capture"
                                       : "not a pcap or pcapng capture (only %zu bytes)", got);
        return SIFT_ERR_FORMAT;
    }
    if (!(fmt = format_of(magic))) {
        fclose(fp);
        snprintf(err, errlen, "not a pcap or pcapng capture (magic number %02x%02x%02x%02x)",
                 magic[0], magic[1], magic[2], magic[3]);
        return SIFT_ERR_FORMAT;
    }
    snprintf(info->format, sizeof info->format, "%s", fmt);
    if (fseek(fp, 0, SEEK_SET) != 0) {
        snprintf(err, errlen, "cannot seek: %s", strerror(errno));
        fclose(fp);
        return SIFT_ERR_IO;
    }
    pc = pcap_fopen_offline_with_tstamp_precision(fp, PCAP_TSTAMP_PRECISION_MICRO, pcerr);
    if (!pc) {                                  /* libpcap leaves fp open on failure */
        fclose(fp);
        snprintf(err, errlen, "not a readable %s capture: %s", fmt, pcerr);
        return SIFT_ERR_FORMAT;
    }
    fill_dlt(info, pcap_datalink(pc));
    if (!sift_wire_link_supported(info->dlt)) {
        snprintf(err, errlen, "link type %d (%s) is not supported; smtpsift reads Ethernet, Linux cooked"
                 " (SLL, SLL2), BSD loopback and raw IP captures", info->dlt, info->dlt_name);
        pcap_close(pc);                         /* closes fp */
        return SIFT_ERR_FORMAT;
    }

    enum sift_status st = SIFT_OK;
    uint64_t frame_no = 0;
    for (;;) {
        struct pcap_pkthdr *h;
        const u_char *data;
        if (g_break) {
            g_break = 0;                        /* consumed: the caller sees INTERRUPTED */
            snprintf(err, errlen, "interrupted after frame %llu", (unsigned long long)frame_no);
            st = SIFT_ERR_INTERRUPTED;
            break;
        }
        int r = pcap_next_ex(pc, &h, &data);
        if (r == PCAP_ERROR_BREAK) break;       /* -2: end of file */
        if (r != 1) {
            const char *msg = pcap_geterr(pc);
            if (strstr(msg, "truncated")) {
                info->truncated = 1;
                snprintf(err, errlen, "capture is truncated after frame %llu: %s",
                         (unsigned long long)frame_no, msg);
                st = SIFT_ERR_FORMAT;
            } else if (strstr(msg, "error reading")) {
                snprintf(err, errlen, "read error after frame %llu: %s",
                         (unsigned long long)frame_no, msg);
                st = SIFT_ERR_IO;
            } else {
                snprintf(err, errlen, "capture cannot be read past frame %llu: %s",
                         (unsigned long long)frame_no, msg);
                st = SIFT_ERR_FORMAT;
            }
            break;
        }
        struct sift_frame f = {
            .data = data, .caplen = h->caplen, .wirelen = h->len, .dlt = info->dlt,
            .ref = { .file_idx = file_idx, .frame_no = ++frame_no,
                     .ts_us = (int64_t)h->ts.tv_sec * 1000000 + (int64_t)h->ts.tv_usec },
        };
        if (info->packets == 0) info->first_ts_us = f.ref.ts_us;
        info->last_ts_us = f.ref.ts_us;
        info->packets++;
        info->bytes += h->caplen;
        if (h->caplen < h->len) info->short_frames++;
        fn(&f, user);
    }
    pcap_close(pc);                             /* closes fp */
    return st;
}

/* ---------- live capture (NOTES-libs 1.10) ----------
 * Our own handle: libnids' pcap_open_live(dev, 16384, ...) truncates the large
 * frames of loopback and GRO/LRO NICs, and its default kernel buffer drops
 * bursts. The handle is non-blocking; the caller waits with poll() on its fd so
 * it can commit and react to signals on time. */


struct sift_live {
    pcap_t *pc;
    int dlt;
    uint64_t frame_no;
};

enum sift_status sift_capture_live_open(const char *ifname, const char *filter,
                                        struct sift_live **out, char *err, size_t errlen)
{
    char pcerr[PCAP_ERRBUF_SIZE] = "";
    *out = NULL;
    pcap_t *pc = pcap_create(ifname, pcerr);
    if (!pc) {
        snprintf(err, errlen, "cannot open interface: %s", pcerr);
        return SIFT_ERR_IO;
    }
    pcap_set_snaplen(pc, SIFT_LIVE_SNAPLEN);
    pcap_set_promisc(pc, 1);
    pcap_set_timeout(pc, 100);
    pcap_set_immediate_mode(pc, 1);
    pcap_set_buffer_size(pc, SIFT_LIVE_BUFFER);
    int r = pcap_activate(pc);
    if (r < 0) {
        const char *why = r == PCAP_ERROR_PERM_DENIED ? "permission denied (capturing needs root or CAP_NET_RAW)"
                        : r == PCAP_ERROR_NO_SUCH_DEVICE ? "no such interface (see ip link)"
                        : pcap_geterr(pc);
        snprintf(err, errlen, "cannot capture: %s", why);
        pcap_close(pc);
        return r == PCAP_ERROR_PERM_DENIED ? SIFT_ERR_IO : SIFT_ERR_USAGE;
    }
    if (filter && *filter) {
        struct bpf_program prog;
        if (pcap_compile(pc, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) != 0) {
            snprintf(err, errlen, "bad filter expression \"%s\": %s", filter, pcap_geterr(pc));
            pcap_close(pc);
            return SIFT_ERR_USAGE;
        }
        r = pcap_setfilter(pc, &prog);
        pcap_freecode(&prog);
        if (r != 0) {
            snprintf(err, errlen, "cannot set filter: %s", pcap_geterr(pc));
            pcap_close(pc);
            return SIFT_ERR_IO;
        }
    }
    if (pcap_setnonblock(pc, 1, pcerr) != 0) {
        snprintf(err, errlen, "cannot make the handle non-blocking: %s", pcerr);
        pcap_close(pc);
        return SIFT_ERR_IO;
    }
    struct sift_live *l = sift_xcalloc(1, sizeof *l);
    l->pc = pc;
    l->dlt = pcap_datalink(pc);
    *out = l;
    return SIFT_OK;
}

void sift_capture_live_info(const struct sift_live *l, struct sift_capture_info *info)
{
    fill_dlt(info, l->dlt);
    snprintf(info->format, sizeof info->format, "live");
}

struct live_ctx {
    struct sift_live *l;
    uint32_t file_idx;
    sift_frame_fn fn;
    void *user;
    struct sift_capture_info *info;
};

static void live_cb(u_char *u, const struct pcap_pkthdr *h, const u_char *data)
{
    struct live_ctx *c = (struct live_ctx *)u;
    struct sift_frame f = {
        .data = data, .caplen = h->caplen, .wirelen = h->len, .dlt = c->l->dlt,
        .ref = { .file_idx = c->file_idx, .frame_no = ++c->l->frame_no,
                 .ts_us = (int64_t)h->ts.tv_sec * 1000000 + (int64_t)h->ts.tv_usec },
    };
    if (c->info->packets == 0) c->info->first_ts_us = f.ref.ts_us;
    c->info->last_ts_us = f.ref.ts_us;
    c->info->packets++;
    c->info->bytes += h->caplen;
    if (h->caplen < h->len) c->info->short_frames++;
    c->fn(&f, c->user);
}

int sift_capture_live_dispatch(struct sift_live *l, uint32_t file_idx, sift_frame_fn fn, void *user,
                               struct sift_capture_info *info, int timeout_ms,
                               char *err, size_t errlen)
{
    struct pollfd pfd = { .fd = pcap_get_selectable_fd(l->pc), .events = POLLIN };
    if (pfd.fd >= 0) {
        int pr = poll(&pfd, 1, timeout_ms);
        if (pr < 0 && errno != EINTR) {
            snprintf(err, errlen, "poll failed: %s", strerror(errno));
            return -1;
        }
        if (pr <= 0) return 0;
    }
    struct live_ctx c = { l, file_idx, fn, user, info };
    int total = 0;
    for (int round = 0; round < 64; round++) {   /* drain, but come back to the caller regularly */
        int n = pcap_dispatch(l->pc, -1, live_cb, (u_char *)&c);
        if (n == PCAP_ERROR_BREAK) break;
        if (n < 0) {
            snprintf(err, errlen, "capture failed: %s", pcap_geterr(l->pc));
            return -1;
        }
        if (n == 0) break;
        total += n;
    }
    return total;
}

enum sift_status sift_capture_live_stats(struct sift_live *l, uint64_t *received, uint64_t *dropped,
                                         uint64_t *if_dropped)
{
    struct pcap_stat ps;
    if (pcap_stats(l->pc, &ps) != 0) return SIFT_ERR_IO;
    *received = ps.ps_recv;
    *dropped = ps.ps_drop;
    *if_dropped = ps.ps_ifdrop;
    return SIFT_OK;
}

void sift_capture_live_close(struct sift_live *l)
{
    if (!l) return;
    pcap_close(l->pc);
    free(l);
}
