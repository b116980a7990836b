//! The C API from C: compiles every `tests/c/*.c` and `examples/c/*.c` against
//! `include/nucleus.h` and the `libnucleus` this `cargo test` built, with
//! `-Wall -Wextra -Werror`, runs them in real sandboxes and checks their exit status and
//! output; then again as C++17, linked statically, and under valgrind.
//!
//! The library is found from this test's own path: cargo puts test executables in
//! `<target>/<profile>/deps/` and `libnucleus.{so,a}` in `<target>/<profile>/`. The
//! sandbox supervisor, `nucleus-shim`, is found by the library next to itself there.
//!
//! Each C test prints `<name>: ... passed` as its last line when all its checks pass.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Where things are.
struct Paths {
    /// The workspace root.
    root: PathBuf,
    /// `<target>/<profile>`, holding libnucleus.so, libnucleus.a and nucleus-shim.
    lib_dir: PathBuf,
}

fn paths() -> Paths {
    let exe = std::env::current_exe().expect("current_exe");
    let lib_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable is in <target>/<profile>/deps")
        .to_path_buf();
    for (file, how) in [
        ("libnucleus.so", "cargo test -p nucleus-ffi builds it"),
        ("libnucleus.a", "cargo test -p nucleus-ffi builds it"),
        ("nucleus-shim", "build it with `cargo build --workspace` (cargo test --workspace does)"),
    ] {
        assert!(lib_dir.join(file).is_file(), "{} is missing: {how}", lib_dir.join(file).display());
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf();
    Paths { root, lib_dir }
}

#[derive(Clone, Copy, Debug)]
enum Lang {
    C11,
    Cxx17,
}

#[derive(Clone, Copy, Debug)]
enum Link {
    Shared,
    Static,
}

/// A scratch directory for executables, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("nucleus-c-api-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The `.c` files of `dir` (relative to the workspace root), sorted.
fn sources(paths: &Paths, dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(paths.root.join(dir))
        .unwrap_or_else(|e| panic!("read {dir}: {e}"))
        .map(|entry| entry.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "c"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no C sources in {dir}");
    files
}

fn stem(src: &Path) -> String {
    src.file_stem().unwrap().to_string_lossy().into_owned()
}

/// Compile `src` into `scratch`; panics with the compiler's output on failure.
fn compile(paths: &Paths, scratch: &Scratch, src: &Path, lang: Lang, link: Link) -> PathBuf {
    let exe = scratch.0.join(format!("{}-{lang:?}-{link:?}", stem(src)));
    let mut cmd = match lang {
        Lang::C11 => {
            let mut cmd = Command::new("cc");
            cmd.arg("-std=c11");
            cmd
        }
        Lang::Cxx17 => {
            let mut cmd = Command::new("c++");
            cmd.args(["-x", "c++", "-std=c++17"]);
            cmd
        }
    };
    cmd.args(["-Wall", "-Wextra", "-Werror", "-g"])
        .arg("-I")
        .arg(paths.root.join("include"))
        .arg("-I")
        .arg(paths.root.join("tests/c"))
        .arg(src)
        .args(["-x", "none"])
        .arg("-o")
        .arg(&exe);
    match link {
        Link::Shared => {
            cmd.arg("-L").arg(&paths.lib_dir).arg("-lnucleus");
            cmd.arg(format!("-Wl,-rpath,{}", paths.lib_dir.display()));
            cmd.arg("-lpthread");
        }
        Link::Static => {
            // What rustc reports as the static library's native dependencies on Linux.
            cmd.arg(paths.lib_dir.join("libnucleus.a"));
            cmd.args(["-lpthread", "-ldl", "-lm", "-lrt", "-lutil", "-lgcc_s", "-lc"]);
        }
    }
    let output = cmd.output().unwrap_or_else(|e| panic!("cannot run the compiler {cmd:?}: {e}"));
    assert!(
        output.status.success(),
        "compiling {} as {lang:?} failed:\n{cmd:?}\n{}",
        src.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    exe
}

/// Run `exe` (under valgrind when asked) and check it succeeded; returns its stdout.
fn run(exe: &Path, valgrind: bool) -> String {
    let mut cmd = if valgrind {
        let mut cmd = Command::new("valgrind");
        // No --trace-children: the supervisor is a separate program spawned by the
        // library, not part of what is checked here.
        cmd.args([
            "-q",
            "--leak-check=full",
            "--errors-for-leak-kinds=definite",
            "--show-leak-kinds=definite",
            "--error-exitcode=99",
        ]);
        cmd.arg(exe);
        cmd
    } else {
        Command::new(exe)
    };
    let output: Output = cmd.output().unwrap_or_else(|e| {
        if valgrind && e.kind() == std::io::ErrorKind::NotFound {
            panic!("valgrind is not installed; scripts/test.sh installs it (apt-get install valgrind)");
        }
        panic!("cannot run {cmd:?}: {e}")
    });
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let hint = if output.status.code() == Some(99) {
        " (valgrind found errors)"
    } else if valgrind && stderr.contains("pidfd_open: Function not implemented") {
        " (this valgrind does not implement pidfd_open, so nucleus-core must fall back \
         to waitpid when pidfd_open fails with ENOSYS)"
    } else if valgrind && stderr.contains("unhandled amd64-linux syscall: 444") {
        " (this valgrind does not implement the Landlock system calls, so the caller-side \
         probe in nucleus-core sees no Landlock; the probe must not depend on the caller \
         being run natively, e.g. ask the supervisor)"
    } else {
        ""
    };
    assert!(
        output.status.success(),
        "{cmd:?} failed with {}{hint}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status,
    );
    if valgrind {
        assert!(!stderr.contains("definitely lost"), "{cmd:?} leaked:\n{stderr}");
    }
    stdout
}

/// A C test's last line is `<name>: ... passed`.
fn assert_passed(src: &Path, stdout: &str) {
    let name = stem(src);
    let last = stdout.lines().last().unwrap_or("");
    assert!(
        last.starts_with(&format!("{name}: ")) && last.ends_with("passed"),
        "{name} did not report success; stdout:\n{stdout}"
    );
}

fn assert_quickstart_output(stdout: &str) {
    for expected in ["hello from quickstart", "/usr is read-only", "(exit 0)", "sandbox destroyed"] {
        assert!(stdout.contains(expected), "quickstart output lacks {expected:?}:\n{stdout}");
    }
}

#[test]
fn c_tests_pass() {
    let paths = paths();
    let scratch = Scratch::new("c");
    for src in sources(&paths, "tests/c") {
        let exe = compile(&paths, &scratch, &src, Lang::C11, Link::Shared);
        assert_passed(&src, &run(&exe, false));
    }
}

#[test]
fn header_test_reports_the_library_version() {
    let paths = paths();
    let scratch = Scratch::new("version");
    let src = paths.root.join("tests/c/test_header.c");
    let stdout = run(&compile(&paths, &scratch, &src, Lang::C11, Link::Shared), false);
    assert!(stdout.contains(&format!("nucleus {}, ABI 1", nucleus_core::VERSION)), "{stdout}");
}

#[test]
fn c_examples_run() {
    let paths = paths();
    let scratch = Scratch::new("examples");
    for src in sources(&paths, "examples/c") {
        let stdout = run(&compile(&paths, &scratch, &src, Lang::C11, Link::Shared), false);
        if stem(&src) == "quickstart" {
            assert_quickstart_output(&stdout);
        }
    }
}

/// The header (included twice) and whole tests, one of them threaded, compile and pass
/// as C++17.
#[test]
fn header_and_tests_work_from_cxx17() {
    let paths = paths();
    let scratch = Scratch::new("cxx");
    for name in ["test_header.c", "test_errors.c", "test_pool.c"] {
        let src = paths.root.join("tests/c").join(name);
        assert_passed(&src, &run(&compile(&paths, &scratch, &src, Lang::Cxx17, Link::Shared), false));
    }
}

#[test]
fn static_library_links_and_runs() {
    let paths = paths();
    let scratch = Scratch::new("static");
    let src = paths.root.join("tests/c/test_lifecycle.c");
    assert_passed(&src, &run(&compile(&paths, &scratch, &src, Lang::C11, Link::Static), false));
}

/// No memory errors and no definite leaks in the C tests and examples.
#[test]
fn c_tests_and_examples_are_clean_under_valgrind() {
    let paths = paths();
    let scratch = Scratch::new("valgrind");
    for src in sources(&paths, "tests/c") {
        let exe = compile(&paths, &scratch, &src, Lang::C11, Link::Shared);
        assert_passed(&src, &run(&exe, true));
    }
    for src in sources(&paths, "examples/c") {
        let stdout = run(&compile(&paths, &scratch, &src, Lang::C11, Link::Shared), true);
        if stem(&src) == "quickstart" {
            assert_quickstart_output(&stdout);
        }
    }
}

fn make(args: &[&str], paths: &Paths) -> String {
    let output = Command::new("make")
        .args(args)
        .current_dir(&paths.root)
        .output()
        .unwrap_or_else(|e| panic!("cannot run make: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "make {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// `make -C examples/c run` builds the examples with -Werror and runs them.
#[test]
fn examples_makefile_builds_and_runs() {
    let paths = paths();
    let scratch = Scratch::new("make");
    let lib = format!("LIB={}", paths.lib_dir.display());
    let build = format!("BUILD={}", scratch.0.display());
    assert_quickstart_output(&make(&["-C", "examples/c", "run", &lib, &build], &paths));
}

/// `make -C bindings/c install` stages the header, libraries, supervisor and pkg-config
/// file; a program built with `pkg-config --cflags --libs nucleus` runs against them.
#[test]
fn installed_library_works_through_pkg_config() {
    let paths = paths();
    let scratch = Scratch::new("install");
    let stage = scratch.0.join("stage");
    let target = format!("TARGET={}", paths.lib_dir.display());
    let destdir = format!("DESTDIR={}", stage.display());
    let build = format!("BUILD={}", scratch.0.join("build").display());
    make(&["-C", "bindings/c", "install", "PREFIX=/usr", &target, &destdir, &build], &paths);
    let libdir = stage.join("usr/lib");
    for file in ["libnucleus.so", "libnucleus.a", "nucleus-shim", "pkgconfig/nucleus.pc"] {
        assert!(libdir.join(file).is_file(), "{file} not installed");
    }
    assert!(stage.join("usr/include/nucleus.h").is_file(), "nucleus.h not installed");

    let flags = Command::new("pkg-config")
        .args(["--cflags", "--libs", "nucleus"])
        .env("PKG_CONFIG_PATH", libdir.join("pkgconfig"))
        .env("PKG_CONFIG_SYSROOT_DIR", &stage)
        .output()
        .expect("pkg-config is installed (scripts/lib/prereqs.sh)");
    assert!(flags.status.success(), "{}", String::from_utf8_lossy(&flags.stderr));
    let flags = String::from_utf8(flags.stdout).unwrap();
    assert!(flags.contains(&format!("-I{}", stage.join("usr/include").display())), "{flags}");

    let exe = scratch.0.join("quickstart");
    let status = Command::new("cc")
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror"])
        .arg(paths.root.join("examples/c/quickstart.c"))
        .arg("-o")
        .arg(&exe)
        .args(flags.split_whitespace())
        .status()
        .expect("run cc");
    assert!(status.success(), "compiling against the installed library failed");
    let output = Command::new(&exe).env("LD_LIBRARY_PATH", &libdir).output().expect("run quickstart");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_quickstart_output(&String::from_utf8_lossy(&output.stdout));
}
