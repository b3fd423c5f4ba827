/* capture.h — reading capture files with libpcap (pcap and pcapng). The only
 * module that includes <pcap.h> (with reasm.c's dead handle). Also live capture
 * from an interface (sift_capture_live_*). */
#ifndef SIFT_CAPTURE_H
#define SIFT_CAPTURE_H

#include "sift.h"

#include <stdio.h>

/* One frame as read from a file. data is borrowed from libpcap and valid only
 * during the callback. */
struct sift_frame {
    const uint8_t *data;
    uint32_t caplen;       /* bytes present in data */
    uint32_t wirelen;      /* bytes the frame had on the wire */
    int dlt;               /* pcap link type (DLT_*) of this file */
    struct sift_pktref ref;
};

typedef void (*sift_frame_fn)(const struct sift_frame *f, void *user);

struct sift_capture_info {
    int dlt;                 /* link type of the file */
    char dlt_name[32];       /* e.g. "EN10MB" */
    char format[8];          /* "pcap" or "pcapng" (from the magic number) */
    uint64_t packets;        /* frames delivered */
    uint64_t bytes;          /* sum of caplen */
    uint64_t short_frames;   /* frames with caplen < wirelen (snaplen cut) */
    int64_t first_ts_us, last_ts_us;
    int truncated;           /* file ended in the middle of a record */
};

/* Read every frame of the file at path, calling fn for each in file order.
 * file_idx goes into each frame's ref. Returns SIFT_OK when the whole file was
 * read; SIFT_ERR_IO if it cannot be opened; SIFT_ERR_FORMAT if it is not a
 * capture or is cut short (frames before the damage were delivered, info->
 * truncated is set); SIFT_ERR_INTERRUPTED if sift_capture_break() was called.
 * err receives a one-line human message (without the path) on failure. */
enum sift_status sift_capture_read_file(const char *path, uint32_t file_idx,
                                        sift_frame_fn fn, void *user,
                                        struct sift_capture_info *info,
                                        char *err, size_t errlen);

/* The same for a capture already open as fp (a file, or fmemopen() over bytes in
 * memory: it must be seekable). fp is closed on return, whatever the result. */
enum sift_status sift_capture_read_stream(FILE *fp, uint32_t file_idx,
                                          sift_frame_fn fn, void *user,
                                          struct sift_capture_info *info,
                                          char *err, size_t errlen);

/* Async-signal-safe: makes the running sift_capture_read_file return soon. */
void sift_capture_break(void);

/* ---- live capture from an interface ---- */

#define SIFT_LIVE_SNAPLEN 262144            /* whole GRO/loopback frames (NOTES-libs 1.10) */
#define SIFT_LIVE_BUFFER  (64 * 1024 * 1024) /* kernel buffer: smaller drops bursts */

struct sift_live;   /* an open interface */

/* Open ifname for capture with our own handle (snaplen SIFT_LIVE_SNAPLEN,
 * kernel buffer SIFT_LIVE_BUFFER, immediate mode, promiscuous, non-blocking)
 * and, if filter is non-empty, compile and set it as a BPF filter. Needs root
 * or CAP_NET_RAW. Returns SIFT_OK with *out set (close with
 * sift_capture_live_close); SIFT_ERR_USAGE for an unknown interface or a bad
 * filter, SIFT_ERR_IO otherwise, with a one-line err. */
enum sift_status sift_capture_live_open(const char *ifname, const char *filter,
                                        struct sift_live **out, char *err, size_t errlen);

/* Fill info's link type and format ("live") for the open handle. */
void sift_capture_live_info(const struct sift_live *l, struct sift_capture_info *info);

/* Wait up to timeout_ms for frames (a signal ends the wait early), then deliver
 * what is buffered to fn, frames numbered from 1 across the whole run, and
 * count them in info. Returns the number of frames delivered (0: none came),
 * or -1 on a capture error (err filled: the interface went away, ...). */
int sift_capture_live_dispatch(struct sift_live *l, uint32_t file_idx, sift_frame_fn fn, void *user,
                               struct sift_capture_info *info, int timeout_ms,
                               char *err, size_t errlen);

/* Kernel counters since open (pcap_stats): frames received by the filter,
 * dropped for lack of buffer space, dropped by the interface/driver. */
enum sift_status sift_capture_live_stats(struct sift_live *l, uint64_t *received, uint64_t *dropped,
                                         uint64_t *if_dropped);

void sift_capture_live_close(struct sift_live *l);   /* NULL is fine */

#endif
