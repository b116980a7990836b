//! The first program to run: create a sandbox, run a few commands, show what is isolated,
//! move a file in and out, tear it down.
//!
//! `cargo build --workspace && cargo run -p nucleus-core --example quickstart`

use nucleus_core::{ExecRequest, Sandbox, SandboxConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let t0 = std::time::Instant::now();
    let sandbox = Sandbox::create(SandboxConfig::new().hostname("quickstart"))?;
    sandbox.start()?;
    println!("sandbox {} ready in {:?}", sandbox.id(), t0.elapsed());

    for (what, script) in [
        ("who am I", "id"),
        ("hostname", "hostname"),
        ("processes I can see", "ls /proc | grep -E '^[0-9]+$' | tr '\\n' ' '"),
        ("network interfaces", "cat /proc/net/dev | tail -n +3 | cut -d: -f1"),
        ("host secrets", "ls /root /home /etc/shadow 2>&1"),
        ("write to /usr", "touch /usr/x 2>&1"),
        ("write to /workspace", "echo hi > /workspace/note && cat /workspace/note"),
    ] {
        let out = sandbox.exec(&ExecRequest::shell(script))?;
        println!("{what:>22}: {}", out.stdout_text().trim().replace('\n', " | "));
    }

    sandbox.write_file("/workspace/main.py", b"print(sum(range(10)))\n")?;
    let out = sandbox.exec(&ExecRequest::new(["python3", "/workspace/main.py"]))?;
    println!("{:>22}: {}", "python3 main.py", out.stdout_text().trim());
    println!("{:>22}: {:?}", "read back", String::from_utf8(sandbox.read_file("/workspace/note")?)?);

    let t1 = std::time::Instant::now();
    sandbox.destroy()?;
    println!("destroyed in {:?}", t1.elapsed());
    Ok(())
}
