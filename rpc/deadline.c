/*
 * rpc/deadline.c - grpc-timeout and the deadline timer heap.
 *
 * grpc-timeout is 1-8 digits and a unit (H M S m u n; PROTOCOL-HTTP2.md).
 * We keep deadlines in milliseconds of the loop clock: sub-millisecond
 * timeouts round up (a call given 1 ns must still be allowed to fail by
 * deadline, not succeed with no time), and huge values saturate rather than
 * wrap, since 8 digits of hours do not fit in 64-bit nanoseconds.
 *
 * Deadlines of every stream of a server (or call of a client) share one
 * uv_timer_t driven by a binary min-heap, so a call with a deadline costs a
 * heap insert, not a libuv handle that must be closed before its memory is
 * reused. Calls usually carry the same timeout, so a new deadline rarely
 * becomes the earliest and the timer is rarely re-armed.
 */
#include <errno.h>
#include <stdlib.h>

#include "rpc/internal.h"

static uint64_t sat_mul(uint64_t a, uint64_t b)
{
	if (a && b > UINT64_MAX / a)
		return UINT64_MAX;
	return a * b;
}

int rpc_timeout_parse(const char *s, size_t len, uint64_t *ms)
{
	if (!s || len < 2)
		return -EINVAL;
	uint64_t v = 0;
	for (size_t i = 0; i + 1 < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = sat_mul(v, 10);
		uint64_t d = (uint64_t)(s[i] - '0');
		v = v > UINT64_MAX - d ? UINT64_MAX : v + d;
	}
	switch (s[len - 1]) {
	case 'H':
		*ms = sat_mul(v, 3600000);
		break;
	case 'M':
		*ms = sat_mul(v, 60000);
		break;
	case 'S':
		*ms = sat_mul(v, 1000);
		break;
	case 'm':
		*ms = v;
		break;
	case 'u':
		*ms = v / 1000 + (v % 1000 != 0);
		break;
	case 'n':
		*ms = v / 1000000 + (v % 1000000 != 0);
		break;
	default:
		return -EINVAL;
	}
	return 0;
}

size_t rpc_timeout_format(uint64_t ms, char *out)
{
	static const struct {
		uint64_t per;
		char unit;
	} units[] = {{3600000, 'H'}, {60000, 'M'}, {1000, 'S'}, {1, 'm'}};
	const uint64_t max = 99999999;
	uint64_t v = 0;
	char unit = 0;
	/* The largest unit that represents ms exactly in 8 digits (zero reads
	 * best as "0m"). */
	for (size_t i = ms ? 0 : 3; i < 4 && !unit; i++)
		if (ms % units[i].per == 0 && ms / units[i].per <= max) {
			v = ms / units[i].per;
			unit = units[i].unit;
		}
	/* Else the finest unit that fits, rounded up. */
	for (size_t i = 4; i-- > 0 && !unit;) {
		uint64_t q = ms / units[i].per + (ms % units[i].per != 0);
		if (q <= max) {
			v = q;
			unit = units[i].unit;
		}
	}
	if (!unit) {
		v = max;
		unit = 'H';
	}
	char digits[24];
	size_t n = 0;
	do {
		digits[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	size_t len = 0;
	while (n)
		out[len++] = digits[--n];
	out[len++] = unit;
	out[len] = '\0';
	return len;
}

/* ---- the heap ---------------------------------------------------------- */

static void set(struct rpc__timerq *q, size_t i, struct rpc__tnode *n)
{
	q->h[i] = n;
	n->idx = i + 1;
}

static void sift_up(struct rpc__timerq *q, size_t i)
{
	struct rpc__tnode *n = q->h[i];
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (q->h[p]->when <= n->when)
			break;
		set(q, i, q->h[p]);
		i = p;
	}
	set(q, i, n);
}

static void sift_down(struct rpc__timerq *q, size_t i)
{
	struct rpc__tnode *n = q->h[i];
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= q->n)
			break;
		if (c + 1 < q->n && q->h[c + 1]->when < q->h[c]->when)
			c++;
		if (n->when <= q->h[c]->when)
			break;
		set(q, i, q->h[c]);
		i = c;
	}
	set(q, i, n);
}

static void timer_cb(uv_timer_t *t);

static void arm(struct rpc__timerq *q)
{
	if (q->n == 0) {
		if (q->armed) {
			uv_timer_stop(&q->timer);
			q->armed = 0;
		}
		return;
	}
	uint64_t when = q->h[0]->when;
	if (q->armed == when && uv_is_active((uv_handle_t *)&q->timer))
		return;
	uint64_t now = uv_now(q->timer.loop);
	uv_timer_start(&q->timer, timer_cb, when > now ? when - now : 0, 0);
	q->armed = when ? when : 1;
}

static void timer_cb(uv_timer_t *t)
{
	struct rpc__timerq *q = t->data;
	q->armed = 0;
	uint64_t now = uv_now(t->loop);
	while (q->n > 0 && q->h[0]->when <= now) {
		struct rpc__tnode *n = q->h[0];
		rpc__timerq_del(q, n);
		n->fn(n);
	}
	arm(q);
}

int rpc__timerq_init(uv_loop_t *loop, struct rpc__timerq *q)
{
	*q = (struct rpc__timerq){0};
	int rv = uv_timer_init(loop, &q->timer);
	q->timer.data = q;
	return rv;
}

int rpc__timerq_add(struct rpc__timerq *q, struct rpc__tnode *n, uint64_t when)
{
	if (n->idx)
		rpc__timerq_del(q, n);
	if (q->n == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 16;
		struct rpc__tnode **h = realloc(q->h, cap * sizeof *h);
		if (!h)
			return -ENOMEM;
		q->h = h;
		q->cap = cap;
	}
	n->when = when;
	set(q, q->n++, n);
	sift_up(q, q->n - 1);
	if (n->idx == 1)
		arm(q);
	return 0;
}

void rpc__timerq_del(struct rpc__timerq *q, struct rpc__tnode *n)
{
	if (!n->idx)
		return;
	size_t i = n->idx - 1;
	n->idx = 0;
	q->n--;
	if (i != q->n) {
		set(q, i, q->h[q->n]);
		sift_up(q, i);
		sift_down(q, q->h[i]->idx - 1);
	}
	/* An emptied heap stops the timer (so it holds no loop reference); a
	 * removed root merely makes the timer fire early and re-arm. */
	if (q->n == 0)
		arm(q);
}

void rpc__timerq_close(struct rpc__timerq *q, uv_close_cb cb)
{
	for (size_t i = 0; i < q->n; i++)
		q->h[i]->idx = 0;
	free(q->h);
	q->h = NULL;
	q->n = q->cap = 0;
	uv_close((uv_handle_t *)&q->timer, cb);
}
