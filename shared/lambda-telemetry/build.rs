//! Rollbar's `code_version` should name the build, so that an item leads to the commit that
//! raised it. When the crate is built from a git checkout (this workspace, or a git
//! dependency), the commit is compiled in as `LAMBDA_TELEMETRY_GIT_COMMIT`; elsewhere (a
//! crates.io download, a source tarball) nothing is set and the crate version stands in.
//! `ROLLBAR_CODE_VERSION` overrides both at run time.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let git = |args: &[&str]| {
        let out = Command::new("git").args(args).output().ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    let Some(commit) = git(&["rev-parse", "HEAD"]) else {
        return;
    };
    println!("cargo:rustc-env=LAMBDA_TELEMETRY_GIT_COMMIT={commit}");
    // A new commit or checkout moves HEAD, the branch's loose ref or packed-refs.
    // `--git-path` finds each where it is: in a linked worktree HEAD is the worktree's own and
    // the refs live in the common directory. Only paths that exist are named: cargo reruns a
    // script that names a missing one on every build, which rebuilt this crate and every
    // function on each `cargo run` (each first request under `cargo lambda watch`).
    let branch = git(&["symbolic-ref", "-q", "HEAD"]);
    for name in ["HEAD", "packed-refs"].into_iter().chain(branch.as_deref()) {
        let Some(path) = git(&["rev-parse", "--git-path", name]) else {
            continue;
        };
        let path = Path::new(&path);
        if path.exists() {
            println!("cargo:rerun-if-changed={}", path.display());
        } else if let Some(dir) = path.parent().filter(|_| name.starts_with("refs/")) {
            // A packed branch has no file of its own until its next commit writes one here.
            println!("cargo:rerun-if-changed={}", dir.display());
        }
    }
}
