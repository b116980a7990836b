/* The header on its own: it can be included twice, compiles as C11 and as C++17 with
   -Wall -Wextra -Werror, and agrees with the library about the ABI version. Compiled as
   both languages by the test suite. */
#include "nucleus.h"
#include "nucleus.h" /* the include guard makes the second one a no-op */

#include <stdio.h>
#include <string.h>

int main(void) {
    if (nucleus_abi_version() != NUCLEUS_ABI_VERSION) {
        fprintf(stderr, "library ABI %u, header ABI %u\n", (unsigned)nucleus_abi_version(),
                (unsigned)NUCLEUS_ABI_VERSION);
        return 1;
    }
    nucleus_status ok = NUCLEUS_OK;
    nucleus_sandbox_state state = NUCLEUS_SANDBOX_STATE_RUNNING;
    uint32_t network = NUCLEUS_NETWORK_HOST;
    if (ok != 0 || state != 2 || network != 1 || sizeof(nucleus_status) != sizeof(uint32_t)) {
        fprintf(stderr, "unexpected enum values\n");
        return 1;
    }
    if (strcmp(nucleus_last_error_message(), "") != 0 || nucleus_last_error_errno() != 0 ||
        strcmp(nucleus_last_error_field(), "") != 0) {
        fprintf(stderr, "fresh thread has a last error\n");
        return 1;
    }
    printf("test_header: nucleus %s, ABI %u: passed\n", nucleus_version(),
           (unsigned)nucleus_abi_version());
    return 0;
}
