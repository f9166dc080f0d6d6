//! What the binary's end-to-end tests share: running `wearpay` and reading its answers.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command};

/// Runs `wearpay args` in `dir`: whether it succeeded, its stdout and its stderr.
pub fn wearpay(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_wearpay")).current_dir(dir).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs a command that must succeed; its stdout.
pub fn ok(dir: &Path, args: &[&str]) -> String {
    let (ok, out, err) = wearpay(dir, args);
    assert!(ok, "wearpay {} failed:\n{out}{err}", args.join(" "));
    out
}

/// Runs a command that must succeed and print JSON.
pub fn json(dir: &Path, args: &[&str]) -> serde_json::Value {
    serde_json::from_str(&ok(dir, args)).unwrap()
}

/// A background process, killed if the test fails half way.
pub struct Process(pub Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
