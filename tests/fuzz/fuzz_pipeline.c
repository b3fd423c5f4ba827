/* fuzz_pipeline.c — libFuzzer target for the whole ingest path: the input is a
 * pcap/pcapng file read from memory (fmemopen) through capture, wire, reasm
 * (libnids), dissect, smtp, mime and store into an in-memory SQLite database
 * (":memory:"). Debian's libpcap/libnids/GMime/SQLite are not instrumented. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "ingest.h"
#include "mime.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    setenv("G_SLICE", "always-malloc", 1);
    sift_mime_init();            /* held for the process: each run's init/shutdown only counts */
    /* ingest prints one line per bad input with fprintf(stderr); sanitizer and
     * libFuzzer reports write to file descriptor 2 directly and still show. */
    FILE *devnull = fopen("/dev/null", "w");
    if (devnull) stderr = devnull;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *paths[] = { "fuzz.pcap" };
    struct sift_ingest_opts o = {
        .db_path = ":memory:", .paths = paths, .n_paths = 1, .quiet = 1,
        .command_line = "fuzz_pipeline",
    };
    (void)sift_ingest_memory(&o, data, size);
    return 0;
}
