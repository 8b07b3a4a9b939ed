/* now — the clocks, read in the units pdgate counts in: the one copy of these conversions. */
#ifndef PDGATE_NOW_H
#define PDGATE_NOW_H

#include <stdint.h>
#include <time.h>

/*
 * Inline, as they are read on every request. The monotonic clock for deadlines and durations
 * (it does not jump when the wall clock is set); the wall clock for what is recorded or
 * compared with dates.
 */

/* Milliseconds of CLOCK_MONOTONIC. */
static inline int64_t
now_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Microseconds of CLOCK_MONOTONIC. */
static inline uint64_t
now_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Milliseconds since the Unix epoch (CLOCK_REALTIME). */
static inline int64_t
now_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
