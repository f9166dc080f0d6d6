//! What the binary's end-to-end tests share: running `wearpay` and reading its answers.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

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

/// Starts `wearpay args` in `dir` and returns it with the first `lines` lines it prints on
/// stdout, or on stderr with `on_stderr`; the rest of that stream is drained in the
/// background, so that the process never blocks on a full pipe.
pub fn spawn(dir: &Path, args: &[&str], lines: usize, on_stderr: bool) -> (Process, Vec<String>) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wearpay"));
    cmd.current_dir(dir).args(args).stdin(Stdio::null());
    if on_stderr {
        cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    } else {
        cmd.stdout(Stdio::piped()).stderr(Stdio::null());
    }
    let mut child = cmd.spawn().unwrap();
    let mut reader: Box<dyn BufRead + Send> = if on_stderr {
        Box::new(BufReader::new(child.stderr.take().unwrap()))
    } else {
        Box::new(BufReader::new(child.stdout.take().unwrap()))
    };
    let mut out = Vec::new();
    for _ in 0..lines {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        out.push(line);
    }
    std::thread::spawn(move || {
        let mut sink = String::new();
        while reader.read_line(&mut sink).is_ok_and(|n| n > 0) {
            sink.clear();
        }
    });
    (Process(child), out)
}

/// The first loopback address (`127.0.0.1:port`) in a line the binary printed.
pub fn addr_in(line: &str) -> String {
    line.split_whitespace()
        .map(|w| w.trim_start_matches("http://").trim_end_matches(','))
        .find(|w| w.starts_with("127.0.0.1:"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string()
}
