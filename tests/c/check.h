/* Checks shared by the C tests of libnucleus. Each failed check prints where it failed
   and the thread's last nucleus error, then exits with status 1. Valid C11 and C++17. */
#ifndef NUCLEUS_TEST_CHECK_H
#define NUCLEUS_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nucleus.h"

/* Checks run by the main thread, printed at the end. */
static unsigned checks_run = 0;

#define FAIL(...)                                                                  \
    do {                                                                           \
        fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                            \
        fprintf(stderr, __VA_ARGS__);                                              \
        fprintf(stderr, "\n  last error: %s (field \"%s\", errno %d)\n",           \
                nucleus_last_error_message(), nucleus_last_error_field(),          \
                nucleus_last_error_errno());                                       \
        exit(1);                                                                   \
    } while (0)

#define CHECK(cond)                                                                \
    do {                                                                           \
        checks_run++;                                                              \
        if (!(cond)) FAIL("check failed: %s", #cond);                              \
    } while (0)

/* `call` returns `expected`. */
#define CHECK_STATUS(call, expected)                                               \
    do {                                                                           \
        nucleus_status got_ = (call);                                              \
        checks_run++;                                                              \
        if (got_ != (expected))                                                    \
            FAIL("%s returned %s, expected %s", #call, nucleus_status_name(got_),  \
                 nucleus_status_name(expected));                                   \
    } while (0)

#define CHECK_OK(call) CHECK_STATUS(call, NUCLEUS_OK)

/* The last error names `field` (a config path or a parameter). */
#define CHECK_FIELD(field) CHECK(strcmp(nucleus_last_error_field(), (field)) == 0)

/* The last error message contains `text`. */
#define CHECK_MESSAGE(text) CHECK(strstr(nucleus_last_error_message(), (text)) != NULL)

/* `call` fails with `expected` and the last error names `field`. */
#define CHECK_FAILS(call, expected, field)                                         \
    do {                                                                           \
        CHECK_STATUS(call, expected);                                              \
        CHECK_FIELD(field);                                                        \
    } while (0)

#define CHECK_NULL_ARG(call, param) CHECK_FAILS(call, NUCLEUS_NULL_ARGUMENT, param)

#endif /* NUCLEUS_TEST_CHECK_H */
