/*
 * nucleus.h - the C API of nucleus, in-process Linux sandboxes for untrusted code.
 * Generated from nucleus-ffi by cbindgen; do not edit. Regenerate with
 *   NUCLEUS_BLESS=1 cargo test -p nucleus-ffi --test header
 *
 * Link with -lnucleus (pkg-config: nucleus). The sandbox supervisor, nucleus-shim, is
 * found next to libnucleus, through $NUCLEUS_SHIM, or by nucleus_config_set_shim_path.
 *
 * Conventions
 *
 * Names. Every symbol is nucleus_<object>_<verb>, with the object as the first argument.
 *   Objects are opaque handles: nucleus_config, nucleus_sandbox, nucleus_exec (a command
 *   request), nucleus_exec_result, nucleus_process (a spawned command), nucleus_pool (a
 *   warm pool of started sandboxes). Constructors are _new or _from_json, destructors
 *   _free. Data comes out through getters, never through public structs.
 *
 * Status. Every function that can fail returns a nucleus_status: NUCLEUS_OK (0) or an
 *   error code. Codes are never reused; treat an unknown one as a failure. Such functions
 *   are marked NUCLEUS_MUST_USE. nucleus_status_name() gives a code's name.
 *
 * Out-parameters. Results are returned through pointer arguments, which are written only
 *   when the call returns NUCLEUS_OK; on an error they are left untouched.
 *
 * Last error. After an error, nucleus_last_error_message() says what happened,
 *   nucleus_last_error_errno() gives the errno behind it (or 0) and
 *   nucleus_last_error_field() the config field path or parameter it is about (or "").
 *   They are per thread, never NULL, and valid until the next call on that thread that
 *   returns a nucleus_status (which clears them on success). Do not free them.
 *
 * Arguments. A pointer argument that is NULL where the function needs one gives
 *   NUCLEUS_NULL_ARGUMENT, never a crash. Input strings are NUL-terminated UTF-8; invalid
 *   UTF-8 gives NUCLEUS_INVALID_ARGUMENT naming the parameter. Byte buffers come as a
 *   pointer and a length. Enum values are passed in as uint32_t and checked.
 *
 * Ownership. Each function says what it does with its pointers, in these words:
 *   "The caller owns *out and frees it with nucleus_X_free."
 *   "Borrows X for the duration of the call; nucleus copies what it keeps."
 *   "... valid until X is freed; do not free it." for borrowed views.
 *   Every _free accepts NULL: "Calling with NULL is fine. Must not be called twice with
 *   the same value."
 *
 * Reports. Structured data that grows over time (the security report, degraded-mode
 *   warnings, cgroup counters, the host preflight) comes out as JSON text in a buffer
 *   the caller frees with nucleus_string_free; new fields may appear in it. Settings
 *   without a setter are reached the same way: nucleus_config_from_json takes the whole
 *   schema, including its "limits" and "security" sections.
 *
 * Threads. A function taking a const handle may run concurrently with other const calls
 *   on the same object. A function taking a mutable handle must not run concurrently
 *   with any other call on that object. Different objects are independent. All
 *   nucleus_sandbox functions but nucleus_sandbox_free take a const handle: one sandbox
 *   may run commands from many threads at once. So do nucleus_pool_take and
 *   nucleus_pool_ready: many threads may take from one pool at once.
 *
 * Panics. A bug inside nucleus returns NUCLEUS_PANIC instead of unwinding into C.
 *
 * Fork. The library never forks; it spawns the supervisor. Do not use a handle in a
 *   child process after fork().
 */

#ifndef NUCLEUS_H
#define NUCLEUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** The ABI version this header describes; nucleus_abi_version() returns the one of the
    loaded library. */
#define NUCLEUS_ABI_VERSION 1

/** Marks functions whose nucleus_status result must be checked. */
#if defined(__cplusplus) && __cplusplus >= 201703L
#define NUCLEUS_MUST_USE [[nodiscard]]
#elif defined(__GNUC__) || defined(__clang__)
#define NUCLEUS_MUST_USE __attribute__((warn_unused_result))
#else
#define NUCLEUS_MUST_USE
#endif

/**
 * The result of a call. `NUCLEUS_OK` is 0; every other value is an error, and the
 * thread's last error (`nucleus_last_error_message`) says what happened.
 *
 * Codes come in groups with gaps between them: 1-99 the caller's arguments, 100-199
 * the configuration and the host, 200-299 the system, 300-399 lifecycle and commands,
 * 900-999 bugs in nucleus. A code is never reused for another meaning and new codes are
 * only added, so a program may switch on these values and should treat an unknown one
 * as a generic failure.
 */
enum nucleus_status
#if defined(__cplusplus) || __STDC_VERSION__ >= 202311L
  : uint32_t
#endif // defined(__cplusplus) || __STDC_VERSION__ >= 202311L
 {
    /**
     * Success.
     */
    NUCLEUS_OK = 0,
    /**
     * A pointer argument that must not be NULL was NULL; the last error names it.
     */
    NUCLEUS_NULL_ARGUMENT = 1,
    /**
     * An argument had a value the function cannot use (invalid UTF-8, an unknown enum
     * value, a zero timeout, ...); the last error names the parameter.
     */
    NUCLEUS_INVALID_ARGUMENT = 2,
    /**
     * The configuration (or an exec request) is invalid; `nucleus_last_error_field`
     * gives the field's path, e.g. `mounts[2].target`.
     */
    NUCLEUS_INVALID_CONFIG = 100,
    /**
     * The host cannot enforce a requested protection and degraded mode is off, or the
     * supervisor executable cannot be found. Also returned for a value the sandbox or
     * the host does not have: `nucleus_sandbox_stats_json` and
     * `nucleus_exec_result_peak_memory` of a sandbox without a cgroup.
     */
    NUCLEUS_UNSUPPORTED = 101,
    /**
     * A system call failed; `nucleus_last_error_errno` gives its errno.
     */
    NUCLEUS_SYSCALL = 200,
    /**
     * The sandbox's supervisor process misbehaved or went away.
     */
    NUCLEUS_SUPERVISOR = 201,
    /**
     * The sandbox (or process) is in the wrong state for the call, e.g. exec before
     * start or after destroy.
     */
    NUCLEUS_STATE = 300,
    /**
     * An operation did not finish in time (for `nucleus_process_wait_timeout`: the
     * process is still running).
     */
    NUCLEUS_TIMEOUT = 301,
    /**
     * The command could not be started in the sandbox (not found, not executable, bad
     * working directory); `nucleus_last_error_errno` gives the errno.
     */
    NUCLEUS_EXEC_FAILED = 302,
    /**
     * An internal error in nucleus; the message describes it. Please report it.
     */
    NUCLEUS_INTERNAL = 900,
    /**
     * nucleus panicked; the call had no effect it could report. Please report it.
     */
    NUCLEUS_PANIC = 901,
};
#ifndef __cplusplus
#if __STDC_VERSION__ >= 202311L
typedef enum nucleus_status nucleus_status;
#else
typedef uint32_t nucleus_status;
#endif // __STDC_VERSION__ >= 202311L
#endif // __cplusplus

/**
 * Where a sandbox is in its life, from `nucleus_sandbox_status`.
 */
enum nucleus_sandbox_state
#if defined(__cplusplus) || __STDC_VERSION__ >= 202311L
  : uint32_t
#endif // defined(__cplusplus) || __STDC_VERSION__ >= 202311L
 {
    /**
     * The supervisor is building the sandbox.
     */
    NUCLEUS_SANDBOX_STATE_CREATING = 0,
    /**
     * Built, waiting for `nucleus_sandbox_start`.
     */
    NUCLEUS_SANDBOX_STATE_CREATED = 1,
    /**
     * Running commands.
     */
    NUCLEUS_SANDBOX_STATE_RUNNING = 2,
    /**
     * Destroyed, or ended by itself.
     */
    NUCLEUS_SANDBOX_STATE_STOPPED = 3,
};
#ifndef __cplusplus
#if __STDC_VERSION__ >= 202311L
typedef enum nucleus_sandbox_state nucleus_sandbox_state;
#else
typedef uint32_t nucleus_sandbox_state;
#endif // __STDC_VERSION__ >= 202311L
#endif // __cplusplus

/**
 * Values for `nucleus_config_set_network`.
 */
enum nucleus_network
#if defined(__cplusplus) || __STDC_VERSION__ >= 202311L
  : uint32_t
#endif // defined(__cplusplus) || __STDC_VERSION__ >= 202311L
 {
    /**
     * A private network namespace with only loopback (the default).
     */
    NUCLEUS_NETWORK_NONE = 0,
    /**
     * The host's network namespace.
     */
    NUCLEUS_NETWORK_HOST = 1,
};
#ifndef __cplusplus
#if __STDC_VERSION__ >= 202311L
typedef enum nucleus_network nucleus_network;
#else
typedef uint32_t nucleus_network;
#endif // __STDC_VERSION__ >= 202311L
#endif // __cplusplus

/**
 * Values for `nucleus_config_set_seccomp_mode`.
 */
enum nucleus_seccomp_mode
#if defined(__cplusplus) || __STDC_VERSION__ >= 202311L
  : uint32_t
#endif // defined(__cplusplus) || __STDC_VERSION__ >= 202311L
 {
    /**
     * System calls outside the profile fail (the default).
     */
    NUCLEUS_SECCOMP_MODE_ENFORCE = 0,
    /**
     * System calls outside the profile are allowed and logged by the kernel, for
     * building a profile. Not a protection; the sandbox gets a warning saying so.
     */
    NUCLEUS_SECCOMP_MODE_LOG = 1,
    /**
     * No seccomp filter. The security report shows the layer as not requested.
     */
    NUCLEUS_SECCOMP_MODE_OFF = 2,
};
#ifndef __cplusplus
#if __STDC_VERSION__ >= 202311L
typedef enum nucleus_seccomp_mode nucleus_seccomp_mode;
#else
typedef uint32_t nucleus_seccomp_mode;
#endif // __STDC_VERSION__ >= 202311L
#endif // __cplusplus

/**
 * A sandbox configuration. Create it with `nucleus_config_new` or
 * `nucleus_config_from_json`, free it with `nucleus_config_free`.
 */
typedef struct nucleus_config nucleus_config;

/**
 * A command to run: argv plus optional environment, working directory, stdin bytes,
 * timeout and output cap. Create it with `nucleus_exec_new`, free it with
 * `nucleus_exec_free`. One request can be run any number of times, in any sandbox.
 */
typedef struct nucleus_exec nucleus_exec;

/**
 * What a command run by `nucleus_sandbox_exec` did. Free it with
 * `nucleus_exec_result_free`.
 */
typedef struct nucleus_exec_result nucleus_exec_result;

/**
 * A pool of started sandboxes. Create it with `nucleus_pool_new`, free it with
 * `nucleus_pool_free`.
 */
typedef struct nucleus_pool nucleus_pool;

/**
 * A command started by `nucleus_sandbox_spawn`. Free it with `nucleus_process_free`.
 */
typedef struct nucleus_process nucleus_process;

/**
 * A sandbox. Create it with `nucleus_sandbox_create`, free it with
 * `nucleus_sandbox_free`.
 */
typedef struct nucleus_sandbox nucleus_sandbox;

#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

/**
 * Free a byte buffer the library allocated, such as the data of
 * `nucleus_sandbox_read_file`.
 *
 * Calling with NULL is fine. Must not be called twice with the same value.
 */
void nucleus_bytes_free(uint8_t *data);

/**
 * Free a string the library allocated, such as the one from `nucleus_config_to_json`.
 *
 * Calling with NULL is fine. Must not be called twice with the same value.
 */
void nucleus_string_free(char *string);

/**
 * Create the default configuration: read-only view of the host, a private workspace,
 * no network, hostname `"sandbox"`.
 *
 * The caller owns `*out` and frees it with `nucleus_config_free`.
 */
NUCLEUS_MUST_USE
nucleus_status nucleus_config_new(nucleus_config **out);

/**
 * Parse a configuration from the `len` bytes of UTF-8 JSON at `json` (no NUL needed),
 * e.g. `{"hostname": "box", "tmpfs_size": "64M", "mounts": [{"source": "/usr/share",
 * "target": "/opt/share"}]}`. Unknown fields are errors. A parse error returns
 * `NUCLEUS_INVALID_CONFIG` and `nucleus_last_error_field` names the field.
 *
 * Borrows `json` for the duration of the call; nucleus copies what it keeps.
 * The caller owns `*out` and frees it with `nucleus_config_free`.
 */
NUCLEUS_MUST_USE
nucleus_status nucleus_config_from_json(const char *json,
                                        size_t len,
                                        nucleus_config **out);

/**
 * Write `cfg` as JSON (the same schema `nucleus_config_from_json` reads) to `*out`, a
 * NUL-terminated string.
 *
 * Borrows `cfg` for the duration of the call; nucleus copies what it keeps.
 * The caller owns `*out` and frees it with `nucleus_string_free`.
 */
NUCLEUS_MUST_USE
nucleus_status nucleus_config_to_json(const nucleus_config *cfg,
                                      char **out);

/**
 * Check the whole configuration as `nucleus_sandbox_create` would. On
 * `NUCLEUS_INVALID_CONFIG`, `nucleus_last_error_field` names the first bad field.
 *
 * Borrows `cfg` for the duration of the call; nucleus copies what it keeps.
 */
NUCLEUS_MUST_USE
nucleus_status nucleus_config_validate(const nucleus_config *cfg);

/**
 * Set the sandbox's hostname.
 *
 * Borrows `hostname` for the duration of the call; nucleus copies what it keeps.
 */
NUCLEUS_MUST_USE
nucleus_status nucleus_config_set_hostname(nucleus_config *cfg,
                                           const char *hostname);

/**
 * Set the environment variable `key` to `value` for every command (a command's own
 * environment overrides it). Setting a key again replaces its value.
 *
 * Borrows `key` and `value` for the duration of the call; nucleus copies what it keeps.
 */
NUCLEUS_MUST_USE
nucleus_status nucleus_config_set_env(nucleus_config *cfg,
                                      const char *key,
                                      const char *value);

/**
 * Set the working directory (inside the sandbox) of commands that do not choose one.
 * Default `/workspace`.
 *
 * Borrows `path` for the duration of the call; nucleus copies what it keeps.
 */
NUCLEUS_MUST_USE
nucleus_status nucleus_config_set_cwd(nucleus_config *cfg,
                                      const char *path);

/**
 * Mount the host directory `path` read-write at `/workspace` instead of a private
 * directory nucleus creates and removes.
 *
 * Borrows `path` for the duration of the call; nucleus copies what it keeps.
 */
NUCLEUS_MUST_USE
nucleus_status nucleus_config_set_workspace(nucleus_config *cfg,
                                            const char *path);

/**
 * Use the host directory `path` as the sandbox's root filesystem instead of the
 * read-only view of the host.
 *
 * Borrows `path` for the duration of the call; nucleus copies what it keeps.
 */
NUCLEUS_MUST_USE
nucleus_status nucleus_config_set_rootfs(nucleus_config *cfg,
                                         const char *path);

/**
 * Add a mount of the host path `source` (absolute, no symlinks) at `target` (absolute,
 * inside the sandbox), read-only unless `readonly` is false.
 *
 * Borrows `source` and `target` for the duration of the call; nucleus copies what it
 * keeps.
 */
NUCLEUS_MUST_USE
nucleus_status nucleus_config_add_mount(nucleus_config *cfg,
                                        const char *source,
                                        const char *target,
                                        bool readonly);

/**
 * Set the size of the sandbox's `/tmp` (and `/dev/shm`) in bytes; at least 4096.
 */
NUCLEUS_MUST_USE
nucleus_status nucleus_config_set_tmpfs_size(nucleus_config *cfg,
                                             uint64_t bytes);

/**
 * Choose the network: one of the `nucleus_network` values (`NUCLEUS_NETWORK_NONE`,
 * `NUCLEUS_NETWORK_HOST`). Any other value returns `NUCLEUS_INVALID_ARGUMENT`.
 */
NUCLEUS_MUST_USE
nucleus_status nucleus_config_set_network(nucleus_config *cfg,
                                          uint32_t network);

/**
 * Accept protections the host cannot enforce (Landlock on an old kernel, resource limits
 * without a usable cgroup, ...) as warnings instead of failing `nucleus_sandbox_create`
 * with `NUCLEUS_UNSUPPORTED`. Default false. `nucleus_sandbox_warnings_json` then lists
 * what is not enforced.
 */
NUCLEUS_MUST_USE
nucleus_status nucleus_config_set_allow_degraded(nucleus_config *cfg,
                                                 bool allow);

/**
 * Limit the memory of all the sandbox's processes together (tmpfs pages included, swap
 * off) to `bytes`; past it the OOM killer ends the biggest process
 * (`nucleus_exec_result_oom_killed`). At least 1 MiB; 0 removes the limit (the default).
 *
 * Any limit gives the sandbox a cgroup, which needs root or a delegated cgroup v2
 * subtree: elsewhere `nucleus_sandbox_create` fails with `NUCLEUS_UNSUPPORTED` unless
 * degraded mode is allowed. Other limits (`cpu_weight`, `io`, `cgroup_parent`) are set
 * through the `limits` section of `nucleus_config_from_json`.
 */
NUCLEUS_MUST_USE
nucleus_status nucleus_config_set_memory_limit(nucleus_config *cfg,
                                               uint64_t bytes);

/**
 * Limit the sandbox's CPU bandwidth to `cpus` CPUs (1.5 is 150 ms of CPU time per
 * 100 ms), between 0.01 and 4096; 0 removes the limit (the default). A value that is
 * not a finite number is `NUCLEUS_INVALID_ARGUMENT`; one out of range is reported by
 * validation as `limits.cpus`. Needs a cgroup, as `nucleus_config_set_memory_limit`
 * explains.
 */
NUCLEUS_MUST_USE
nucleus_status nucleus_config_set_cpus(nucleus_config *cfg,
                                       double cpus);

/**
 * Allow at most `pids` tasks (processes and threads) in the sandbox at once, its init
 * included; at least 2. 0 removes the limit (the default). Needs a cgroup, as
 * `nucleus_config_set_memory_limit` explains.
 */
NUCLEUS_MUST_USE
nucleus_status nucleus_config_set_pids_limit(nucleus_config *cfg,
                                             uint64_t pids);

/**
 * Choose what the seccomp filter does: one of the `nucleus_seccomp_mode` values
 * (`NUCLEUS_SECCOMP_MODE_ENFORCE`, the default, `NUCLEUS_SECCOMP_MODE_LOG`,
 * `NUCLEUS_SECCOMP_MODE_OFF`). Any other value returns `NUCLEUS_INVALID_ARGUMENT`. A
 * custom profile, its checksum, kept capabilities and rlimits are set through the
 * `security` section of `nucleus_config_from_json`.
 */
NUCLEUS_MUST_USE
nucleus_status nucleus_config_set_seccomp_mode(nucleus_config *cfg,
                                               uint32_t mode);

/**
 * Turn the Landlock filesystem rules (derived from the mounts) on or off. Default true;
 * on a kernel without Landlock, true makes `nucleus_sandbox_create` fail with
 * `NUCLEUS_UNSUPPORTED` unless degraded mode is allowed.
 */
NUCLEUS_MUST_USE
nucleus_status nucleus_config_set_landlock(nucleus_config *cfg,
                                           bool enabled);

/**
 * Keep the per-sandbox state records under the absolute host directory `path`.
 *
 * Borrows `path` for the duration of the call; nucleus copies what it keeps.
 */
NUCLEUS_MUST_USE
nucleus_status nucleus_config_set_state_root(nucleus_config *cfg,
                                             const char *path);

/**
 * Use the supervisor executable at `path` instead of finding `nucleus-shim` (by
 * `$NUCLEUS_SHIM`, next to libnucleus, next to the program, at the build path, in
 * `$PATH`).
 *
 * Borrows `path` for the duration of the call; nucleus copies what it keeps.
 */
NUCLEUS_MUST_USE
nucleus_status nucleus_config_set_shim_path(nucleus_config *cfg,
                                            const char *path);

/**
 * Free a configuration. Sandboxes created from it are not affected.
 *
 * Calling with NULL is fine. Must not be called twice with the same value.
 */
void nucleus_config_free(nucleus_config *cfg);

/**
 * Create a request to run the `argc` strings of `argv` (the program, looked up in the
 * sandbox's `$PATH` when it has no `/`, then its arguments).
 *
 * Borrows `argv` for the duration of the call; nucleus copies what it keeps.
 * The caller owns `*out` and frees it with `nucleus_exec_free`.
 */
NUCLEUS_MUST_USE
nucleus_status nucleus_exec_new(const char *const *argv,
                                size_t argc,
                                nucleus_exec **out);

/**
 * Create a request to run `script` with `/bin/sh -c`.
 *
 * Borrows `script` for the duration of the call; nucleus copies what it keeps.
 * The caller owns `*out` and frees it with `nucleus_exec_free`.
 */
NUCLEUS_MUST_USE
nucleus_status nucleus_exec_new_shell(const char *script,
                                      nucleus_exec **out);

/**
 * Set the environment variable `key` to `value` for this command, on top of the
 * sandbox's environment.
 *
 * Borrows `key` and `value` for the duration of the call; nucleus copies what it keeps.
 */
NUCLEUS_MUST_USE
nucleus_status nucleus_exec_set_env(nucleus_exec *req,
                                    const char *key,
                                    const char *value);

/**
 * Set the command's working directory inside the sandbox (absolute).
 *
 * Borrows `path` for the duration of the call; nucleus copies what it keeps.
 */
NUCLEUS_MUST_USE
nucleus_status nucleus_exec_set_cwd(nucleus_exec *req,
                                    const char *path);

/**
 * Feed the `len` bytes at `data` to the command's stdin, then close it
 * (`nucleus_sandbox_exec` only). `data` may be NULL when `len` is 0.
 *
 * Borrows `data` for the duration of the call; nucleus copies what it keeps.
 */
NUCLEUS_MUST_USE
nucleus_status nucleus_exec_set_stdin(nucleus_exec *req,
                                      const uint8_t *data,
                                      size_t len);

/**
 * Kill the command, and every process it started, after `timeout_ms` milliseconds
 * (`nucleus_sandbox_exec` only); the result then reports `timed_out`. 0 is
 * `NUCLEUS_INVALID_ARGUMENT`.
 */
NUCLEUS_MUST_USE
nucleus_status nucleus_exec_set_timeout_ms(nucleus_exec *req,
                                           uint64_t timeout_ms);

/**
 * Keep at most `bytes` of each of stdout and stderr (`nucleus_sandbox_exec` only); the
 * rest is read and dropped, and the result reports `truncated`. Default 16 MiB.
 */
NUCLEUS_MUST_USE
nucleus_status nucleus_exec_set_max_output(nucleus_exec *req,
                                           size_t bytes);

/**
 * Free a request.
 *
 * Calling with NULL is fine. Must not be called twice with the same value.
 */
void nucleus_exec_free(nucleus_exec *req);

/**
 * Run `req` in the running sandbox `sb` to completion: feed its stdin, collect its
 * stdout and stderr, wait for it to end or for its timeout. A command that runs but
 * fails (non-zero exit, killed, timed out) is `NUCLEUS_OK` with a result saying so; a
 * command that cannot start is `NUCLEUS_EXEC_FAILED`; one that has not started (reached
 * its `execve`) by its timeout, or within 30 s without one, is killed and the call
 * returns `NUCLEUS_TIMEOUT`; a sandbox that is not running is `NUCLEUS_STATE`.
 *
 * Safe to call concurrently on the same sandbox (and with the same request) from any
 * number of threads: that is why `sb` is `const`.
 * Borrows `req` for the duration of the call; nucleus copies what it keeps.
 * The caller owns `*out` and frees it with `nucleus_exec_result_free`.
 */
NUCLEUS_MUST_USE
nucleus_status nucleus_sandbox_exec(const nucleus_sandbox *sb,
                                    const nucleus_exec *req,
                                    nucleus_exec_result **out);

/**
 * The command's exit code, or -1 when a signal ended it (see
 * `nucleus_exec_result_signal`).
 */
NUCLEUS_MUST_USE
nucleus_status nucleus_exec_result_exit_code(const nucleus_exec_result *result,
                                             int32_t *out);

/**
 * The signal that ended the command (e.g. 9 for `SIGKILL` after a timeout), or 0 when it
 * exited.
 */
NUCLEUS_MUST_USE
nucleus_status nucleus_exec_result_signal(const nucleus_exec_result *result,
                                          int32_t *out);

/**
 * The command's collected stdout: `*data` points to `*len` bytes, followed by a NUL that
 * `*len` does not count (the output itself may contain NULs).
 *
 * `*data` is valid until `result` is freed; do not free it.
 */
NUCLEUS_MUST_USE
nucleus_status nucleus_exec_result_stdout(const nucleus_exec_result *result,
                                          const uint8_t **data,
                                          size_t *len);

/**
 * The command's collected stderr: `*data` points to `*len` bytes, followed by a NUL that
 * `*len` does not count (the output itself may contain NULs).
 *
 * `*data` is valid until `result` is freed; do not free it.
 */
NUCLEUS_MUST_USE
nucleus_status nucleus_exec_result_stderr(const nucleus_exec_result *result,
                                          const uint8_t **data,
                                          size_t *len);

/**
 * Whether the command was killed because it ran past its timeout.
 */
NUCLEUS_MUST_USE
nucleus_status nucleus_exec_result_timed_out(const nucleus_exec_result *result,
                                             bool *out);

/**
 * Whether the OOM killer ended a process of the sandbox while the command ran (the
 * sandbox's memory limit was reached). Always false for a sandbox without a memory
 * limit. The command itself may have survived if the killer chose another process; its
 * exit status says.
 */
NUCLEUS_MUST_USE
nucleus_status nucleus_exec_result_oom_killed(const nucleus_exec_result *result,
                                              bool *out);

/**
 * The most memory the sandbox had in use at once, in bytes, up to the command's end
 * (the sandbox's peak since it started, not this command's alone).
 *
 * `NUCLEUS_UNSUPPORTED`, with `*out` left untouched, when it is not known: the sandbox
 * has no cgroup (no limits were set, or they were dropped in degraded mode) or the
 * kernel does not keep the value (cgroup v2 before Linux 5.19).
 */
NUCLEUS_MUST_USE
nucleus_status nucleus_exec_result_peak_memory(const nucleus_exec_result *result,
                                               uint64_t *out);

/**
 * Whether output past the cap (`nucleus_exec_set_max_output`) was dropped.
 */
NUCLEUS_MUST_USE
nucleus_status nucleus_exec_result_truncated(const nucleus_exec_result *result,
                                             bool *out);

/**
 * How long the command took, from the request to its end, in nanoseconds.
 */
NUCLEUS_MUST_USE
nucleus_status nucleus_exec_result_duration_ns(const nucleus_exec_result *result,
                                               uint64_t *out);

/**
 * Free a result; the views from `nucleus_exec_result_stdout` and
 * `nucleus_exec_result_stderr` end with it.
 *
 * Calling with NULL is fine. Must not be called twice with the same value.
 */
void nucleus_exec_result_free(nucleus_exec_result *result);

/**
 * The message of the last error on this thread, e.g.
 * `"invalid config: mounts[0].target: /x/../y must not contain '..'"`, or `""` when the
 * last call succeeded.
 *
 * Never NULL. The string is valid until the next `nucleus_*` call on this thread that
 * returns a `nucleus_status`; do not free it.
 */
const char *nucleus_last_error_message(void);

/**
 * The errno behind the last error on this thread (for `NUCLEUS_SYSCALL` and
 * `NUCLEUS_EXEC_FAILED`), or 0 if there is none.
 */
int nucleus_last_error_errno(void);

/**
 * What the last error on this thread is about: the config field's path for
 * `NUCLEUS_INVALID_CONFIG` (e.g. `"mounts[2].target"`, `"env.A=B"`, `"timeout"`), the
 * parameter's name for `NUCLEUS_NULL_ARGUMENT` and `NUCLEUS_INVALID_ARGUMENT` (e.g.
 * `"hostname"`), otherwise `""`.
 *
 * Never NULL. The string is valid until the next `nucleus_*` call on this thread that
 * returns a `nucleus_status`; do not free it.
 */
const char *nucleus_last_error_field(void);

/**
 * Validate `cfg`, build one sandbox from it before returning (so a config this host
 * cannot satisfy fails here, with the error `nucleus_sandbox_start` would give), and
 * start a background thread that keeps `size` sandboxes created and started, replacing
 * each one taken. `size` must be at least 1 (`NUCLEUS_INVALID_ARGUMENT` names it). The
 * config must not set a workspace directory, which all the pool's sandboxes would share
 * (`NUCLEUS_INVALID_CONFIG` names `workspace`); each gets a private one.
 *
 * Borrows `cfg` for the duration of the call; nucleus copies what it keeps.
 * The caller owns `*out` and frees it with `nucleus_pool_free`.
 */
NUCLEUS_MUST_USE
nucleus_status nucleus_pool_new(const nucleus_config *cfg,
                                size_t size,
                                nucleus_pool **out);

/**
 * Take a running sandbox that no one has used: one the pool has ready, or, when none is,
 * one built during this call. The sandbox is the caller's alone from then on, exactly
 * like one from `nucleus_sandbox_create` and `nucleus_sandbox_start`: it does not go back
 * to the pool, and freeing the pool does not affect it.
 *
 * If building a sandbox in the background failed since the last take, this call returns
 * that error (once) and the next goes on as usual.
 *
 * Safe to call concurrently on the same pool from any number of threads.
 * The caller owns `*out` and frees it with `nucleus_sandbox_free`.
 */
NUCLEUS_MUST_USE
nucleus_status nucleus_pool_take(const nucleus_pool *pool,
                                 nucleus_sandbox **out);

/**
 * How many sandboxes the pool has ready now (at most its size; the background thread
 * refills it after each take).
 *
 * Safe to call concurrently with other calls on the same pool.
 */
NUCLEUS_MUST_USE
nucleus_status nucleus_pool_ready(const nucleus_pool *pool,
                                  size_t *out);

/**
 * Free a pool: stop its background thread (waiting for a sandbox it is building) and
 * destroy the sandboxes still in it (errors of that teardown are not reported).
 * Sandboxes taken from it stay valid and keep running.
 *
 * Calling with NULL is fine. Must not be called twice with the same value, nor while
 * another call uses `pool`.
 */
void nucleus_pool_free(nucleus_pool *pool);

/**
 * Start `req` in the running sandbox `sb` and return at once. `*stdin_fd`, `*stdout_fd`
 * and `*stderr_fd` get the caller's ends of the command's pipes (close-on-exec set):
 * write to stdin and close it to send EOF; read stdout and stderr until EOF. The request
 * must not set stdin, a timeout or an output cap (those are for `nucleus_sandbox_exec`;
 * `NUCLEUS_INVALID_CONFIG` names the field). A command that has not started within 30 s
 * is killed and the call returns `NUCLEUS_TIMEOUT`.
 *
 * Safe to call concurrently on the same sandbox from any number of threads.
 * Borrows `req` for the duration of the call; nucleus copies what it keeps.
 * The caller owns `*out` and frees it with `nucleus_process_free`.
 * The caller owns `*stdin_fd`, `*stdout_fd` and `*stderr_fd` and closes them with
 * `close(2)`.
 */
NUCLEUS_MUST_USE
nucleus_status nucleus_sandbox_spawn(const nucleus_sandbox *sb,
                                     const nucleus_exec *req,
                                     nucleus_process **out,
                                     int32_t *stdin_fd,
                                     int32_t *stdout_fd,
                                     int32_t *stderr_fd);

/**
 * The command's pid inside the sandbox.
 */
NUCLEUS_MUST_USE
nucleus_status nucleus_process_pid(const nucleus_process *process,
                                   int32_t *out);

/**
 * Wait for the command to end. `*exit_code` gets its exit code (-1 when a signal ended
 * it) and `*signal` the signal (0 when it exited). Waiting again returns the same.
 */
NUCLEUS_MUST_USE
nucleus_status nucleus_process_wait(nucleus_process *process,
                                    int32_t *exit_code,
                                    int32_t *signal);

/**
 * As `nucleus_process_wait`, but wait at most `timeout_ms` milliseconds (0 only checks).
 * When the command is still running then, returns `NUCLEUS_TIMEOUT` and writes nothing.
 */
NUCLEUS_MUST_USE
nucleus_status nucleus_process_wait_timeout(nucleus_process *process,
                                            uint64_t timeout_ms,
                                            int32_t *exit_code,
                                            int32_t *signal);

/**
 * Send `signal` to the command and every process of its session. Does nothing once the
 * command has been waited for.
 */
NUCLEUS_MUST_USE
nucleus_status nucleus_process_kill(nucleus_process *process,
                                    int32_t signal);

/**
 * Free a process handle. This does not kill the command: it runs on until it ends or
 * its sandbox is destroyed. The descriptors from `nucleus_sandbox_spawn` are the
 * caller's and stay open.
 *
 * Calling with NULL is fine. Must not be called twice with the same value.
 */
void nucleus_process_free(nucleus_process *process);

/**
 * Which protections the running sandbox `sb` has, verified from inside it by a probe
 * process confined exactly like a command (this runs that process, so it takes a few
 * milliseconds). `*out_json` gets an object:
 *
 * ```text
 * {"layers": [{"layer": "seccomp", "requested": true, "enforced": true,
 *              "verified": "/proc/self/status: Seccomp: 2, ..."}, ...],
 *  "warnings": ["landlock is not enforced: ...", ...]}
 * ```
 *
 * with one entry per layer in a fixed order (the namespaces, `uid_map`, `no_new_privs`,
 * `capabilities`, `seccomp`, `landlock`, `rlimits`, `read_only_root`), and the warnings
 * of degraded mode. The sandbox must be running (`NUCLEUS_STATE` otherwise).
 *
 * Safe to call concurrently with other calls on the same sandbox.
 * The caller owns `*out_json` and frees it with `nucleus_string_free`.
 */
NUCLEUS_MUST_USE
nucleus_status nucleus_sandbox_security_report_json(const nucleus_sandbox *sb,
                                                    char **out_json);

/**
 * The warnings of degraded mode: protections the config asked for that this host does
 * not enforce, as a JSON array of strings (`[]` when every protection holds; only a
 * config with `allow_degraded` can have any). Also available before start and after
 * destroy.
 *
 * Safe to call concurrently with other calls on the same sandbox.
 * The caller owns `*out_json` and frees it with `nucleus_string_free`.
 */
NUCLEUS_MUST_USE
nucleus_status nucleus_sandbox_warnings_json(const nucleus_sandbox *sb,
                                             char **out_json);

/**
 * The counters of the sandbox's cgroup, as a JSON object:
 *
 * ```text
 * {"memory_current": 1048576, "memory_peak": 2097152, "cpu_usec": 5310,
 *  "tasks": 1, "oom_kills": 0}
 * ```
 *
 * Memory is in bytes, CPU time in microseconds; `tasks` counts the sandbox's init too.
 * A counter this host's kernel does not keep is `null`. A sandbox without limits has no
 * cgroup: that is `NUCLEUS_UNSUPPORTED` (as is a sandbox whose limits were dropped in
 * degraded mode).
 *
 * Safe to call concurrently with other calls on the same sandbox.
 * The caller owns `*out_json` and frees it with `nucleus_string_free`.
 */
NUCLEUS_MUST_USE
nucleus_status nucleus_sandbox_stats_json(const nucleus_sandbox *sb,
                                          char **out_json);

/**
 * Check what this host can enforce, without making a sandbox: user namespaces,
 * Landlock, seccomp, cgroups, whether this runs inside a container, and where the
 * supervisor executable is. `*out_json` gets an object:
 *
 * ```text
 * {"checks": [{"name": "landlock", "ok": true, "detail": "ABI 6", "fix": null}, ...]}
 * ```
 *
 * `fix` is a one-line remedy when `ok` is false, else `null`. A failed check is not an
 * error of this call, which returns `NUCLEUS_OK` whenever it could run.
 *
 * The caller owns `*out_json` and frees it with `nucleus_string_free`.
 */
NUCLEUS_MUST_USE
nucleus_status nucleus_doctor_json(char **out_json);

/**
 * Validate `cfg` and start building a sandbox from it in a new supervisor process.
 * Returns at once; `nucleus_sandbox_start` waits until the sandbox is ready.
 *
 * Borrows `cfg` for the duration of the call; nucleus copies what it keeps.
 * The caller owns `*out` and frees it with `nucleus_sandbox_free`.
 */
NUCLEUS_MUST_USE
nucleus_status nucleus_sandbox_create(const nucleus_config *cfg,
                                      nucleus_sandbox **out);

/**
 * Wait until the sandbox is built and make it ready for commands. If building failed,
 * the sandbox is torn down and the error returned (a later start returns
 * `NUCLEUS_STATE`).
 *
 * Safe to call concurrently with other calls on the same sandbox.
 */
NUCLEUS_MUST_USE
nucleus_status nucleus_sandbox_start(const nucleus_sandbox *sb);

/**
 * The sandbox's id (16 hex digits, also the name of its state record).
 *
 * `*out` is a NUL-terminated string valid until `sb` is freed; do not free it.
 */
NUCLEUS_MUST_USE
nucleus_status nucleus_sandbox_id(const nucleus_sandbox *sb,
                                  const char **out);

/**
 * Where the sandbox is in its life: one of the `nucleus_sandbox_state` values. Notices a
 * sandbox whose supervisor ended by itself.
 *
 * Safe to call concurrently with other calls on the same sandbox.
 */
NUCLEUS_MUST_USE
nucleus_status nucleus_sandbox_status(const nucleus_sandbox *sb,
                                      nucleus_sandbox_state *out);

/**
 * Send `signal` (e.g. `SIGKILL`) to every process in the sandbox except its init. The
 * sandbox must be running.
 *
 * Safe to call concurrently with other calls on the same sandbox.
 */
NUCLEUS_MUST_USE
nucleus_status nucleus_sandbox_kill(const nucleus_sandbox *sb,
                                    int32_t signal);

/**
 * Write the `len` bytes at `data` to the file `path` inside the sandbox, creating it
 * with mode 0644 or truncating it. Symlinks resolve inside the sandbox, never to the
 * host. `data` may be NULL when `len` is 0.
 *
 * Borrows `path` and `data` for the duration of the call; nucleus copies what it keeps.
 * Safe to call concurrently with other calls on the same sandbox.
 */
NUCLEUS_MUST_USE
nucleus_status nucleus_sandbox_write_file(const nucleus_sandbox *sb,
                                          const char *path,
                                          const uint8_t *data,
                                          size_t len);

/**
 * Read the whole file `path` inside the sandbox into a new buffer: `*data` gets its
 * bytes and `*len` their number. The buffer is followed by a NUL that `*len` does not
 * count, so a text file can be used as a C string.
 *
 * Borrows `path` for the duration of the call; nucleus copies what it keeps.
 * The caller owns `*data` and frees it with `nucleus_bytes_free`.
 * Safe to call concurrently with other calls on the same sandbox.
 */
NUCLEUS_MUST_USE
nucleus_status nucleus_sandbox_read_file(const nucleus_sandbox *sb,
                                         const char *path,
                                         uint8_t **data,
                                         size_t *len);

/**
 * Tear the sandbox down: every process in it dies, and its mounts, private workspace and
 * state record are removed. Calling it again returns `NUCLEUS_OK`. The handle stays
 * valid (its calls return `NUCLEUS_STATE`) until `nucleus_sandbox_free`.
 *
 * Safe to call concurrently with other calls on the same sandbox.
 */
NUCLEUS_MUST_USE
nucleus_status nucleus_sandbox_destroy(const nucleus_sandbox *sb);

/**
 * Free a sandbox, tearing it down first if `nucleus_sandbox_destroy` has not (errors of
 * that teardown are not reported; call `nucleus_sandbox_destroy` to see them). Processes
 * from `nucleus_sandbox_spawn` stay valid handles, but their commands are gone.
 *
 * Calling with NULL is fine. Must not be called twice with the same value, nor while
 * another call uses `sb`.
 */
void nucleus_sandbox_free(nucleus_sandbox *sb);

/**
 * The name of a status value, e.g. `"NUCLEUS_STATE"` for `NUCLEUS_STATE`, or
 * `"NUCLEUS_UNKNOWN_STATUS"` for a value that is not a status. Takes `uint32_t` so any
 * value is safe to pass.
 *
 * The string is static: never NULL, do not free it.
 */
const char *nucleus_status_name(uint32_t status);

/**
 * The version of the nucleus library, e.g. `"0.1.0"`.
 *
 * The string is static: never NULL, do not free it.
 */
const char *nucleus_version(void);

/**
 * The ABI version of the loaded library. A program compiled against `nucleus.h` can
 * compare it with `NUCLEUS_ABI_VERSION` to detect that it runs with a library it was not
 * built for.
 */
uint32_t nucleus_abi_version(void);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* NUCLEUS_H */
