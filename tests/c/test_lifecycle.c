/* The whole lifecycle through the C API, in a real sandbox: config from JSON and setters,
   create, start, exec with every request option, result getters, files in and out,
   spawn with streams, wait/wait_timeout/kill, concurrent exec from several threads on one
   sandbox, kill, destroy, free. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include "check.h"

/* Run `script` and return its result; stdout is checked against `expected_stdout`. */
static nucleus_exec_result *run(const nucleus_sandbox *sb, const char *script,
                                const char *expected_stdout) {
    nucleus_exec *req = NULL;
    nucleus_exec_result *result = NULL;
    const uint8_t *out = NULL;
    size_t len = 0;
    CHECK_OK(nucleus_exec_new_shell(script, &req));
    CHECK_OK(nucleus_sandbox_exec(sb, req, &result));
    nucleus_exec_free(req);
    CHECK_OK(nucleus_exec_result_stdout(result, &out, &len));
    if (expected_stdout != NULL && strcmp((const char *)out, expected_stdout) != 0)
        FAIL("%s printed \"%s\", expected \"%s\"", script, (const char *)out, expected_stdout);
    CHECK(strlen((const char *)out) == len);
    return result;
}

static void config_and_create(nucleus_sandbox **sb) {
    const char *json = "{\"hostname\": \"from-json\", \"env\": {\"FROM_JSON\": \"yes\"}, "
                       "\"tmpfs_size\": \"64M\", \"network\": \"none\"}";
    nucleus_config *cfg = NULL;
    char *text = NULL;
    CHECK_OK(nucleus_config_from_json(json, strlen(json), &cfg));
    CHECK_OK(nucleus_config_set_hostname(cfg, "lifecycle"));
    CHECK_OK(nucleus_config_set_env(cfg, "FROM_SETTER", "also"));
    CHECK_OK(nucleus_config_set_cwd(cfg, "/tmp"));
    CHECK_OK(nucleus_config_set_tmpfs_size(cfg, 32u << 20));
    CHECK_OK(nucleus_config_set_network(cfg, NUCLEUS_NETWORK_NONE));
    CHECK_OK(nucleus_config_set_allow_degraded(cfg, false));
    CHECK_OK(nucleus_config_add_mount(cfg, "/usr/share", "/opt/share", true));
    CHECK_OK(nucleus_config_validate(cfg));
    CHECK_OK(nucleus_config_to_json(cfg, &text));
    CHECK(strstr(text, "\"hostname\":\"lifecycle\"") != NULL);
    CHECK(strstr(text, "\"FROM_JSON\":\"yes\"") != NULL);
    nucleus_string_free(text);

    CHECK_OK(nucleus_sandbox_create(cfg, sb));
    nucleus_config_free(cfg); /* the sandbox keeps its own copy */

    const char *id = NULL;
    nucleus_sandbox_state state = NUCLEUS_SANDBOX_STATE_STOPPED;
    CHECK_OK(nucleus_sandbox_id(*sb, &id));
    CHECK(strlen(id) == 16);
    CHECK_OK(nucleus_sandbox_status(*sb, &state));
    CHECK(state == NUCLEUS_SANDBOX_STATE_CREATING || state == NUCLEUS_SANDBOX_STATE_CREATED);
    CHECK_OK(nucleus_sandbox_start(*sb));
    CHECK_OK(nucleus_sandbox_status(*sb, &state));
    CHECK(state == NUCLEUS_SANDBOX_STATE_RUNNING);
}

static void exec_options(const nucleus_sandbox *sb) {
    nucleus_exec_result *result;

    result = run(sb, "hostname; echo $FROM_JSON $FROM_SETTER; pwd", "lifecycle\nyes also\n/tmp\n");
    nucleus_exec_result_free(result);
    result = run(sb, "ls /opt/share >/dev/null && echo mounted", "mounted\n");
    nucleus_exec_result_free(result);

    /* argv form, env, cwd, stdin, and a non-zero exit with stderr. */
    const char *argv[] = {"/bin/sh", "-c", "read x; echo \"$x $MINE $(pwd)\"; echo oops >&2; exit 7"};
    nucleus_exec *req = NULL;
    CHECK_OK(nucleus_exec_new(argv, 3, &req));
    CHECK_OK(nucleus_exec_set_env(req, "MINE", "mine"));
    CHECK_OK(nucleus_exec_set_cwd(req, "/workspace"));
    CHECK_OK(nucleus_exec_set_stdin(req, (const uint8_t *)"input\n", 6));
    CHECK_OK(nucleus_exec_set_timeout_ms(req, 20000));
    CHECK_OK(nucleus_exec_set_max_output(req, 4096));
    CHECK_OK(nucleus_sandbox_exec(sb, req, &result));
    nucleus_exec_free(req);
    const uint8_t *data = NULL;
    size_t len = 0;
    int32_t code = 0, sig = -1;
    bool flag = true;
    uint64_t ns = 0;
    CHECK_OK(nucleus_exec_result_stdout(result, &data, &len));
    CHECK(len == 22 && memcmp(data, "input mine /workspace\n", 22) == 0);
    CHECK_OK(nucleus_exec_result_stderr(result, &data, &len));
    CHECK(len == 5 && strcmp((const char *)data, "oops\n") == 0);
    CHECK_OK(nucleus_exec_result_exit_code(result, &code));
    CHECK(code == 7);
    CHECK_OK(nucleus_exec_result_signal(result, &sig));
    CHECK(sig == 0);
    CHECK_OK(nucleus_exec_result_timed_out(result, &flag));
    CHECK(!flag);
    CHECK_OK(nucleus_exec_result_truncated(result, &flag));
    CHECK(!flag);
    CHECK_OK(nucleus_exec_result_duration_ns(result, &ns));
    CHECK(ns > 0 && ns < 20000000000ull);
    nucleus_exec_result_free(result);

    /* Output cap. */
    CHECK_OK(nucleus_exec_new_shell("head -c 100000 /dev/zero | tr '\\0' x", &req));
    CHECK_OK(nucleus_exec_set_max_output(req, 1000));
    CHECK_OK(nucleus_sandbox_exec(sb, req, &result));
    nucleus_exec_free(req);
    CHECK_OK(nucleus_exec_result_stdout(result, &data, &len));
    CHECK(len == 1000);
    CHECK_OK(nucleus_exec_result_truncated(result, &flag));
    CHECK(flag);
    nucleus_exec_result_free(result);

    /* Timeout. */
    CHECK_OK(nucleus_exec_new_shell("echo started; sleep 30", &req));
    CHECK_OK(nucleus_exec_set_timeout_ms(req, 300));
    CHECK_OK(nucleus_sandbox_exec(sb, req, &result));
    nucleus_exec_free(req);
    CHECK_OK(nucleus_exec_result_timed_out(result, &flag));
    CHECK(flag);
    CHECK_OK(nucleus_exec_result_exit_code(result, &code));
    CHECK(code == -1);
    CHECK_OK(nucleus_exec_result_signal(result, &sig));
    CHECK(sig == SIGKILL);
    CHECK_OK(nucleus_exec_result_stdout(result, &data, &len));
    CHECK(strcmp((const char *)data, "started\n") == 0);
    nucleus_exec_result_free(result);
}

static void files(const nucleus_sandbox *sb) {
    const char content[] = "line one\nbinary\0zero\n";
    uint8_t *data = NULL;
    size_t len = 0;
    CHECK_OK(nucleus_sandbox_write_file(sb, "/workspace/in.txt", (const uint8_t *)content,
                                        sizeof content - 1));
    nucleus_exec_result *result = run(sb, "wc -c < /workspace/in.txt", "21\n");
    nucleus_exec_result_free(result);
    result = run(sb, "echo made inside > /tmp/out.txt", "");
    nucleus_exec_result_free(result);
    CHECK_OK(nucleus_sandbox_read_file(sb, "/tmp/out.txt", &data, &len));
    CHECK(len == 12 && strcmp((const char *)data, "made inside\n") == 0);
    nucleus_bytes_free(data);
    CHECK_OK(nucleus_sandbox_read_file(sb, "/workspace/in.txt", &data, &len));
    CHECK(len == sizeof content - 1 && memcmp(data, content, len) == 0);
    nucleus_bytes_free(data);
    /* An empty file gives a valid, NUL-terminated empty buffer. */
    CHECK_OK(nucleus_sandbox_write_file(sb, "/workspace/empty", NULL, 0));
    CHECK_OK(nucleus_sandbox_read_file(sb, "/workspace/empty", &data, &len));
    CHECK(len == 0 && data != NULL && data[0] == 0);
    nucleus_bytes_free(data);
}

static void spawned(const nucleus_sandbox *sb) {
    nucleus_exec *req = NULL;
    nucleus_process *process = NULL;
    int32_t fd_in = -1, fd_out = -1, fd_err = -1, pid = 0, code = -5, sig = -5;
    char buf[64] = {0};

    CHECK_OK(nucleus_exec_new_shell("tr a-z A-Z; echo bye >&2; exit 3", &req));
    CHECK_OK(nucleus_sandbox_spawn(sb, req, &process, &fd_in, &fd_out, &fd_err));
    nucleus_exec_free(req);
    CHECK_OK(nucleus_process_pid(process, &pid));
    CHECK(pid > 1);
    CHECK(write(fd_in, "streamed\n", 9) == 9);
    close(fd_in);
    size_t got = 0;
    ssize_t n;
    while ((n = read(fd_out, buf + got, sizeof buf - 1 - got)) > 0) got += (size_t)n;
    CHECK(strcmp(buf, "STREAMED\n") == 0);
    memset(buf, 0, sizeof buf);
    got = 0;
    while ((n = read(fd_err, buf + got, sizeof buf - 1 - got)) > 0) got += (size_t)n;
    CHECK(strcmp(buf, "bye\n") == 0);
    close(fd_out);
    close(fd_err);
    CHECK_OK(nucleus_process_wait(process, &code, &sig));
    CHECK(code == 3 && sig == 0);
    CHECK_OK(nucleus_process_wait(process, &code, &sig)); /* waiting again: same status */
    CHECK(code == 3 && sig == 0);
    CHECK_OK(nucleus_process_kill(process, SIGKILL));     /* no-op once waited for */
    nucleus_process_free(process);

    CHECK_OK(nucleus_exec_new_shell("sleep 30", &req));
    CHECK_OK(nucleus_sandbox_spawn(sb, req, &process, &fd_in, &fd_out, &fd_err));
    nucleus_exec_free(req);
    close(fd_in);
    close(fd_out);
    close(fd_err);
    code = sig = 42;
    CHECK_STATUS(nucleus_process_wait_timeout(process, 0, &code, &sig), NUCLEUS_TIMEOUT);
    CHECK_STATUS(nucleus_process_wait_timeout(process, 100, &code, &sig), NUCLEUS_TIMEOUT);
    CHECK_MESSAGE("still running");
    CHECK(code == 42 && sig == 42);
    CHECK_OK(nucleus_process_kill(process, SIGTERM));
    CHECK_OK(nucleus_process_wait_timeout(process, 20000, &code, &sig));
    CHECK(code == -1 && sig == SIGTERM);
    nucleus_process_free(process);

    /* nucleus_sandbox_kill reaches every process of the sandbox. */
    CHECK_OK(nucleus_exec_new_shell("sleep 30", &req));
    CHECK_OK(nucleus_sandbox_spawn(sb, req, &process, &fd_in, &fd_out, &fd_err));
    nucleus_exec_free(req);
    close(fd_in);
    close(fd_out);
    close(fd_err);
    CHECK_OK(nucleus_sandbox_kill(sb, SIGKILL));
    CHECK_OK(nucleus_process_wait_timeout(process, 20000, &code, &sig));
    CHECK(sig == SIGKILL);
    nucleus_process_free(process);
}

/* Several threads run commands in one sandbox at once. */
enum { THREADS = 4, RUNS = 5 };

struct worker {
    const nucleus_sandbox *sb;
    int index;
    int failures;
    char error[256];
};

static void *work(void *arg) {
    struct worker *w = (struct worker *)arg;
    for (int i = 0; i < RUNS; i++) {
        char script[64], expected[64];
        snprintf(script, sizeof script, "echo thread %d run %d", w->index, i);
        snprintf(expected, sizeof expected, "thread %d run %d\n", w->index, i);
        nucleus_exec *req = NULL;
        nucleus_exec_result *result = NULL;
        const uint8_t *out = NULL;
        size_t len = 0;
        if (nucleus_exec_new_shell(script, &req) != NUCLEUS_OK ||
            nucleus_sandbox_exec(w->sb, req, &result) != NUCLEUS_OK ||
            nucleus_exec_result_stdout(result, &out, &len) != NUCLEUS_OK ||
            strcmp((const char *)out, expected) != 0) {
            w->failures++;
            snprintf(w->error, sizeof w->error, "%s", nucleus_last_error_message());
        }
        nucleus_exec_result_free(result);
        nucleus_exec_free(req);
    }
    return NULL;
}

static void concurrent_exec(const nucleus_sandbox *sb) {
    pthread_t threads[THREADS];
    struct worker workers[THREADS];
    for (int i = 0; i < THREADS; i++) {
        workers[i].sb = sb;
        workers[i].index = i;
        workers[i].failures = 0;
        workers[i].error[0] = 0;
        CHECK(pthread_create(&threads[i], NULL, work, &workers[i]) == 0);
    }
    for (int i = 0; i < THREADS; i++) {
        CHECK(pthread_join(threads[i], NULL) == 0);
        if (workers[i].failures != 0)
            FAIL("thread %d: %d failed runs (%s)", i, workers[i].failures, workers[i].error);
    }
}

int main(void) {
    nucleus_sandbox *sb = NULL;
    config_and_create(&sb);
    exec_options(sb);
    files(sb);
    spawned(sb);
    concurrent_exec(sb);

    CHECK_OK(nucleus_sandbox_destroy(sb));
    nucleus_sandbox_state state = NUCLEUS_SANDBOX_STATE_RUNNING;
    CHECK_OK(nucleus_sandbox_status(sb, &state));
    CHECK(state == NUCLEUS_SANDBOX_STATE_STOPPED);
    nucleus_sandbox_free(sb);

    /* A sandbox freed without destroy is torn down by free. */
    nucleus_config *cfg = NULL;
    CHECK_OK(nucleus_config_new(&cfg));
    CHECK_OK(nucleus_sandbox_create(cfg, &sb));
    nucleus_config_free(cfg);
    CHECK_OK(nucleus_sandbox_start(sb));
    nucleus_sandbox_free(sb);

    printf("test_lifecycle: %u checks passed\n", checks_run);
    return 0;
}
