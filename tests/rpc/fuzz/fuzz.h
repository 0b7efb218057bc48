/*
 * tests/rpc/fuzz/fuzz.h - the rpc fuzz target and its seed corpus.
 *
 * One input is one connection. The first byte picks the side under test:
 *   even: the bytes are what a client sends to our server (HTTP/2 frames,
 *         gRPC messages, or an HTTP/1.1 request);
 *   odd:  the bytes are what a server sends to our client, which has three
 *         calls open (unary, a watch-like stream, a raw-bytes stream).
 * The peer half-closes after writing, so every input ends: a hang is a bug.
 */
#ifndef CAIRN_TESTS_RPC_FUZZ_H
#define CAIRN_TESTS_RPC_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Closes the fuzz server and loop (the driver calls it, so leaks show). */
void fuzz_fini(void);

struct fuzz_input {
	uint8_t *p;
	size_t n;
	const char *name;
};
/* Valid exchanges for both sides; *n receives the count. */
struct fuzz_input *fuzz_corpus(size_t *n);
void fuzz_corpus_free(struct fuzz_input *c, size_t n);

#endif
