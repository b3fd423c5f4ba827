/* progress.h — a one-line progress bar on stderr (bytes done of total,
 * percent, MB/s, time left), drawn at most four times a second and only when
 * stderr is a terminal. It does not know what is being counted. */
#ifndef SIFT_PROGRESS_H
#define SIFT_PROGRESS_H

#include "sift.h"

struct sift_progress;

/* A bar for total bytes, or NULL (draw nothing) when disabled is set or
 * stderr is not a terminal. All functions accept NULL. */
struct sift_progress *sift_progress_new(uint64_t total, int disabled);
/* done bytes so far (clamped to total); redraws if 0.25 s passed. */
void sift_progress_update(struct sift_progress *p, uint64_t done);
/* Erase the bar (so the summary line starts clean) and free p. */
void sift_progress_end(struct sift_progress *p);

#endif
