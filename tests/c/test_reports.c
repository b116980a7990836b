/* Reports through the C API, in real sandboxes: the host preflight (nucleus_doctor_json),
   the security report of a running sandbox with the seccomp and Landlock setters, and the
   degraded-mode warnings. Each report is checked against what the kernel shows inside
   the sandbox (/proc/self/status). */
#include "check.h"

/* `json` contains `text`. */
#define CHECK_JSON(json, text)                                                     \
    do {                                                                           \
        checks_run++;                                                              \
        if (strstr((json), (text)) == NULL) FAIL("%s lacks %s", (json), (text));   \
    } while (0)

/* The stdout of `script` run in `sb`, in a buffer the caller frees. */
static char *output_of(const nucleus_sandbox *sb, const char *script) {
    nucleus_exec *req = NULL;
    nucleus_exec_result *result = NULL;
    const uint8_t *data = NULL;
    size_t len = 0;
    CHECK_OK(nucleus_exec_new_shell(script, &req));
    CHECK_OK(nucleus_sandbox_exec(sb, req, &result));
    CHECK_OK(nucleus_exec_result_stdout(result, &data, &len));
    char *copy = (char *)malloc(len + 1);
    CHECK(copy != NULL);
    memcpy(copy, data, len + 1);
    nucleus_exec_result_free(result);
    nucleus_exec_free(req);
    return copy;
}

static nucleus_sandbox *started(nucleus_config *cfg) {
    nucleus_sandbox *sb = NULL;
    CHECK_OK(nucleus_sandbox_create(cfg, &sb));
    nucleus_config_free(cfg);
    CHECK_OK(nucleus_sandbox_start(sb));
    return sb;
}

static void doctor(void) {
    char *json = NULL;
    CHECK_NULL_ARG(nucleus_doctor_json(NULL), "out_json");
    CHECK_OK(nucleus_doctor_json(&json));
    CHECK(json[0] == '{');
    const char *names[] = {"user_namespaces", "landlock", "seccomp", "cgroups", "container",
                           "supervisor"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char needle[64];
        snprintf(needle, sizeof needle, "\"name\":\"%s\"", names[i]);
        CHECK_JSON(json, needle);
    }
    /* This test found the supervisor next to libnucleus, so the doctor does too. */
    CHECK_JSON(json, "\"name\":\"supervisor\",\"ok\":true");
    nucleus_string_free(json);
}

static void default_sandbox_report(void) {
    nucleus_config *cfg = NULL;
    CHECK_OK(nucleus_config_new(&cfg));
    nucleus_sandbox *sb = NULL;
    char *json = NULL;
    CHECK_OK(nucleus_sandbox_create(cfg, &sb));
    nucleus_config_free(cfg);

    /* Warnings are there from create on; the report needs a running sandbox. */
    CHECK_NULL_ARG(nucleus_sandbox_warnings_json(NULL, &json), "sb");
    CHECK_NULL_ARG(nucleus_sandbox_warnings_json(sb, NULL), "out_json");
    CHECK_OK(nucleus_sandbox_warnings_json(sb, &json));
    CHECK(strcmp(json, "[]") == 0);
    nucleus_string_free(json);
    json = NULL;
    CHECK_STATUS(nucleus_sandbox_security_report_json(sb, &json), NUCLEUS_STATE);
    CHECK(json == NULL);
    CHECK_NULL_ARG(nucleus_sandbox_security_report_json(NULL, &json), "sb");
    CHECK_OK(nucleus_sandbox_start(sb));
    CHECK_NULL_ARG(nucleus_sandbox_security_report_json(sb, NULL), "out_json");

    CHECK_OK(nucleus_sandbox_security_report_json(sb, &json));
    CHECK_JSON(json, "\"layer\":\"seccomp\",\"requested\":true,\"enforced\":true");
    CHECK_JSON(json, "\"layer\":\"no_new_privs\",\"requested\":true,\"enforced\":true");
    CHECK_JSON(json, "\"layer\":\"capabilities\",\"requested\":true,\"enforced\":true");
    CHECK_JSON(json, "\"layer\":\"read_only_root\",\"requested\":true,\"enforced\":true");
    CHECK_JSON(json, "\"warnings\":[]");
    nucleus_string_free(json);

    /* What the report says is what a command sees: filter mode 2, no privileges. */
    char *status = output_of(sb, "grep -E '^(Seccomp|NoNewPrivs|CapEff):' /proc/self/status");
    CHECK(strstr(status, "Seccomp:\t2") != NULL);
    CHECK(strstr(status, "NoNewPrivs:\t1") != NULL);
    CHECK(strstr(status, "CapEff:\t0000000000000000") != NULL);
    free(status);

    CHECK_OK(nucleus_sandbox_destroy(sb));
    CHECK_STATUS(nucleus_sandbox_security_report_json(sb, &json), NUCLEUS_STATE);
    nucleus_sandbox_free(sb);
}

static void security_setters(void) {
    nucleus_config *cfg = NULL;
    char *json = NULL;
    CHECK_OK(nucleus_config_new(&cfg));
    CHECK_NULL_ARG(nucleus_config_set_seccomp_mode(NULL, NUCLEUS_SECCOMP_MODE_OFF), "cfg");
    CHECK_FAILS(nucleus_config_set_seccomp_mode(cfg, 42), NUCLEUS_INVALID_ARGUMENT, "mode");
    CHECK_MESSAGE("42 is not a nucleus_seccomp_mode value");
    CHECK_NULL_ARG(nucleus_config_set_landlock(NULL, false), "cfg");
    CHECK_OK(nucleus_config_set_seccomp_mode(cfg, NUCLEUS_SECCOMP_MODE_OFF));
    CHECK_OK(nucleus_config_set_landlock(cfg, false));
    CHECK_OK(nucleus_config_to_json(cfg, &json));
    CHECK_JSON(json, "\"mode\":\"off\"");
    CHECK_JSON(json, "\"landlock\":false");
    nucleus_string_free(json);

    nucleus_sandbox *sb = started(cfg);
    CHECK_OK(nucleus_sandbox_security_report_json(sb, &json));
    CHECK_JSON(json, "\"layer\":\"seccomp\",\"requested\":false,\"enforced\":false");
    CHECK_JSON(json, "\"layer\":\"landlock\",\"requested\":false,\"enforced\":false");
    nucleus_string_free(json);
    char *status = output_of(sb, "grep '^Seccomp:' /proc/self/status");
    CHECK(strcmp(status, "Seccomp:\t0\n") == 0);
    free(status);
    CHECK_OK(nucleus_sandbox_destroy(sb));
    nucleus_sandbox_free(sb);

    /* Log mode filters (mode 2) but is not a protection: the sandbox warns about it. */
    CHECK_OK(nucleus_config_new(&cfg));
    CHECK_OK(nucleus_config_set_seccomp_mode(cfg, NUCLEUS_SECCOMP_MODE_LOG));
    sb = started(cfg);
    CHECK_OK(nucleus_sandbox_warnings_json(sb, &json));
    CHECK_JSON(json, "[\"seccomp is in log mode");
    nucleus_string_free(json);
    CHECK_OK(nucleus_sandbox_security_report_json(sb, &json));
    CHECK_JSON(json, "\"layer\":\"seccomp\",\"requested\":true,\"enforced\":false");
    CHECK_JSON(json, "\"warnings\":[\"seccomp is in log mode");
    nucleus_string_free(json);
    status = output_of(sb, "grep '^Seccomp:' /proc/self/status");
    CHECK(strcmp(status, "Seccomp:\t2\n") == 0);
    free(status);
    nucleus_sandbox_free(sb);
}

int main(void) {
    doctor();
    default_sandbox_report();
    security_setters();
    printf("test_reports: %u checks passed\n", checks_run);
    return 0;
}
