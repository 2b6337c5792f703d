//! The benchmark's quick mode, end to end: every part runs against the
//! backend the environment names, every answer is checked, and the report
//! and the chart are written.
//!
//! Ignored by default (it takes a few seconds of measuring, longer in a debug
//! build); CI runs it in a step of its own:
//! `cargo test --workspace --test quick -- --ignored`.

use std::process::Command;

#[test]
#[ignore = "runs the benchmark's quick mode; CI runs it in a step of its own"]
fn quick_mode_runs_every_part_and_checks_every_answer() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let out = dir.path().join("benchmarks.md");
    let output = Command::new(env!("CARGO_BIN_EXE_dynago-bench"))
        .arg("--quick")
        .arg("--out")
        .arg(&out)
        .output()
        .expect("the benchmark starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the quick run failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    eprintln!("{stderr}");
    let report = std::fs::read_to_string(&out).expect("the report was written");
    for section in [
        "# Benchmarks",
        "### 1. Table layer",
        "### 2. Commands",
        "### 3. Loading one aggregate",
        "### 4. CPU per event",
        "### 5. Projections",
    ] {
        assert!(report.contains(section), "no `{section}` in:\n{report}");
    }
    let chart = std::fs::read_dir(dir.path())
        .expect("the output directory")
        .filter_map(Result::ok)
        .find(|entry| entry.file_name().to_string_lossy().ends_with(".svg"))
        .expect("the chart was written");
    let svg = std::fs::read_to_string(chart.path()).expect("the chart reads");
    assert!(svg.contains("<svg") && svg.contains("dynago-es"));
    assert!(
        stdout.lines().any(|l| l.ends_with("passed, 0 failed")),
        "no closing line in:\n{stdout}"
    );
}
