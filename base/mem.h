/*
 * base/mem.h: the one allocator of the project, with fault injection.
 *
 * Every allocation of cabsync code goes through cs_malloc & co. so that tests
 * can make the Nth allocation fail (cs_mem_fail_after) and check that every
 * failure path returns CS_ENOMEM, leaks nothing and changes nothing (after
 * SQLite's faultsimConfig). sql/ routes SQLite through it, agent/ libuv.
 * Thread-safe (atomic counters). sodium_malloc stays for long-lived secrets.
 */
#ifndef CS_BASE_MEM_H
#define CS_BASE_MEM_H

#include <stddef.h>

void *cs_malloc(size_t size);
/* Checks n * size for overflow; returns zeroed memory or NULL. */
void *cs_calloc(size_t n, size_t size);
void *cs_realloc(void *p, size_t size);
/* Grow an array of n elements of size to at least want elements (doubling). */
int cs_grow(void *pp, size_t *cap, size_t want, size_t size);
void cs_free(void *p);
/* Copy len bytes into a new allocation (len 0 gives a 1-byte allocation). */
void *cs_memdup(const void *p, size_t len);
char *cs_strdup(const char *s);

/*
 * Fault injection: after n more successful allocations, every further one
 * fails (repeat != 0) or only the next one fails (repeat == 0).
 * n < 0 switches injection off. Returns nothing; counts are global.
 */
void cs_mem_fail_after(long n, int repeat);
/* Allocations failed by injection since injection was last switched on. */
long cs_mem_failed_count(void);
/* Allocations currently live (cs_malloc minus cs_free), for leak checks. */
long cs_mem_live(void);

#endif
