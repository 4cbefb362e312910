#include "mem.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

static atomic_long fail_countdown = -1; /* < 0: off */
static atomic_int fail_repeat;
static atomic_long failed;
static atomic_long live;

void
cs_mem_fail_after(long n, int repeat)
{
	atomic_store(&fail_repeat, repeat);
	if (n >= 0)
		atomic_store(&failed, 0); /* switching off keeps the count readable */
	atomic_store(&fail_countdown, n);
}

long
cs_mem_failed_count(void)
{
	return atomic_load(&failed);
}

long
cs_mem_live(void)
{
	return atomic_load(&live);
}

/* True when this allocation must fail by injection. */
static int
should_fail(void)
{
	long c = atomic_load(&fail_countdown);

	for (;;) {
		if (c < 0)
			return 0;
		if (c > 0) {
			if (atomic_compare_exchange_weak(&fail_countdown, &c, c - 1))
				return 0;
			continue;
		}
		/* c == 0: fail this one */
		if (!atomic_load(&fail_repeat))
			atomic_store(&fail_countdown, -1);
		atomic_fetch_add(&failed, 1);
		return 1;
	}
}

void *
cs_malloc(size_t size)
{
	void *p;

	if (should_fail())
		return NULL;
	p = malloc(size == 0 ? 1 : size);
	if (p != NULL)
		atomic_fetch_add(&live, 1);
	return p;
}

void *
cs_calloc(size_t n, size_t size)
{
	void *p;

	if (size != 0 && n > SIZE_MAX / size)
		return NULL;
	if (should_fail())
		return NULL;
	p = calloc(n == 0 ? 1 : n, size == 0 ? 1 : size);
	if (p != NULL)
		atomic_fetch_add(&live, 1);
	return p;
}

void *
cs_realloc(void *p, size_t size)
{
	void *q;

	if (p == NULL)
		return cs_malloc(size);
	if (should_fail())
		return NULL;
	q = realloc(p, size == 0 ? 1 : size);
	return q;
}

int
cs_grow(void *pp, size_t *cap, size_t want, size_t size)
{
	void **p = pp;
	size_t n;
	void *q;

	if (want <= *cap)
		return 0;
	n = *cap < 8 ? 8 : *cap;
	while (n < want) {
		if (n > SIZE_MAX / 2)
			return CS_ENOMEM;
		n *= 2;
	}
	if (size != 0 && n > SIZE_MAX / size)
		return CS_ENOMEM;
	q = cs_realloc(*p, n * size);
	if (q == NULL)
		return CS_ENOMEM;
	*p = q;
	*cap = n;
	return 0;
}

void
cs_free(void *p)
{
	if (p == NULL)
		return;
	atomic_fetch_sub(&live, 1);
	free(p);
}

void *
cs_memdup(const void *p, size_t len)
{
	void *q = cs_malloc(len);

	if (q != NULL && len > 0)
		memcpy(q, p, len);
	return q;
}

char *
cs_strdup(const char *s)
{
	return cs_memdup(s, strlen(s) + 1);
}
