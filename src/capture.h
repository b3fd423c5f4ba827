/* capture.h — reading capture files with libpcap (pcap and pcapng). The only
 * module that includes <pcap.h>. Live capture is not here yet (issue: live). */
#ifndef SIFT_CAPTURE_H
#define SIFT_CAPTURE_H

#include "sift.h"

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

/* Async-signal-safe: makes the running sift_capture_read_file return soon. */
void sift_capture_break(void);

#endif
