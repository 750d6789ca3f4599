// Records the git commit pushbench is built from, for meta.json: `PUSHBENCH_COMMIT` when the
// build sets it (the Dockerfile passes it as a build argument, since the image's build
// context leaves `.git` out), otherwise `git rev-parse HEAD`. Outside a git checkout and
// without the variable (a crate tarball) the commit is simply unknown.
fn main() {
    println!("cargo:rerun-if-env-changed=PUSHBENCH_COMMIT");
    let given = std::env::var("PUSHBENCH_COMMIT")
        .map(|c| c.trim().to_string())
        .unwrap_or_default();
    let commit = if given.is_empty() {
        std::process::Command::new("git")
            .args(["rev-parse", "HEAD"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    } else {
        given
    };
    println!("cargo:rustc-env=PUSHBENCH_GIT_COMMIT={commit}");
    println!("cargo:rerun-if-changed=../../.git/HEAD");
    println!("cargo:rerun-if-changed=../../.git/refs/heads");
}
