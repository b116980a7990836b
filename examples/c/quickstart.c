/* The first C program to run: create a sandbox, run three commands in it, print what
   they say, tear it down.

   Build and run (from the repository root, after `cargo build --workspace`):
     make -C examples/c run
*/
#include <stdio.h>
#include <stdlib.h>

#include "nucleus.h"

/* Print the last error of a failed call and leave. */
static void die(const char *what, nucleus_status status) {
    fprintf(stderr, "%s failed: %s: %s\n", what, nucleus_status_name(status),
            nucleus_last_error_message());
    exit(1);
}

#define TRY(call)                                                                  \
    do {                                                                           \
        nucleus_status status_ = (call);                                           \
        if (status_ != NUCLEUS_OK) die(#call, status_);                            \
    } while (0)

int main(void) {
    nucleus_config *cfg = NULL;
    nucleus_sandbox *sb = NULL;

    TRY(nucleus_config_new(&cfg));
    TRY(nucleus_config_set_hostname(cfg, "quickstart"));
    TRY(nucleus_sandbox_create(cfg, &sb));
    nucleus_config_free(cfg);
    TRY(nucleus_sandbox_start(sb));

    const char *scripts[] = {
        "echo hello from $(hostname)",
        "id -u; ls /proc | grep -c '^[0-9]'",
        "touch /usr/x 2>&1 || echo /usr is read-only",
    };
    for (size_t i = 0; i < sizeof scripts / sizeof scripts[0]; i++) {
        nucleus_exec *req = NULL;
        nucleus_exec_result *result = NULL;
        const uint8_t *out = NULL;
        size_t len = 0;
        int32_t code = 0;

        TRY(nucleus_exec_new_shell(scripts[i], &req));
        TRY(nucleus_sandbox_exec(sb, req, &result));
        TRY(nucleus_exec_result_stdout(result, &out, &len));
        TRY(nucleus_exec_result_exit_code(result, &code));
        printf("$ %s\n%.*s(exit %d)\n", scripts[i], (int)len, (const char *)out, (int)code);
        nucleus_exec_result_free(result);
        nucleus_exec_free(req);
    }

    TRY(nucleus_sandbox_destroy(sb));
    nucleus_sandbox_free(sb);
    printf("sandbox destroyed\n");
    return 0;
}
