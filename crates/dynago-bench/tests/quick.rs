//! The benchmark's quick mode, end to end: every part runs against the
//! backend the environment names, every answer is checked (a command on one
//! aggregate that costs more write units than its limit by AWS's rules
//! fails the run: part 6), and the report and the chart are written; and
//! the instructions one event costs, counted
//! by callgrind, checked against a recorded bound.
//!
//! Ignored by default (it takes a few seconds of measuring, longer in a debug
//! build, and valgrind); CI runs it in a step of its own:
//! `cargo test --workspace --test quick -- --ignored --nocapture`.

use std::path::Path;
use std::process::Command;
use std::sync::{Mutex, PoisonError};

use dynago_bench::instructions::{self, EventPath};

/// The most instructions decoding one event may take (dynago-es, payload as
/// a map: `EventStore::read_event_item`), per build profile of the test:
/// the count recorded on 2026-12-07 (rustc 1.95.0; debug 34,974, release
/// 8,634) × 1.2. To refresh after a change that moves it on purpose, run
/// `cargo test -p dynago-bench --test quick -- --ignored --nocapture instructions`
/// (add `--release` for the release bound), and write the printed count ×
/// 1.2 here.
const DECODE_BOUND_DEBUG: f64 = 41_969.0;
/// See [`DECODE_BOUND_DEBUG`].
const DECODE_BOUND_RELEASE: f64 = 10_361.0;

/// The two tests take turns: the wall-clock figures of the quick run and
/// the callgrind runs do not share the cores.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

#[test]
#[ignore = "runs the benchmark's quick mode; CI runs it in a step of its own"]
fn quick_mode_runs_every_part_and_checks_every_answer() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
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
        "### 6. Write units per command",
    ] {
        assert!(report.contains(section), "no `{section}` in:\n{report}");
    }
    // The run itself fails when a command on one aggregate costs more write
    // units than its limit (`dynago_bench::write_units::check`); the table
    // says so too, for each of the four.
    let checked: Vec<&str> = report
        .lines()
        .filter(|line| line.starts_with("| one event") || line.starts_with("| 3 events"))
        .collect();
    assert_eq!(
        checked.len(),
        4,
        "the four commands on one aggregate:\n{report}"
    );
    for row in checked {
        assert!(row.contains("| yes (checked) |"), "over its limit: {row}");
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

#[test]
#[ignore = "runs valgrind on the event paths; CI runs it with the quick mode"]
fn instructions_per_event_stay_under_the_recorded_bound() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    let counts = instructions::measure(Path::new(env!("CARGO_BIN_EXE_event-instructions")))
        .unwrap_or_else(|error| panic!("counting instructions per event: {error:#}"));
    let bound = match counts.profile.as_str() {
        "debug" => DECODE_BOUND_DEBUG,
        "release" => DECODE_BOUND_RELEASE,
        other => panic!("no bound for the build profile {other:?}"),
    };
    let decode = counts.of(EventPath::DynagoEsDecode);
    eprintln!(
        "instructions per event, callgrind, N = 0 and {}:\n{}decoding one event (dynago-es): {decode:.0}, bound {bound:.0}",
        instructions::EVENTS,
        counts.table()
    );
    assert!(
        decode <= bound,
        "decoding one event (dynago-es) takes {decode:.0} instructions in a {} build, over the \
         recorded bound of {bound:.0}: find what made it dearer, or refresh the bound (see \
         DECODE_BOUND_DEBUG in {})",
        counts.profile,
        file!()
    );
}
