//! Programs the end-to-end tests need beyond the Rust toolchain, PostgreSQL and NATS, installed by
//! the tests themselves on first use: pinned, into git-ignored folders, and once (later runs reuse
//! the install). `tests/tools/npm-ci` does the npm installs (under a lock, so tests that start at
//! once install once); `.ci/run` installs buf through the same script.
use std::path::PathBuf;

/// The repository's root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Installs the packages pinned by `dir`'s package-lock.json (relative to the repository root)
/// into `dir/node_modules` unless they already are, and returns `dir` as an absolute path.
/// Panics with the missing program and the one command that fixes it when that is impossible.
pub async fn npm_packages(dir: &str) -> PathBuf {
    let root = repo();
    let script = root.join("tests/tools/npm-ci");
    let out = tokio::process::Command::new(&script)
        .arg(dir)
        .current_dir(&root)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run {} ({e}); it needs bash", script.display()));
    assert!(
        out.status.success(),
        "installing the npm packages of {dir} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    root.join(dir)
}

/// The buf CLI (pinned in tests/tools/buf/package.json), installed on first use.
pub async fn buf() -> PathBuf {
    npm_packages("tests/tools/buf").await.join("node_modules/.bin/buf")
}
