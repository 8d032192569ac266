//! Compiles every `linux/*.bpf.c` with clang-19 into OUT_DIR; src/lib.rs embeds the objects.
//!
//! The objects are target-independent BPF bytecode, so this runs on any host that has clang-19
//! and libbpf's headers; only loading them needs Linux.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let src = dir.join("linux");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    // CLANG may name another clang-19 binary (e.g. a Homebrew path on macOS).
    let clang = std::env::var("CLANG").unwrap_or_else(|_| "clang-19".to_owned());
    println!("cargo:rerun-if-env-changed=CLANG");
    println!("cargo:rerun-if-changed={}", src.display());

    let mut sources: Vec<PathBuf> = std::fs::read_dir(&src)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", src.display()))
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.to_str().is_some_and(|s| s.ends_with(".bpf.c")))
        .collect();
    sources.sort();
    for header in ["tuntrace.h", "vmlinux.h"] {
        println!("cargo:rerun-if-changed={}", src.join(header).display());
    }
    for c in &sources {
        println!("cargo:rerun-if-changed={}", c.display());
        compile(&clang, &src, c, &out);
    }
}

fn compile(clang: &str, include: &Path, source: &Path, out: &Path) {
    let name = source.file_name().and_then(|n| n.to_str()).expect("UTF-8 file name");
    let object = out.join(name.trim_end_matches(".c").to_owned() + ".o");
    let result = Command::new(clang)
        .args(["-g", "-O2", "-target", "bpf", "-D__TARGET_ARCH_x86", "-Wall", "-Werror"])
        .arg("-I")
        .arg(include)
        .arg("-c")
        .arg(source)
        .arg("-o")
        .arg(&object)
        .status();
    match result {
        Ok(status) if status.success() => {}
        Ok(status) => panic!(
            "{clang} failed on {} ({status}); if bpf/bpf_helpers.h is missing, run ci/setup (as root) to install libbpf-dev",
            source.display()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!("{clang} not found: run ci/setup (as root) to install it")
        }
        Err(e) => panic!("cannot run {clang}: {e}"),
    }
}
