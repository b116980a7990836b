/* Every error path of the C API: NULL arguments for every function, invalid UTF-8, bad
   JSON, bad configs, calls in the wrong lifecycle state, failed commands, *_free(NULL),
   and out-parameters left untouched on failure. Written in the common subset of C11 and
   C++17; the test suite compiles it as both. */
#include <errno.h>
#include <signal.h>
#include <unistd.h>

#include "check.h"

/* Distinct non-NULL values that a failing call must leave in its out-parameters. */
static int sentinel_storage[8];
#define SENTINEL(type, i) ((type)(void *)&sentinel_storage[i])

static const char BAD_UTF8[] = "\xff\xfe";

static void static_functions(void) {
    CHECK(nucleus_abi_version() == NUCLEUS_ABI_VERSION);
    CHECK(nucleus_version() != NULL && strlen(nucleus_version()) > 0);
    CHECK(strcmp(nucleus_status_name(NUCLEUS_OK), "NUCLEUS_OK") == 0);
    CHECK(strcmp(nucleus_status_name(NUCLEUS_STATE), "NUCLEUS_STATE") == 0);
    CHECK(strcmp(nucleus_status_name(12345), "NUCLEUS_UNKNOWN_STATUS") == 0);
}

static void config_errors(void) {
    nucleus_config *cfg = SENTINEL(nucleus_config *, 0);
    char *json = SENTINEL(char *, 1);

    CHECK_NULL_ARG(nucleus_config_new(NULL), "out");
    /* The last error is never NULL and is cleared by a successful call. */
    CHECK(strcmp(nucleus_last_error_message(), "argument `out` is NULL") == 0);

    CHECK_NULL_ARG(nucleus_config_from_json(NULL, 2, &cfg), "json");
    CHECK_NULL_ARG(nucleus_config_from_json("{}", 2, NULL), "out");
    CHECK_STATUS(nucleus_config_from_json("{", 1, &cfg), NUCLEUS_INVALID_CONFIG);
    CHECK_MESSAGE("invalid config");
    CHECK_FAILS(nucleus_config_from_json("{\"tmpfs_size\": \"12X\"}", 21, &cfg),
                NUCLEUS_INVALID_CONFIG, "tmpfs_size");
    CHECK_MESSAGE("unknown unit");
    const char *nested = "{\"mounts\": [{\"source\": \"/usr\", \"target\": 3}]}";
    CHECK_FAILS(nucleus_config_from_json(nested, strlen(nested), &cfg), NUCLEUS_INVALID_CONFIG,
                "mounts[0].target");
    CHECK_STATUS(nucleus_config_from_json("{\"hostnam\": \"x\"}", 16, &cfg), NUCLEUS_INVALID_CONFIG);
    CHECK_MESSAGE("unknown field `hostnam`");
    const char bad_json[] = "{\"hostname\": \"\xff\"}";
    CHECK_FAILS(nucleus_config_from_json(bad_json, sizeof bad_json - 1, &cfg),
                NUCLEUS_INVALID_ARGUMENT, "json");
    CHECK(cfg == SENTINEL(nucleus_config *, 0));

    CHECK_OK(nucleus_config_new(&cfg));
    CHECK(strcmp(nucleus_last_error_message(), "") == 0);
    CHECK(strcmp(nucleus_last_error_field(), "") == 0);
    CHECK(nucleus_last_error_errno() == 0);

    CHECK_NULL_ARG(nucleus_config_to_json(NULL, &json), "cfg");
    CHECK_NULL_ARG(nucleus_config_to_json(cfg, NULL), "out");
    CHECK(json == SENTINEL(char *, 1));
    CHECK_NULL_ARG(nucleus_config_validate(NULL), "cfg");

    CHECK_NULL_ARG(nucleus_config_set_hostname(NULL, "x"), "cfg");
    CHECK_NULL_ARG(nucleus_config_set_hostname(cfg, NULL), "hostname");
    CHECK_FAILS(nucleus_config_set_hostname(cfg, BAD_UTF8), NUCLEUS_INVALID_ARGUMENT, "hostname");
    CHECK_MESSAGE("not valid UTF-8");
    CHECK_NULL_ARG(nucleus_config_set_env(NULL, "K", "V"), "cfg");
    CHECK_NULL_ARG(nucleus_config_set_env(cfg, NULL, "V"), "key");
    CHECK_NULL_ARG(nucleus_config_set_env(cfg, "K", NULL), "value");
    CHECK_FAILS(nucleus_config_set_env(cfg, "K", BAD_UTF8), NUCLEUS_INVALID_ARGUMENT, "value");
    CHECK_NULL_ARG(nucleus_config_set_cwd(NULL, "/"), "cfg");
    CHECK_NULL_ARG(nucleus_config_set_cwd(cfg, NULL), "path");
    CHECK_NULL_ARG(nucleus_config_set_workspace(NULL, "/"), "cfg");
    CHECK_NULL_ARG(nucleus_config_set_workspace(cfg, NULL), "path");
    CHECK_NULL_ARG(nucleus_config_set_rootfs(NULL, "/"), "cfg");
    CHECK_NULL_ARG(nucleus_config_set_rootfs(cfg, NULL), "path");
    CHECK_NULL_ARG(nucleus_config_add_mount(NULL, "/usr", "/x", true), "cfg");
    CHECK_NULL_ARG(nucleus_config_add_mount(cfg, NULL, "/x", true), "source");
    CHECK_NULL_ARG(nucleus_config_add_mount(cfg, "/usr", NULL, true), "target");
    CHECK_FAILS(nucleus_config_add_mount(cfg, "/usr", BAD_UTF8, true), NUCLEUS_INVALID_ARGUMENT,
                "target");
    CHECK_NULL_ARG(nucleus_config_set_tmpfs_size(NULL, 1 << 20), "cfg");
    CHECK_NULL_ARG(nucleus_config_set_network(NULL, NUCLEUS_NETWORK_NONE), "cfg");
    CHECK_FAILS(nucleus_config_set_network(cfg, 99), NUCLEUS_INVALID_ARGUMENT, "network");
    CHECK_NULL_ARG(nucleus_config_set_allow_degraded(NULL, true), "cfg");
    CHECK_NULL_ARG(nucleus_config_set_state_root(NULL, "/run"), "cfg");
    CHECK_NULL_ARG(nucleus_config_set_state_root(cfg, NULL), "path");
    CHECK_NULL_ARG(nucleus_config_set_shim_path(NULL, "/x"), "cfg");
    CHECK_NULL_ARG(nucleus_config_set_shim_path(cfg, NULL), "path");

    /* Setters store; validation names the first bad field. */
    CHECK_OK(nucleus_config_set_cwd(cfg, "relative"));
    CHECK_FAILS(nucleus_config_validate(cfg), NUCLEUS_INVALID_CONFIG, "cwd");
    CHECK_OK(nucleus_config_set_cwd(cfg, "/tmp"));
    CHECK_OK(nucleus_config_add_mount(cfg, "/usr", "/a/../b", true));
    CHECK_FAILS(nucleus_config_validate(cfg), NUCLEUS_INVALID_CONFIG, "mounts[0].target");
    CHECK_MESSAGE("must not contain '..'");
    nucleus_config_free(cfg);

    CHECK_OK(nucleus_config_new(&cfg));
    CHECK_OK(nucleus_config_set_tmpfs_size(cfg, 10));
    CHECK_FAILS(nucleus_config_validate(cfg), NUCLEUS_INVALID_CONFIG, "tmpfs_size");
    nucleus_config_free(cfg);
    CHECK_OK(nucleus_config_new(&cfg));
    CHECK_OK(nucleus_config_set_env(cfg, "A=B", "1"));
    CHECK_FAILS(nucleus_config_validate(cfg), NUCLEUS_INVALID_CONFIG, "env.A=B");
    nucleus_config_free(cfg);
    CHECK_OK(nucleus_config_new(&cfg));
    CHECK_OK(nucleus_config_set_state_root(cfg, "run"));
    CHECK_FAILS(nucleus_config_validate(cfg), NUCLEUS_INVALID_CONFIG, "state_root");
    nucleus_config_free(cfg);
}

static void exec_request_errors(void) {
    nucleus_exec *req = SENTINEL(nucleus_exec *, 0);
    const char *argv[] = {"echo", NULL, BAD_UTF8};

    CHECK_NULL_ARG(nucleus_exec_new(NULL, 1, &req), "argv");
    CHECK_NULL_ARG(nucleus_exec_new(argv, 1, NULL), "out");
    CHECK_FAILS(nucleus_exec_new(argv, 0, &req), NUCLEUS_INVALID_ARGUMENT, "argc");
    CHECK_NULL_ARG(nucleus_exec_new(argv, 2, &req), "argv[1]");
    argv[1] = BAD_UTF8;
    CHECK_FAILS(nucleus_exec_new(argv, 2, &req), NUCLEUS_INVALID_ARGUMENT, "argv[1]");
    CHECK_NULL_ARG(nucleus_exec_new_shell(NULL, &req), "script");
    CHECK_NULL_ARG(nucleus_exec_new_shell("true", NULL), "out");
    CHECK(req == SENTINEL(nucleus_exec *, 0));

    CHECK_OK(nucleus_exec_new(argv, 1, &req));
    CHECK_NULL_ARG(nucleus_exec_set_env(NULL, "K", "V"), "req");
    CHECK_NULL_ARG(nucleus_exec_set_env(req, NULL, "V"), "key");
    CHECK_NULL_ARG(nucleus_exec_set_env(req, "K", NULL), "value");
    CHECK_NULL_ARG(nucleus_exec_set_cwd(NULL, "/"), "req");
    CHECK_NULL_ARG(nucleus_exec_set_cwd(req, NULL), "path");
    CHECK_FAILS(nucleus_exec_set_cwd(req, BAD_UTF8), NUCLEUS_INVALID_ARGUMENT, "path");
    CHECK_NULL_ARG(nucleus_exec_set_stdin(NULL, NULL, 0), "req");
    CHECK_NULL_ARG(nucleus_exec_set_stdin(req, NULL, 3), "data");
    CHECK_OK(nucleus_exec_set_stdin(req, NULL, 0));
    CHECK_NULL_ARG(nucleus_exec_set_timeout_ms(NULL, 10), "req");
    CHECK_FAILS(nucleus_exec_set_timeout_ms(req, 0), NUCLEUS_INVALID_ARGUMENT, "timeout_ms");
    CHECK_NULL_ARG(nucleus_exec_set_max_output(NULL, 10), "req");
    nucleus_exec_free(req);
}

static void result_and_process_null_errors(void) {
    nucleus_exec_result *result = NULL;
    nucleus_process *process = NULL;
    int32_t value = 7, code = 7, sig = 7;
    bool flag = true;
    uint64_t ns = 7;
    const uint8_t *data = NULL;
    size_t len = 7;

    CHECK_NULL_ARG(nucleus_exec_result_exit_code(result, &value), "result");
    CHECK_NULL_ARG(nucleus_exec_result_signal(result, &value), "result");
    CHECK_NULL_ARG(nucleus_exec_result_stdout(result, &data, &len), "result");
    CHECK_NULL_ARG(nucleus_exec_result_stderr(result, &data, &len), "result");
    CHECK_NULL_ARG(nucleus_exec_result_timed_out(result, &flag), "result");
    CHECK_NULL_ARG(nucleus_exec_result_truncated(result, &flag), "result");
    CHECK_NULL_ARG(nucleus_exec_result_duration_ns(result, &ns), "result");
    CHECK_NULL_ARG(nucleus_process_pid(process, &value), "process");
    CHECK_NULL_ARG(nucleus_process_wait(process, &code, &sig), "process");
    CHECK_NULL_ARG(nucleus_process_wait_timeout(process, 1, &code, &sig), "process");
    CHECK_NULL_ARG(nucleus_process_kill(process, SIGKILL), "process");
    CHECK(value == 7 && code == 7 && sig == 7 && flag && ns == 7 && data == NULL && len == 7);
}

static void frees_accept_null(void) {
    nucleus_config_free(NULL);
    nucleus_exec_free(NULL);
    nucleus_exec_result_free(NULL);
    nucleus_process_free(NULL);
    nucleus_sandbox_free(NULL);
    nucleus_bytes_free(NULL);
    nucleus_string_free(NULL);
    checks_run++;
}

static nucleus_config *default_config(void) {
    nucleus_config *cfg = NULL;
    CHECK_OK(nucleus_config_new(&cfg));
    CHECK_OK(nucleus_config_set_hostname(cfg, "errors"));
    return cfg;
}

static void sandbox_errors(void) {
    nucleus_sandbox *sb = SENTINEL(nucleus_sandbox *, 2);
    nucleus_config *cfg = default_config();
    nucleus_exec *req = NULL;
    nucleus_exec_result *result = SENTINEL(nucleus_exec_result *, 3);
    nucleus_process *process = SENTINEL(nucleus_process *, 4);
    int32_t fd_in = -7, fd_out = -7, fd_err = -7;
    uint8_t *data = SENTINEL(uint8_t *, 5);
    size_t len = 7;
    const char *id = NULL;
    nucleus_sandbox_state state = NUCLEUS_SANDBOX_STATE_STOPPED;

    CHECK_NULL_ARG(nucleus_sandbox_create(NULL, &sb), "cfg");
    CHECK_NULL_ARG(nucleus_sandbox_create(cfg, NULL), "out");
    CHECK_OK(nucleus_config_set_hostname(cfg, "not a hostname"));
    CHECK_FAILS(nucleus_sandbox_create(cfg, &sb), NUCLEUS_INVALID_CONFIG, "hostname");
    CHECK_OK(nucleus_config_set_hostname(cfg, "errors"));
    CHECK_OK(nucleus_config_set_shim_path(cfg, "/nonexistent/nucleus-shim"));
    CHECK_FAILS(nucleus_sandbox_create(cfg, &sb), NUCLEUS_INVALID_CONFIG, "shim_path");
    CHECK(sb == SENTINEL(nucleus_sandbox *, 2));
    nucleus_config_free(cfg);

    /* NULL sandbox for every sandbox function. */
    CHECK_OK(nucleus_exec_new_shell("echo hi", &req));
    CHECK_NULL_ARG(nucleus_sandbox_start(NULL), "sb");
    CHECK_NULL_ARG(nucleus_sandbox_id(NULL, &id), "sb");
    CHECK_NULL_ARG(nucleus_sandbox_status(NULL, &state), "sb");
    CHECK_NULL_ARG(nucleus_sandbox_kill(NULL, SIGKILL), "sb");
    CHECK_NULL_ARG(nucleus_sandbox_write_file(NULL, "/workspace/x", NULL, 0), "sb");
    CHECK_NULL_ARG(nucleus_sandbox_read_file(NULL, "/workspace/x", &data, &len), "sb");
    CHECK_NULL_ARG(nucleus_sandbox_destroy(NULL), "sb");
    CHECK_NULL_ARG(nucleus_sandbox_exec(NULL, req, &result), "sb");
    CHECK_NULL_ARG(nucleus_sandbox_spawn(NULL, req, &process, &fd_in, &fd_out, &fd_err), "sb");

    /* A created sandbox that is not started yet. */
    cfg = default_config();
    CHECK_OK(nucleus_sandbox_create(cfg, &sb));
    nucleus_config_free(cfg);
    CHECK_NULL_ARG(nucleus_sandbox_id(sb, NULL), "out");
    CHECK_NULL_ARG(nucleus_sandbox_status(sb, NULL), "out");
    CHECK_NULL_ARG(nucleus_sandbox_exec(sb, NULL, &result), "req");
    CHECK_NULL_ARG(nucleus_sandbox_exec(sb, req, NULL), "out");
    CHECK_NULL_ARG(nucleus_sandbox_spawn(sb, NULL, &process, &fd_in, &fd_out, &fd_err), "req");
    CHECK_NULL_ARG(nucleus_sandbox_spawn(sb, req, NULL, &fd_in, &fd_out, &fd_err), "out");
    CHECK_NULL_ARG(nucleus_sandbox_spawn(sb, req, &process, NULL, &fd_out, &fd_err), "stdin_fd");
    CHECK_NULL_ARG(nucleus_sandbox_spawn(sb, req, &process, &fd_in, NULL, &fd_err), "stdout_fd");
    CHECK_NULL_ARG(nucleus_sandbox_spawn(sb, req, &process, &fd_in, &fd_out, NULL), "stderr_fd");
    CHECK_NULL_ARG(nucleus_sandbox_write_file(sb, NULL, NULL, 0), "path");
    CHECK_NULL_ARG(nucleus_sandbox_write_file(sb, "/workspace/x", NULL, 1), "data");
    CHECK_NULL_ARG(nucleus_sandbox_read_file(sb, NULL, &data, &len), "path");
    CHECK_NULL_ARG(nucleus_sandbox_read_file(sb, "/workspace/x", NULL, &len), "data");
    CHECK_NULL_ARG(nucleus_sandbox_read_file(sb, "/workspace/x", &data, NULL), "len");
    CHECK_FAILS(nucleus_sandbox_read_file(sb, BAD_UTF8, &data, &len), NUCLEUS_INVALID_ARGUMENT,
                "path");

    /* Exec (and everything else that needs a running sandbox) before start. */
    CHECK_STATUS(nucleus_sandbox_exec(sb, req, &result), NUCLEUS_STATE);
    CHECK(strcmp(nucleus_last_error_message(), "sandbox is creating, but this needs it running") == 0);
    CHECK_STATUS(nucleus_sandbox_spawn(sb, req, &process, &fd_in, &fd_out, &fd_err), NUCLEUS_STATE);
    CHECK_STATUS(nucleus_sandbox_write_file(sb, "/workspace/x", NULL, 0), NUCLEUS_STATE);
    CHECK_STATUS(nucleus_sandbox_read_file(sb, "/workspace/x", &data, &len), NUCLEUS_STATE);
    CHECK_STATUS(nucleus_sandbox_kill(sb, SIGKILL), NUCLEUS_STATE);

    CHECK_OK(nucleus_sandbox_start(sb));
    CHECK_STATUS(nucleus_sandbox_start(sb), NUCLEUS_STATE);

    /* Failures of a running sandbox. */
    CHECK_STATUS(nucleus_sandbox_read_file(sb, "/workspace/missing", &data, &len), NUCLEUS_SYSCALL);
    CHECK(nucleus_last_error_errno() == ENOENT);
    CHECK_FAILS(nucleus_sandbox_write_file(sb, "relative", NULL, 0), NUCLEUS_INVALID_CONFIG, "path");
    nucleus_exec *bad = NULL;
    const char *missing[] = {"/no/such/program"};
    CHECK_OK(nucleus_exec_new(missing, 1, &bad));
    CHECK_STATUS(nucleus_sandbox_exec(sb, bad, &result), NUCLEUS_EXEC_FAILED);
    CHECK(nucleus_last_error_errno() == ENOENT);
    CHECK_MESSAGE("/no/such/program");
    nucleus_exec_free(bad);
    CHECK_OK(nucleus_exec_new_shell("true", &bad));
    CHECK_OK(nucleus_exec_set_cwd(bad, "relative"));
    CHECK_FAILS(nucleus_sandbox_exec(sb, bad, &result), NUCLEUS_INVALID_CONFIG, "cwd");
    CHECK_OK(nucleus_exec_set_cwd(bad, "/no/such/dir"));
    CHECK_STATUS(nucleus_sandbox_exec(sb, bad, &result), NUCLEUS_EXEC_FAILED);
    CHECK_MESSAGE("working directory /no/such/dir");
    CHECK_OK(nucleus_exec_set_cwd(bad, "/"));
    CHECK_OK(nucleus_exec_set_env(bad, "A=B", "1"));
    CHECK_FAILS(nucleus_sandbox_exec(sb, bad, &result), NUCLEUS_INVALID_CONFIG, "env.A=B");
    nucleus_exec_free(bad);
    CHECK_OK(nucleus_exec_new_shell("cat", &bad));
    CHECK_OK(nucleus_exec_set_stdin(bad, (const uint8_t *)"x", 1));
    CHECK_FAILS(nucleus_sandbox_spawn(sb, bad, &process, &fd_in, &fd_out, &fd_err),
                NUCLEUS_INVALID_CONFIG, "stdin");
    nucleus_exec_free(bad);

    /* Result and process getters with NULL out-parameters. */
    nucleus_exec_result *ok = NULL;
    CHECK_OK(nucleus_sandbox_exec(sb, req, &ok));
    CHECK_NULL_ARG(nucleus_exec_result_exit_code(ok, NULL), "out");
    CHECK_NULL_ARG(nucleus_exec_result_signal(ok, NULL), "out");
    CHECK_NULL_ARG(nucleus_exec_result_stdout(ok, NULL, &len), "data");
    CHECK_NULL_ARG(nucleus_exec_result_stderr(ok, (const uint8_t **)&data, NULL), "len");
    CHECK_NULL_ARG(nucleus_exec_result_timed_out(ok, NULL), "out");
    CHECK_NULL_ARG(nucleus_exec_result_truncated(ok, NULL), "out");
    CHECK_NULL_ARG(nucleus_exec_result_duration_ns(ok, NULL), "out");
    nucleus_exec_result_free(ok);

    nucleus_process *child = NULL;
    int32_t code = 7, sig = 7;
    CHECK_OK(nucleus_sandbox_spawn(sb, req, &child, &fd_in, &fd_out, &fd_err));
    CHECK_NULL_ARG(nucleus_process_pid(child, NULL), "out");
    CHECK_NULL_ARG(nucleus_process_wait(child, NULL, &sig), "exit_code");
    CHECK_NULL_ARG(nucleus_process_wait(child, &code, NULL), "signal");
    CHECK_NULL_ARG(nucleus_process_wait_timeout(child, 1, NULL, &sig), "exit_code");
    CHECK(code == 7 && sig == 7);
    close(fd_in);
    char buf[16];
    while (read(fd_out, buf, sizeof buf) > 0) {
    }
    close(fd_out);
    close(fd_err);
    CHECK_OK(nucleus_process_wait(child, &code, &sig));
    CHECK(code == 0 && sig == 0);
    nucleus_process_free(child);

    /* After destroy, the handle is still valid but everything is a state error. */
    CHECK_OK(nucleus_sandbox_destroy(sb));
    CHECK_OK(nucleus_sandbox_destroy(sb));
    CHECK_OK(nucleus_sandbox_status(sb, &state));
    CHECK(state == NUCLEUS_SANDBOX_STATE_STOPPED);
    CHECK_STATUS(nucleus_sandbox_exec(sb, req, &result), NUCLEUS_STATE);
    CHECK_STATUS(nucleus_sandbox_start(sb), NUCLEUS_STATE);
    CHECK_STATUS(nucleus_sandbox_kill(sb, SIGKILL), NUCLEUS_STATE);
    CHECK(result == SENTINEL(nucleus_exec_result *, 3));
    CHECK(process == SENTINEL(nucleus_process *, 4));
    CHECK(data == SENTINEL(uint8_t *, 5) && len == 7);
    CHECK(fd_in != -7);
    nucleus_exec_free(req);
    nucleus_sandbox_free(sb);
}

int main(void) {
    static_functions();
    config_errors();
    exec_request_errors();
    result_and_process_null_errors();
    frees_accept_null();
    sandbox_errors();
    printf("test_errors: %u checks passed\n", checks_run);
    return 0;
}
