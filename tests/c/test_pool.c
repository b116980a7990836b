/* The warm pool through the C API, with real sandboxes: argument errors, taking running
   and fresh sandboxes, the pool refilling, several threads taking at once, and taken
   sandboxes outliving the pool. Written in the common subset of C11 and C++17; the test
   suite compiles it as both. */
#ifndef _GNU_SOURCE /* C++ compilers define it */
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <unistd.h>

#include "check.h"

enum { SIZE = 2, THREADS = 4, TAKES = 2 };

/* Run `script` in `sb` and check what it prints. */
static void run(const nucleus_sandbox *sb, const char *script, const char *expected) {
    nucleus_exec *req = NULL;
    nucleus_exec_result *result = NULL;
    const uint8_t *out = NULL;
    size_t len = 0;
    CHECK_OK(nucleus_exec_new_shell(script, &req));
    CHECK_OK(nucleus_sandbox_exec(sb, req, &result));
    nucleus_exec_free(req);
    CHECK_OK(nucleus_exec_result_stdout(result, &out, &len));
    if (strcmp((const char *)out, expected) != 0)
        FAIL("%s printed \"%s\", expected \"%s\"", script, (const char *)out, expected);
    nucleus_exec_result_free(result);
}

static void argument_errors(void) {
    nucleus_config *cfg = NULL;
    nucleus_pool *pool = NULL;
    nucleus_sandbox *sb = NULL;
    size_t ready = 42;
    CHECK_OK(nucleus_config_new(&cfg));
    CHECK_NULL_ARG(nucleus_pool_new(NULL, SIZE, &pool), "cfg");
    CHECK_NULL_ARG(nucleus_pool_new(cfg, SIZE, NULL), "out");
    CHECK_FAILS(nucleus_pool_new(cfg, 0, &pool), NUCLEUS_INVALID_ARGUMENT, "size");
    CHECK_MESSAGE("at least 1");
    /* Every sandbox of the pool would share it. */
    CHECK_OK(nucleus_config_set_workspace(cfg, "/tmp"));
    CHECK_FAILS(nucleus_pool_new(cfg, SIZE, &pool), NUCLEUS_INVALID_CONFIG, "workspace");
    nucleus_config_free(cfg);
    CHECK_NULL_ARG(nucleus_pool_take(NULL, &sb), "pool");
    CHECK_NULL_ARG(nucleus_pool_ready(NULL, &ready), "pool");
    CHECK(pool == NULL && sb == NULL && ready == 42);
    nucleus_pool_free(NULL);
}

/* Wait (up to 30 s) until the pool has `want` sandboxes ready. */
static void wait_ready(const nucleus_pool *pool, size_t want) {
    size_t ready = 0;
    for (int i = 0; i < 3000; i++) {
        CHECK_OK(nucleus_pool_ready(pool, &ready));
        if (ready == want) return;
        usleep(10000);
    }
    FAIL("the pool has %zu sandboxes ready, expected %zu", ready, want);
}

struct taker {
    const nucleus_pool *pool;
    int index;
    nucleus_sandbox *taken[TAKES];
    char error[256];
};

/* Take TAKES sandboxes and run a command in each; the main thread checks and frees them. */
static void *take_some(void *arg) {
    struct taker *t = (struct taker *)arg;
    for (int i = 0; i < TAKES; i++) {
        nucleus_exec *req = NULL;
        nucleus_exec_result *result = NULL;
        int32_t code = -1;
        char script[32];
        snprintf(script, sizeof script, "exit %d", t->index);
        if (nucleus_pool_take(t->pool, &t->taken[i]) != NUCLEUS_OK ||
            nucleus_exec_new_shell(script, &req) != NUCLEUS_OK ||
            nucleus_sandbox_exec(t->taken[i], req, &result) != NUCLEUS_OK ||
            nucleus_exec_result_exit_code(result, &code) != NUCLEUS_OK || code != t->index) {
            snprintf(t->error, sizeof t->error, "take %d (exit %d): %s", i, code,
                     nucleus_last_error_message());
        }
        nucleus_exec_result_free(result);
        nucleus_exec_free(req);
    }
    return NULL;
}

static void takes_from_threads(const nucleus_pool *pool) {
    pthread_t threads[THREADS];
    struct taker takers[THREADS];
    memset(takers, 0, sizeof takers);
    for (int i = 0; i < THREADS; i++) {
        takers[i].pool = pool;
        takers[i].index = i;
        CHECK(pthread_create(&threads[i], NULL, take_some, &takers[i]) == 0);
    }
    for (int i = 0; i < THREADS; i++) {
        CHECK(pthread_join(threads[i], NULL) == 0);
        if (takers[i].error[0] != 0) FAIL("thread %d: %s", i, takers[i].error);
    }
    /* Every sandbox handed out is a different one. */
    const char *ids[THREADS * TAKES];
    for (int i = 0; i < THREADS * TAKES; i++)
        CHECK_OK(nucleus_sandbox_id(takers[i / TAKES].taken[i % TAKES], &ids[i]));
    for (int i = 0; i < THREADS * TAKES; i++)
        for (int j = i + 1; j < THREADS * TAKES; j++) CHECK(strcmp(ids[i], ids[j]) != 0);
    for (int i = 0; i < THREADS * TAKES; i++) nucleus_sandbox_free(takers[i / TAKES].taken[i % TAKES]);
}

int main(void) {
    argument_errors();

    nucleus_config *cfg = NULL;
    nucleus_pool *pool = NULL;
    CHECK_OK(nucleus_config_new(&cfg));
    CHECK_OK(nucleus_config_set_hostname(cfg, "pooled"));
    CHECK_OK(nucleus_pool_new(cfg, SIZE, &pool));
    nucleus_config_free(cfg); /* the pool keeps its own copy */
    wait_ready(pool, SIZE);

    /* Taken sandboxes run, and what one taker leaves is not in the next one's. */
    nucleus_sandbox *first = NULL, *second = NULL;
    nucleus_sandbox_state state = NUCLEUS_SANDBOX_STATE_STOPPED;
    CHECK_OK(nucleus_pool_take(pool, &first));
    CHECK_OK(nucleus_sandbox_status(first, &state));
    CHECK(state == NUCLEUS_SANDBOX_STATE_RUNNING);
    run(first, "hostname; ls -A /workspace", "pooled\n");
    CHECK_OK(nucleus_sandbox_write_file(first, "/workspace/mark", (const uint8_t *)"x", 1));
    CHECK_OK(nucleus_pool_take(pool, &second));
    run(second, "hostname; ls -A /workspace", "pooled\n");
    nucleus_sandbox_free(second);
    wait_ready(pool, SIZE);

    takes_from_threads(pool);

    /* Freeing the pool leaves a taken sandbox alone. */
    nucleus_pool_free(pool);
    run(first, "cat /workspace/mark", "x");
    CHECK_OK(nucleus_sandbox_destroy(first));
    nucleus_sandbox_free(first);

    printf("test_pool: %u checks passed\n", checks_run);
    return 0;
}
