#define _GNU_SOURCE /* nftw's FTW_DEPTH, FTW_PHYS */
#include "wal_helpers.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/wal_internal.h"

uint64_t wt_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

char *wt_mkdtemp(void)
{
	const char *base = getenv("TMPDIR");
	char *path;
	if (asprintf(&path, "%s/cairn-wal-XXXXXX", base && *base ? base : "/tmp") < 0)
		abort();
	if (!mkdtemp(path))
		abort();
	return path;
}

static int wt__rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

void wt_rmtree(char *dir)
{
	if (!dir)
		return;
	nftw(dir, wt__rm, 16, FTW_DEPTH | FTW_PHYS);
	free(dir);
}

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static char log_buf[1 << 16];
static size_t log_len;

static void wt__log(void *data, enum store_wal_log_level level, const char *msg)
{
	pthread_mutex_lock(&log_mu);
	int n = snprintf(log_buf + log_len, sizeof log_buf - log_len, "%s\n", msg);
	if (n > 0 && log_len + (size_t)n < sizeof log_buf)
		log_len += (size_t)n;
	pthread_mutex_unlock(&log_mu);
	if (getenv("WT_VERBOSE"))
		fprintf(stderr, "wal log: %s\n", msg);
}

void wt_log_clear(void)
{
	pthread_mutex_lock(&log_mu);
	log_len = 0;
	log_buf[0] = 0;
	pthread_mutex_unlock(&log_mu);
}

bool wt_log_has(const char *needle)
{
	pthread_mutex_lock(&log_mu);
	bool found = strstr(log_buf, needle) != NULL;
	pthread_mutex_unlock(&log_mu);
	return found;
}

const char *wt_log_text(void)
{
	return log_buf;
}

struct store_wal_options wt_options(void)
{
	struct store_wal_options o = {0};
	o.segment_size = 64 * 1024;
	o.log_cb = wt__log;
	return o;
}

size_t wt_len(uint64_t index, uint64_t term, size_t max)
{
	uint64_t s = index * 1000003u + term;
	return max ? (size_t)(wt_rand(&s) % (max + 1)) : 0;
}

void wt_fill(uint64_t index, uint64_t term, uint8_t *buf, size_t len)
{
	uint64_t s = index ^ (term << 40) ^ 0x5eedull;
	for (size_t i = 0; i < len; i += 8) {
		uint64_t v = wt_rand(&s);
		size_t n = len - i < 8 ? len - i : 8;
		memcpy(buf + i, &v, n);
	}
}

uint8_t wt_type(uint64_t index, uint64_t term)
{
	return (uint8_t)(index * 7 + term);
}

bool wt_entry_ok(const struct store_wal_entry *e, size_t max)
{
	if (e->len != wt_len(e->index, e->term, max) || e->type != wt_type(e->index, e->term))
		return false;
	uint8_t *want = malloc(e->len + 1);
	wt_fill(e->index, e->term, want, e->len);
	bool ok = e->len == 0 || memcmp(want, e->data, e->len) == 0;
	free(want);
	return ok;
}

int wt_append(struct store_wal *w, uint64_t lo, uint64_t hi, uint64_t term, size_t max)
{
	size_t n = (size_t)(hi - lo);
	struct store_wal_entry *es = calloc(n ? n : 1, sizeof *es);
	uint8_t **bufs = calloc(n ? n : 1, sizeof *bufs);
	for (size_t k = 0; k < n; k++) {
		uint64_t i = lo + k;
		size_t len = wt_len(i, term, max);
		bufs[k] = malloc(len + 1);
		wt_fill(i, term, bufs[k], len);
		es[k] = (struct store_wal_entry){.index = i,
		                                 .term = term,
		                                 .type = wt_type(i, term),
		                                 .data = bufs[k],
		                                 .len = len};
	}
	int rc = store_wal_append(w, es, n);
	/* The WAL copied the payloads: scribble over ours to prove it. */
	for (size_t k = 0; k < n; k++) {
		memset(bufs[k], 0xee, es[k].len);
		free(bufs[k]);
	}
	free(bufs);
	free(es);
	return rc;
}

uint64_t wt_verify(struct store_wal *w, uint64_t lo, uint64_t hi, uint64_t term, size_t max)
{
	for (uint64_t i = lo; i < hi; i++) {
		struct store_wal_entry e;
		size_t n = 0;
		if (store_wal_entries(w, i, i + 1, 0, &e, 1, &n) != 0 || n != 1 || e.index != i ||
		    e.term != term || !wt_entry_ok(&e, max))
			return i;
	}
	return 0;
}

char *wt_seg_path(const char *dir, uint64_t seq)
{
	char *p;
	if (asprintf(&p, "%s/%016llx.wal", dir, (unsigned long long)seq) < 0)
		abort();
	return p;
}

size_t wt_count(const char *dir, const char *suffix)
{
	DIR *d = opendir(dir);
	size_t n = 0, sl = strlen(suffix);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (l >= sl && strcmp(de->d_name + l - sl, suffix) == 0)
			n++;
	}
	if (d)
		closedir(d);
	return n;
}

uint8_t *wt_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *buf = malloc((size_t)n + 1);
	if (fread(buf, 1, (size_t)n, f) != (size_t)n)
		abort();
	fclose(f);
	*len = (size_t)n;
	return buf;
}

void wt_write_file(const char *path, const uint8_t *buf, size_t len)
{
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(buf, 1, len, f) != len)
		abort();
	fclose(f);
}

static int wt__cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

uint32_t wt_dir_digest(const char *dir)
{
	DIR *d = opendir(dir);
	char *names[256];
	size_t n = 0;
	struct dirent *de;
	while (d && (de = readdir(d)) && n < 256)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			names[n++] = strdup(de->d_name);
	if (d)
		closedir(d);
	qsort(names, n, sizeof *names, wt__cmp);
	uint32_t crc = 0;
	for (size_t i = 0; i < n; i++) {
		char *path;
		if (asprintf(&path, "%s/%s", dir, names[i]) < 0)
			abort();
		crc = wal__crc32c(crc, names[i], strlen(names[i]));
		size_t len = 0;
		uint8_t *buf = wt_read_file(path, &len);
		if (buf)
			crc = wal__crc32c(crc, buf, len);
		free(buf);
		free(path);
		free(names[i]);
	}
	return crc;
}
