//! `read_file` through the built binary never loads more than it returns:
//! a large text file and a large binary file are read in bounded pieces.
//! (Its own test binary: the peak memory of children is per process.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod support;

use std::io::Write;

use common::{deckhand_cmd, output};
use support::repos::node_service;

/// Peak resident memory of all waited-for children, in KiB.
fn children_peak_kib() -> i64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    assert_eq!(
        unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) },
        0
    );
    usage.ru_maxrss
}

#[test]
fn large_files_are_read_in_bounded_pieces() {
    const SIZE: u64 = 256 * 1024 * 1024;
    let dir = tempfile::tempdir().unwrap();
    let repo = node_service(dir.path());
    // 256 MiB of text, and a sparse 256 MiB binary file.
    let mut text = std::io::BufWriter::new(std::fs::File::create(repo.join("big.log")).unwrap());
    let line = format!("{}\n", "x".repeat(1023));
    for _ in 0..SIZE / 1024 {
        text.write_all(line.as_bytes()).unwrap();
    }
    text.flush().unwrap();
    drop(text);
    std::fs::File::create(repo.join("big.bin"))
        .unwrap()
        .set_len(SIZE)
        .unwrap();

    let mut cmd = deckhand_cmd(&[]);
    cmd.args(["tool", "read_file", "--repo"])
        .arg(&repo)
        .arg(r#"{"path": "big.log", "start_line": 3, "end_line": 4}"#);
    let r = output(cmd);
    r.assert_code(0);
    assert_eq!(
        r.stdout.trim_end(),
        format!(
            "3\t{x}… [523 more characters]\n4\t{x}… [523 more characters]\n[lines 3-4 of 262144]",
            x = "x".repeat(500)
        )
    );

    let mut cmd = deckhand_cmd(&[]);
    cmd.args(["tool", "read_file", "--repo"])
        .arg(&repo)
        .arg(r#"{"path": "big.bin"}"#);
    let r = output(cmd);
    r.assert_code(1);
    assert!(
        r.stdout
            .contains("`big.bin` is a binary file (268435456 bytes)"),
        "{r:?}"
    );
    let peak = children_peak_kib();
    assert!(
        peak < 64 * 1024,
        "a child used {peak} KiB to read a 256 MiB file"
    );
}
