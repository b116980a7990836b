/* Resource limits through the C API, in real sandboxes: the limit setters, the cgroup
   counters (nucleus_sandbox_stats_json), and the OOM and peak-memory getters of a result.

   Limits need a cgroup the caller may create. As root that works; as an unprivileged
   user on a host without a delegated cgroup v2 subtree (such as the test hosts, which
   are hybrid), create must fail with exactly NUCLEUS_UNSUPPORTED, and with degraded mode
   allowed it must succeed with a warning and no cgroup. Both outcomes are checked; which
   one applies is decided by geteuid(), not by what happens. */
#define _GNU_SOURCE
#include <signal.h>
#include <unistd.h>

#include "check.h"

#define CHECK_JSON(json, text)                                                     \
    do {                                                                           \
        checks_run++;                                                              \
        if (strstr((json), (text)) == NULL) FAIL("%s lacks %s", (json), (text));   \
    } while (0)

/* The value of `"key":<number>` in `json`, or -1 when it is missing or null. */
static long long json_number(const char *json, const char *key) {
    char needle[64];
    snprintf(needle, sizeof needle, "\"%s\":", key);
    const char *at = strstr(json, needle);
    if (at == NULL) return -1;
    at += strlen(needle);
    if (*at < '0' || *at > '9') return -1;
    return strtoll(at, NULL, 10);
}

static nucleus_exec_result *run(const nucleus_sandbox *sb, const char *script) {
    nucleus_exec *req = NULL;
    nucleus_exec_result *result = NULL;
    CHECK_OK(nucleus_exec_new_shell(script, &req));
    CHECK_OK(nucleus_exec_set_timeout_ms(req, 60000));
    CHECK_OK(nucleus_sandbox_exec(sb, req, &result));
    nucleus_exec_free(req);
    return result;
}

static nucleus_config *limited_config(void) {
    nucleus_config *cfg = NULL;
    CHECK_OK(nucleus_config_new(&cfg));
    CHECK_OK(nucleus_config_set_hostname(cfg, "limits"));
    CHECK_OK(nucleus_config_set_memory_limit(cfg, 64u << 20));
    CHECK_OK(nucleus_config_set_cpus(cfg, 0.5));
    CHECK_OK(nucleus_config_set_pids_limit(cfg, 16));
    return cfg;
}

static void setters(void) {
    nucleus_config *cfg = NULL;
    char *json = NULL;
    CHECK_NULL_ARG(nucleus_config_set_memory_limit(NULL, 1u << 20), "cfg");
    CHECK_NULL_ARG(nucleus_config_set_cpus(NULL, 1.0), "cfg");
    CHECK_NULL_ARG(nucleus_config_set_pids_limit(NULL, 10), "cfg");

    cfg = limited_config();
    CHECK_OK(nucleus_config_validate(cfg));
    CHECK_OK(nucleus_config_to_json(cfg, &json));
    CHECK_JSON(json, "\"limits\":{\"memory\":67108864,\"cpus\":0.5,\"pids\":16,");
    nucleus_string_free(json);

    /* Setters store what they are given; validation names the limit. */
    CHECK_OK(nucleus_config_set_memory_limit(cfg, 1000));
    CHECK_FAILS(nucleus_config_validate(cfg), NUCLEUS_INVALID_CONFIG, "limits.memory");
    CHECK_OK(nucleus_config_set_memory_limit(cfg, 0)); /* 0: no limit */
    CHECK_OK(nucleus_config_set_cpus(cfg, 5000.0));
    CHECK_FAILS(nucleus_config_validate(cfg), NUCLEUS_INVALID_CONFIG, "limits.cpus");
    CHECK_FAILS(nucleus_config_set_cpus(cfg, 0.0 / 0.0), NUCLEUS_INVALID_ARGUMENT, "cpus");
    CHECK_OK(nucleus_config_set_cpus(cfg, 0.0));
    CHECK_OK(nucleus_config_set_pids_limit(cfg, 1));
    CHECK_FAILS(nucleus_config_validate(cfg), NUCLEUS_INVALID_CONFIG, "limits.pids");
    CHECK_OK(nucleus_config_set_pids_limit(cfg, 0));
    CHECK_OK(nucleus_config_to_json(cfg, &json));
    CHECK_JSON(json, "\"limits\":{\"memory\":null,\"cpus\":null,\"pids\":null,");
    nucleus_string_free(json);
    nucleus_config_free(cfg);
}

/* A sandbox without limits has no cgroup: no stats, no peak, never OOM-killed. */
static void without_limits(void) {
    nucleus_config *cfg = NULL;
    nucleus_sandbox *sb = NULL;
    char *json = NULL;
    uint64_t peak = 7;
    bool oom = true;
    CHECK_OK(nucleus_config_new(&cfg));
    CHECK_OK(nucleus_sandbox_create(cfg, &sb));
    nucleus_config_free(cfg);
    CHECK_OK(nucleus_sandbox_start(sb));
    CHECK_NULL_ARG(nucleus_sandbox_stats_json(NULL, &json), "sb");
    CHECK_NULL_ARG(nucleus_sandbox_stats_json(sb, NULL), "out_json");
    CHECK_STATUS(nucleus_sandbox_stats_json(sb, &json), NUCLEUS_UNSUPPORTED);
    CHECK_MESSAGE("no cgroup");
    CHECK(json == NULL);
    nucleus_exec_result *result = run(sb, "true");
    CHECK_NULL_ARG(nucleus_exec_result_oom_killed(NULL, &oom), "result");
    CHECK_NULL_ARG(nucleus_exec_result_oom_killed(result, NULL), "out");
    CHECK_NULL_ARG(nucleus_exec_result_peak_memory(NULL, &peak), "result");
    CHECK_NULL_ARG(nucleus_exec_result_peak_memory(result, NULL), "out");
    CHECK_OK(nucleus_exec_result_oom_killed(result, &oom));
    CHECK(!oom);
    CHECK_STATUS(nucleus_exec_result_peak_memory(result, &peak), NUCLEUS_UNSUPPORTED);
    CHECK_MESSAGE("peak memory is not known");
    CHECK(peak == 7);
    nucleus_exec_result_free(result);
    nucleus_sandbox_free(sb);
}

/* As root: the limits hold, the counters count, and an OOM kill is reported. */
static void limits_as_root(void) {
    nucleus_config *cfg = limited_config();
    nucleus_sandbox *sb = NULL;
    char *json = NULL;
    CHECK_OK(nucleus_sandbox_create(cfg, &sb));
    nucleus_config_free(cfg);
    CHECK_OK(nucleus_sandbox_start(sb));
    CHECK_OK(nucleus_sandbox_warnings_json(sb, &json));
    CHECK(strcmp(json, "[]") == 0);
    nucleus_string_free(json);

    CHECK_OK(nucleus_sandbox_stats_json(sb, &json));
    CHECK_JSON(json, "\"memory_current\":");
    long long tasks = json_number(json, "tasks");
    CHECK(tasks >= 1 && tasks <= 16);
    CHECK(json_number(json, "oom_kills") == 0);
    nucleus_string_free(json);

    /* An ordinary command: not OOM-killed, and the peak is known and under the limit. */
    nucleus_exec_result *result = run(sb, "echo fine");
    bool oom = true;
    uint64_t peak = 0;
    CHECK_OK(nucleus_exec_result_oom_killed(result, &oom));
    CHECK(!oom);
    CHECK_OK(nucleus_exec_result_peak_memory(result, &peak));
    CHECK(peak > 0 && peak <= (64u << 20));
    nucleus_exec_result_free(result);

    /* The task limit: 30 background sleeps cannot all start; the shell's fork fails
       before it gets to the end, and the cgroup never holds more than 16 tasks. */
    result = run(sb, "for i in $(seq 30); do sleep 5 & done; echo all started");
    const uint8_t *out = NULL;
    size_t len = 0;
    int32_t code = 0;
    CHECK_OK(nucleus_exec_result_stdout(result, &out, &len));
    CHECK(strstr((const char *)out, "all started") == NULL);
    CHECK_OK(nucleus_exec_result_exit_code(result, &code));
    CHECK(code != 0);
    nucleus_exec_result_free(result);
    CHECK_OK(nucleus_sandbox_stats_json(sb, &json));
    tasks = json_number(json, "tasks");
    if (!(tasks > 1 && tasks <= 16)) FAIL("%lld tasks under a limit of 16: %s", tasks, json);
    nucleus_string_free(json);
    CHECK_OK(nucleus_sandbox_kill(sb, SIGKILL));
    /* kill() only sends the signal: wait (bounded) until the dying tasks have left the
       cgroup, or the next command's fork would still count against the task limit. */
    for (int tries = 0;; tries++) {
        CHECK_OK(nucleus_sandbox_stats_json(sb, &json));
        tasks = json_number(json, "tasks");
        nucleus_string_free(json);
        if (tasks == 1) break;
        if (tries == 500) FAIL("%lld tasks still in the cgroup 5 s after SIGKILL", tasks);
        usleep(10000);
    }

    /* Past the memory limit: `tail` holds a 256 MiB line and the OOM killer ends it. */
    result = run(sb, "head -c 268435456 /dev/zero | tail -n 1 | wc -c");
    CHECK_OK(nucleus_exec_result_oom_killed(result, &oom));
    CHECK(oom);
    CHECK_OK(nucleus_exec_result_stderr(result, &out, &len));
    CHECK(strstr((const char *)out, "Killed") != NULL);
    CHECK_OK(nucleus_exec_result_peak_memory(result, &peak));
    CHECK(peak > (48u << 20) && peak <= (64u << 20));
    nucleus_exec_result_free(result);

    CHECK_OK(nucleus_sandbox_stats_json(sb, &json));
    CHECK(json_number(json, "oom_kills") >= 1);
    long long stats_peak = json_number(json, "memory_peak");
    CHECK(stats_peak > (48ll << 20) && stats_peak <= (64ll << 20));
    nucleus_string_free(json);

    /* The sandbox survives its OOM kill. */
    result = run(sb, "echo still here");
    CHECK_OK(nucleus_exec_result_stdout(result, &out, &len));
    CHECK(strcmp((const char *)out, "still here\n") == 0);
    nucleus_exec_result_free(result);
    CHECK_OK(nucleus_sandbox_destroy(sb));
    nucleus_sandbox_free(sb);
}

/* Unprivileged: limits are unsupported, or warnings in degraded mode. */
static void limits_unprivileged(void) {
    nucleus_config *cfg = limited_config();
    nucleus_sandbox *sb = (nucleus_sandbox *)(void *)&checks_run; /* must stay untouched */
    nucleus_sandbox *const sentinel = sb;
    char *json = NULL;
    CHECK_STATUS(nucleus_sandbox_create(cfg, &sb), NUCLEUS_UNSUPPORTED);
    CHECK_MESSAGE("cgroups");
    CHECK(sb == sentinel);

    CHECK_OK(nucleus_config_set_allow_degraded(cfg, true));
    CHECK_OK(nucleus_sandbox_create(cfg, &sb));
    nucleus_config_free(cfg);
    CHECK_OK(nucleus_sandbox_start(sb));
    CHECK_OK(nucleus_sandbox_warnings_json(sb, &json));
    CHECK_JSON(json, "[\"cgroups: ");
    CHECK_JSON(json, "run as root");
    nucleus_string_free(json);
    CHECK_OK(nucleus_sandbox_security_report_json(sb, &json));
    CHECK_JSON(json, "\"warnings\":[\"cgroups: ");
    nucleus_string_free(json);

    /* No cgroup was made: no counters, no peak; commands still run. */
    json = NULL;
    CHECK_STATUS(nucleus_sandbox_stats_json(sb, &json), NUCLEUS_UNSUPPORTED);
    CHECK(json == NULL);
    nucleus_exec_result *result = run(sb, "echo degraded");
    bool oom = true;
    uint64_t peak = 7;
    const uint8_t *out = NULL;
    size_t len = 0;
    CHECK_OK(nucleus_exec_result_stdout(result, &out, &len));
    CHECK(strcmp((const char *)out, "degraded\n") == 0);
    CHECK_OK(nucleus_exec_result_oom_killed(result, &oom));
    CHECK(!oom);
    CHECK_STATUS(nucleus_exec_result_peak_memory(result, &peak), NUCLEUS_UNSUPPORTED);
    CHECK(peak == 7);
    nucleus_exec_result_free(result);
    nucleus_sandbox_free(sb);
}

int main(void) {
    setters();
    without_limits();
    if (geteuid() == 0)
        limits_as_root();
    else
        limits_unprivileged();
    printf("test_limits: %s, %u checks passed\n", geteuid() == 0 ? "root" : "unprivileged",
           checks_run);
    return 0;
}
