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
    let (Some(commit), Some(git_dir)) = (
        git(&["rev-parse", "HEAD"]),
        git(&["rev-parse", "--absolute-git-dir"]),
    ) else {
        return;
    };
    println!("cargo:rustc-env=LAMBDA_TELEMETRY_GIT_COMMIT={commit}");
    // A new commit or checkout moves HEAD or the branch it points at.
    let git_dir = Path::new(&git_dir);
    println!("cargo:rerun-if-changed={}", git_dir.join("HEAD").display());
    println!(
        "cargo:rerun-if-changed={}",
        git_dir.join("packed-refs").display()
    );
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        println!("cargo:rerun-if-changed={}", git_dir.join(branch).display());
    }
}
