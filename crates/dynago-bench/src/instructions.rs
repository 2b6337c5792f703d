//! Instructions per event: the client-side CPU of one event to or from a
//! DynamoDB item (see [`envelope`](crate::envelope)), counted by callgrind.
//! Unlike time, the count does not move with the machine's load.
//!
//! The binary `event-instructions` runs one [`EventPath`] after a set-up
//! (the store, the event, one round trip so that first-use costs fall
//! outside), once for each `--events N`: N = 0, then N = [`EVENTS`], the
//! items a decode reads copied before each. Callgrind counts only inside
//! the path's function of [`measured`] (`--collect-atstart=no`,
//! `--toggle-collect`) and writes its count at each exit (`--dump-after`);
//! instructions per event are (Ir at N = [`EVENTS`] − Ir at N = 0) /
//! [`EVENTS`]. Each event's result is dropped inside the loop, as a reader
//! or a writer drops it, and so is each item read: both libraries' loads
//! own the items of the page they read and drop them.
//!
//! ```text
//! cargo build -p dynago-bench --release --bin event-instructions
//! target/release/event-instructions          # the four counts, under callgrind
//! ```

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{anyhow, bail, ensure, Context, Result};
use dynago_es::PayloadEncoding;

use crate::envelope::{
    codec, cqrs_envelope, dynago_es_from_item, dynago_es_to_item, dynamo_es_from_item,
    dynamo_es_to_item, sample_event,
};

/// The events of a measured run; a run of none is subtracted from it.
pub const EVENTS: usize = 1000;

/// The name of the binary that runs one path.
pub const BINARY: &str = "event-instructions";

/// One event, one way: to or from a DynamoDB item, by one library.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EventPath {
    /// dynago-es, item to event (payload as a map): `EventStore::read_event_item`.
    DynagoEsDecode,
    /// dynago-es, event to item (payload as a map): `EventStore::event_item`.
    DynagoEsEncode,
    /// cqrs-es + dynamo-es, item to event.
    CqrsDecode,
    /// cqrs-es + dynamo-es, event to item.
    CqrsEncode,
}

impl EventPath {
    /// Every path, in the order of the report.
    pub const ALL: [Self; 4] = [
        Self::DynagoEsDecode,
        Self::DynagoEsEncode,
        Self::CqrsDecode,
        Self::CqrsEncode,
    ];

    /// The function of [`measured`] that runs it, as callgrind names it.
    pub fn function(self) -> &'static str {
        match self {
            Self::DynagoEsDecode => concat!(module_path!(), "::measured::dynago_es_decode"),
            Self::DynagoEsEncode => concat!(module_path!(), "::measured::dynago_es_encode"),
            Self::CqrsDecode => concat!(module_path!(), "::measured::cqrs_decode"),
            Self::CqrsEncode => concat!(module_path!(), "::measured::cqrs_encode"),
        }
    }

    /// The name `--path` takes.
    pub fn name(self) -> &'static str {
        match self {
            Self::DynagoEsDecode => "dynago-es-decode",
            Self::DynagoEsEncode => "dynago-es-encode",
            Self::CqrsDecode => "cqrs-decode",
            Self::CqrsEncode => "cqrs-encode",
        }
    }
}

/// The build profile of this code: `debug` or `release` (whether debug
/// assertions are on).
pub fn profile() -> &'static str {
    if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    }
}

/// Runs `path` once for each count of `events`, after one set-up: what
/// `event-instructions --path PATH --events N,…` does under callgrind.
///
/// # Errors
///
/// When the sample event does not survive the round trip.
pub fn run(path: EventPath, events: &[usize]) -> Result<()> {
    let event = sample_event("acc-00042", 1234, 1999);
    let store = codec(PayloadEncoding::Map)?;
    let envelope = cqrs_envelope(&event);
    let item = dynago_es_to_item(&store, &event)?;
    let dynamo_item = dynamo_es_to_item(&envelope, "events")?;
    // One round trip each, outside the count: first-use costs and a check.
    ensure!(dynago_es_from_item(&store, item.clone())? == event);
    ensure!(dynamo_es_from_item(&dynamo_item)?.payload == event.payload);
    let mut items = Vec::with_capacity(events.iter().copied().max().unwrap_or_default());
    for &events in events {
        match path {
            EventPath::DynagoEsDecode => {
                items.extend(std::iter::repeat_n(&item, events).cloned());
                measured::dynago_es_decode(&store, &mut items)?;
            }
            EventPath::DynagoEsEncode => measured::dynago_es_encode(&store, &event, events)?,
            EventPath::CqrsDecode => {
                items.extend(std::iter::repeat_n(&dynamo_item, events).cloned());
                measured::cqrs_decode(&mut items)?;
            }
            EventPath::CqrsEncode => measured::cqrs_encode(&envelope, events)?,
        }
        println!("{} × {events}, {} build", path.name(), profile());
    }
    Ok(())
}

/// The loops callgrind counts inside, one per path
/// ([`EventPath::function`]).
pub mod measured {
    use super::black_box;
    use anyhow::Result;
    use dynago::Item;
    use dynago_es::EventStore;

    use crate::account::Account;
    use crate::envelope::{
        dynago_es_from_item, dynago_es_to_item, dynamo_es_from_item, dynamo_es_to_item, StoredEvent,
    };

    /// Reads every item of `items` (taking them out) as dynago-es does.
    ///
    /// # Errors
    ///
    /// When an item does not read.
    #[inline(never)]
    pub fn dynago_es_decode(store: &EventStore<Account>, items: &mut Vec<Item>) -> Result<()> {
        for item in items.drain(..) {
            black_box(dynago_es_from_item(black_box(store), black_box(item))?);
        }
        Ok(())
    }

    /// Writes `event` to an item `events` times as dynago-es does.
    ///
    /// # Errors
    ///
    /// When the event does not serialize.
    #[inline(never)]
    pub fn dynago_es_encode(
        store: &EventStore<Account>,
        event: &StoredEvent,
        events: usize,
    ) -> Result<()> {
        for _ in 0..events {
            black_box(dynago_es_to_item(black_box(store), black_box(event))?);
        }
        Ok(())
    }

    /// Reads every item of `items` (taking them out) as cqrs-es +
    /// dynamo-es do: by reference, each item then dropped, as their load
    /// drops the page it read.
    ///
    /// # Errors
    ///
    /// When an item does not read.
    #[inline(never)]
    pub fn cqrs_decode(items: &mut Vec<Item>) -> Result<()> {
        for item in items.drain(..) {
            black_box(dynamo_es_from_item(black_box(&item))?);
        }
        Ok(())
    }

    /// Writes `envelope` to an item `events` times as cqrs-es + dynamo-es
    /// do.
    ///
    /// # Errors
    ///
    /// When the event does not serialize.
    #[inline(never)]
    pub fn cqrs_encode(envelope: &cqrs_es::EventEnvelope<Account>, events: usize) -> Result<()> {
        for _ in 0..events {
            black_box(dynamo_es_to_item(black_box(envelope), "events")?);
        }
        Ok(())
    }
}

/// Instructions per event of the four paths, as one build counts them.
#[derive(Debug, Clone, PartialEq)]
pub struct Counts {
    /// The build profile of the binary counted: `debug` or `release`.
    pub profile: String,
    /// Per path, in the order of [`EventPath::ALL`]: instructions per event.
    pub per_event: [f64; 4],
}

impl Counts {
    /// Instructions per event of `path`.
    pub fn of(&self, path: EventPath) -> f64 {
        let index = EventPath::ALL
            .iter()
            .position(|p| *p == path)
            .unwrap_or_default();
        self.per_event[index]
    }

    /// dynago-es ÷ cqrs-es, item to event.
    pub fn decode_ratio(&self) -> f64 {
        self.of(EventPath::DynagoEsDecode) / self.of(EventPath::CqrsDecode)
    }

    /// dynago-es ÷ cqrs-es, event to item.
    pub fn encode_ratio(&self) -> f64 {
        self.of(EventPath::DynagoEsEncode) / self.of(EventPath::CqrsEncode)
    }

    /// The counts and ratios as a markdown table.
    pub fn table(&self) -> String {
        let row = |way: &str, ours: EventPath, theirs: EventPath, ratio: f64| {
            format!(
                "| {way} | {:.0} | {:.0} | **{ratio:.2}** |\n",
                self.of(ours),
                self.of(theirs)
            )
        };
        format!(
            "| {} build, instructions per event | dynago-es | cqrs-es + dynamo-es | dynago-es ÷ cqrs-es |\n\
             |---|---:|---:|---:|\n{}{}",
            self.profile,
            row(
                "item → event",
                EventPath::DynagoEsDecode,
                EventPath::CqrsDecode,
                self.decode_ratio()
            ),
            row(
                "event → item",
                EventPath::DynagoEsEncode,
                EventPath::CqrsEncode,
                self.encode_ratio()
            ),
        )
    }
}

/// Whether valgrind runs here.
///
/// # Errors
///
/// When it does not, saying how to install it.
pub fn check_valgrind() -> Result<()> {
    match Command::new("valgrind").arg("--version").output() {
        Ok(output) if output.status.success() => {}
        Ok(output) => bail!(
            "`valgrind --version` failed ({}): the instruction counts need valgrind's callgrind",
            output.status
        ),
        Err(error) => bail!(
            "valgrind is not installed ({error}): the instruction counts need valgrind's \
             callgrind (Debian, Ubuntu: `apt-get install valgrind`)"
        ),
    }
    Ok(())
}

/// The `event-instructions` binary beside the running one (in its
/// directory or the one above, where a test's binary sits in `deps/`).
///
/// # Errors
///
/// When there is none.
pub fn binary() -> Result<PathBuf> {
    binary_named(BINARY)
}

/// The binary of this crate named `binary`, beside the running one (in
/// its directory or the one above).
///
/// # Errors
///
/// When there is none.
pub fn binary_named(binary: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe().context("the path of the running binary")?;
    let name = format!("{binary}{}", std::env::consts::EXE_SUFFIX);
    exe.ancestors()
        .skip(1)
        .take(2)
        .map(|dir| dir.join(&name))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| {
            anyhow!(
                "no {name} beside {}: build it with `cargo build -p dynago-bench --bin {binary}`",
                exe.display()
            )
        })
}

/// Counts the four paths of the `event-instructions` binary at `binary`
/// under callgrind: one run per path (N = 0, then N = [`EVENTS`]), two
/// at a time.
///
/// # Errors
///
/// When valgrind is not installed, or a run fails.
pub fn measure(binary: &Path) -> Result<Counts> {
    check_valgrind()?;
    let results: Vec<Result<(f64, String)>> = std::thread::scope(|scope| {
        EventPath::ALL
            .chunks(2)
            .flat_map(|pair| {
                let handles: Vec<_> = pair
                    .iter()
                    .map(|path| scope.spawn(move || per_event(binary, *path)))
                    .collect();
                handles
                    .into_iter()
                    .map(|handle| {
                        handle
                            .join()
                            .unwrap_or_else(|_| Err(anyhow!("a callgrind run panicked")))
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    });
    let mut per_event = [0.0; 4];
    let mut profile = String::new();
    for (index, result) in results.into_iter().enumerate() {
        let (count, built) = result?;
        per_event[index] = count;
        profile = built;
    }
    Ok(Counts { profile, per_event })
}

/// Instructions per event of `path` and the build profile the binary
/// reports, from one run under callgrind.
fn per_event(binary: &Path, path: EventPath) -> Result<(f64, String)> {
    let counted = callgrind(
        binary,
        path.function(),
        &["--path", path.name(), "--events", &format!("0,{EVENTS}")],
        &[],
        &format!("{}-{}", std::process::id(), path.name()),
        None,
    )?;
    let profile = counted.profile()?;
    Ok((counted.per_unit(EVENTS)?, profile))
}

/// What one callgrind run counted inside the measured function, one count
/// per call; the last two calls are for none of the units measured and for
/// N (a call before them warms up).
#[derive(Debug, Clone)]
pub struct Counted {
    /// Instructions of each call, in order.
    pub calls: Vec<u64>,
    /// What the binary printed.
    pub stdout: String,
    /// What valgrind and the binary printed on standard error.
    pub stderr: String,
}

impl Counted {
    /// Instructions per unit: (last call − the one before) / `units`.
    ///
    /// # Errors
    ///
    /// When there are not two calls, or the last took no more instructions
    /// than the one before.
    pub fn per_unit(&self, units: usize) -> Result<f64> {
        let [.., none, some] = self.calls[..] else {
            bail!("{} calls counted, not two or more", self.calls.len());
        };
        ensure!(
            some > none,
            "no more instructions for {units} units ({some}) than for none ({none})"
        );
        #[allow(clippy::cast_precision_loss)] // counts far below 2^52
        Ok((some - none) as f64 / units as f64)
    }

    /// The build profile the binary said it was (a line ending `, {profile}
    /// build`).
    ///
    /// # Errors
    ///
    /// When it said none.
    pub fn profile(&self) -> Result<String> {
        self.stdout
            .lines()
            .find_map(|line| line.strip_suffix(" build"))
            .and_then(|line| line.rsplit_once(", "))
            .map(|(_, profile)| profile.to_owned())
            .ok_or_else(|| anyhow!("the binary did not say its build profile: {}", self.stdout))
    }
}

/// Runs `binary args` under callgrind (with `env` set), counting only
/// inside `function` and dumping the count at each of its exits; `name`
/// tells this run's scratch directory from others'. Checks that the dumps
/// add up to what callgrind collected. With `keep`, the last dump is copied
/// there, for `callgrind_annotate`.
///
/// # Errors
///
/// When the run fails, or its counts are not two that add up.
pub fn callgrind(
    binary: &Path,
    function: &str,
    args: &[&str],
    env: &[(&str, &str)],
    name: &str,
    keep: Option<&Path>,
) -> Result<Counted> {
    let dir = std::env::temp_dir().join(format!("dynago-bench-callgrind-{name}"));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let result = callgrind_in(binary, function, args, env, &dir).and_then(|counted| {
        if let Some(keep) = keep {
            let last = dir.join(format!("callgrind.out.{}", counted.calls.len()));
            std::fs::copy(last, keep)
                .with_context(|| format!("keeping the dump as {}", keep.display()))?;
        }
        Ok(counted)
    });
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn callgrind_in(
    binary: &Path,
    function: &str,
    args: &[&str],
    env: &[(&str, &str)],
    dir: &Path,
) -> Result<Counted> {
    let out = dir.join("callgrind.out");
    let output = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg("--collect-atstart=no")
        .arg(format!("--toggle-collect={function}"))
        .arg(format!("--dump-after={function}"))
        .arg(binary)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .with_context(|| format!("running {} under valgrind", binary.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let context = || {
        format!(
            "callgrind on `{} {}` ({}):\n{stdout}{stderr}",
            binary.display(),
            args.join(" "),
            output.status,
        )
    };
    ensure!(output.status.success(), "{}", context());
    // One dump at each exit of the measured function.
    let calls = (1..)
        .map(|part| dir.join(format!("callgrind.out.{part}")))
        .take_while(|dump| dump.is_file())
        .map(|dump| {
            let text = std::fs::read_to_string(&dump)
                .with_context(|| format!("reading {}", dump.display()))?;
            totals(&text).ok_or_else(|| anyhow!("no `totals:` in {}", dump.display()))
        })
        .collect::<Result<Vec<u64>>>()
        .with_context(context)?;
    let collected = stderr
        .lines()
        .find_map(|line| line.split_once("Collected :"))
        .and_then(|(_, total)| total.trim().parse::<u64>().ok());
    ensure!(
        calls.len() >= 2 && collected == Some(calls.iter().sum()),
        "callgrind collected {collected:?} instructions, its dumps {calls:?}: {}",
        context()
    );
    Ok(Counted {
        calls,
        stdout,
        stderr,
    })
}

fn totals(dump: &str) -> Option<u64> {
    dump.lines()
        .find_map(|line| line.strip_prefix("totals:"))
        .and_then(|total| total.trim().parse().ok())
}
