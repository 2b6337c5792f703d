//! The markdown report: one section per backend in one file, so that runs on
//! several backends sit side by side.

mod projections;

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::client_instructions::ClientCounts;
use crate::commands::{CommandResult, Contender};
use crate::cpu::CpuResult;
use crate::instructions::Counts;
use crate::load::{Library, LoadResult, SnapshotCheck, Verdict, SNAPSHOT_EVERY};
use crate::projections::ProjectionResult;
use crate::table_layer::OperationResult;
use crate::write_units::WriteUnitsResult;
use crate::Plan;

/// The machine the run was on.
#[derive(Debug, Clone)]
pub struct Machine {
    /// The CPU model, from `/proc/cpuinfo`.
    pub cpu: String,
    /// Cores the process may use (what `nproc` says).
    pub cores: usize,
    /// Memory, from `/proc/meminfo`, GiB.
    pub memory_gib: f64,
}

impl Machine {
    /// Reads this machine's description (`?` for what cannot be read).
    pub fn read() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|line| line.strip_prefix("model name"))
            .and_then(|rest| rest.split_once(':'))
            .map_or_else(|| "?".to_owned(), |(_, model)| model.trim().to_owned());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_kib: f64 = meminfo
            .lines()
            .find_map(|line| line.strip_prefix("MemTotal:"))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
            .unwrap_or(f64::NAN);
        Self {
            cpu,
            cores: std::thread::available_parallelism().map_or(0, usize::from),
            memory_gib: memory_kib / 1024.0 / 1024.0,
        }
    }
}

/// Everything one run measured, and how.
#[derive(Debug, Clone)]
pub struct Report {
    /// The backend's name (`embedded`, `dynamodb-local`, `endpoint`).
    pub backend: String,
    /// The machine.
    pub machine: Machine,
    /// When the run started (UTC).
    pub date: String,
    /// The command that ran it.
    pub command: String,
    /// The plan.
    pub plan: Plan,
    /// How long the run took, server start included.
    pub elapsed: Duration,
    /// The load average (1, 5, 15 min) when the run started and ended: what
    /// else the machine was doing.
    pub load_average: [String; 2],
    /// Part 1.
    pub table_layer: Vec<OperationResult>,
    /// Part 2.
    pub commands: Vec<CommandResult>,
    /// Part 3.
    pub loads: Vec<LoadResult>,
    /// Part 3's check of cqrs-es's snapshots of a documented aggregate.
    pub documented_snapshots: Option<SnapshotCheck>,
    /// Part 3's deposits on a stream cqrs-es loads truncated: (attempts,
    /// conflicts).
    pub truncated_append: Option<(u32, u32)>,
    /// Part 4.
    pub cpu: Vec<CpuResult>,
    /// Part 4 in instructions, counted by callgrind (full runs): the
    /// counts, or why there are none.
    pub instructions: Option<Result<Counts, String>>,
    /// Client instructions per command and per load, counted by callgrind
    /// (full runs).
    pub client_instructions: Option<Result<ClientCounts, String>>,
    /// Part 5.
    pub projections: Option<ProjectionResult>,
    /// Part 6.
    pub write_units: Vec<WriteUnitsResult>,
    /// The chart's file name, relative to the markdown file.
    pub chart: Option<String>,
}

const TITLE: &str = "# Benchmarks";

const INTRO: &str = "\
What the abstractions of `dynago` and `dynago-es` cost, against hand-written \
`aws-sdk-dynamodb` calls and against [cqrs-es](https://crates.io/crates/cqrs-es) \
with its DynamoDB repository [dynamo-es](https://crates.io/crates/dynamo-es) (0.5). \
Everything in one section comes from one run of `crates/dynago-bench` against one \
server, the contenders taking turns (A B A B …, the order swapped or rotated every \
round) so that the noise of the machine falls on all of them alike: read the \
**ratios** first, the absolute figures are those of a small shared machine and a \
local server, not of AWS. The program writes this file; each backend's section is \
replaced by the next run on that backend.

How each part measures:

1. **Table layer**: each operation done by `dynago` and by hand with \
`aws-sdk-dynamodb` + `serde_dynamo`, one request at a time, on the same table through \
the same client. Time per operation is the median over rounds of the mean of a run of \
operations; the ratio is the median of the per-round ratios. A locked put or update by \
dynago carries a write id (one more attribute, by which it recognises its own write \
when an answer is lost), which the hand-written request does not: the rows \
\"write id off\" send the same request on both sides (`write_id(false)`), so that \
the difference between the two rows is what that guarantee costs.
2. **Commands**: one deposit per command, decided by the same `Account` logic \
implemented for both libraries' `Aggregate` traits. New accounts every round, so that \
streams stay short and equal; no snapshots, but for the rows \
\"state in each commit\" (`SnapshotPolicy::InCommit`: the state after each command \
in the item of its events, so that an uncached command reads the newest item alone). \
dynago-es retries conflicts itself; \
cqrs-es has no retry, so the benchmark loops on its `AggregateConflict` with the same \
backoff (5 ms doubling to 500 ms, jittered). Requests are counted on the SDK client by \
an interceptor (every HTTP attempt), the same way for both. After every round each \
account is read back: its balance must be the sum of its deposits and its versions \
1, 2, … with no gap, or the run fails.
3. **Loading**: streams built through each library's own write path, then loaded \
again and again; every load is checked against the state the stream folds to. \
Without snapshots, dynago-es's streams are appended one event at a time (an item per \
event, as dynamo-es writes them). Snapshots are taken every 100 events by both \
libraries; the rows `InCommit` hold dynago-es's state in each commit item instead, \
against cqrs-es's snapshots every 100 events.
4. **CPU per event**: one deposit event to a DynamoDB item and back, as each library \
does it (dynago-es through its store's public codec, with its payload as a map and as \
JSON text; dynamo-es's crate-private path mirrored: see \
`crates/dynago-bench/src/envelope.rs`), each library's loop owning the items it \
reads and dropping them as its load does; criterion has the same as \
`cargo bench -p dynago-bench`. Full runs also count the instructions of each path \
with callgrind (valgrind), which the machine's load does not move, and all the \
client's instructions for an uncached command and for a load (`client-instructions`: \
the library, the SDK, signing, HTTP, JSON; the server left out): build the \
binaries first (`cargo build -p dynago-bench --release --bins`).
5. **Projections**: a view per account kept from the events table's stream by one \
`dynago-projections` worker and by a loop written by hand with \
`aws-sdk-dynamodbstreams` (`DescribeStream`, `GetShardIterator` at `TRIM_HORIZON`, \
`GetRecords`, then per event record a `GetItem` and a `PutItem` of the view: no \
ordering, no exactly-once), each on tables of its own holding the same events. \
Requests are counted on the view table's SDK client and, for the Streams API, by a \
proxy without faults in front of it. Every view is checked against the replay of its \
account's events after every run.
6. **Write units per command**: one event, one event with a command id, 3 events, 3 events \
with an id and a transfer, each on accounts that exist and are cached, one command at a \
time; requests and units as the command's outcome reports them (`CommandOutcome::requests`, \
`capacity`: DynamoDB's `ConsumedCapacity`), beside the write units by AWS's rules from the \
items the requests carried. Each command's limit is computed by AWS's rules from the size \
of the item the store writes for its events (`EventStore::commit_item`); a command on one \
aggregate over its limit fails the run, in quick mode too (CI).";

impl Report {
    /// This run's section of the markdown file.
    pub fn section(&self) -> String {
        let mut out = String::new();
        let _ = self.write_section(&mut out);
        out
    }

    fn write_section(&self, out: &mut String) -> std::fmt::Result {
        writeln!(out, "## Backend: {}", self.backend)?;
        writeln!(out)?;
        writeln!(out, "| run | |")?;
        writeln!(out, "|---|---|")?;
        writeln!(out, "| date | {} |", self.date)?;
        writeln!(out, "| command | `{}` |", self.command)?;
        writeln!(
            out,
            "| machine | {}; {} cores (`nproc`); {:.1} GiB memory |",
            self.machine.cpu, self.machine.cores, self.machine.memory_gib
        )?;
        writeln!(out, "| server | {} |", server_description(&self.backend))?;
        writeln!(
            out,
            "| plan | {}: part 1 {} rounds × {} operations ({} for 100-item ones); part 2 {} rounds; part 3 {} rounds; part 4 {} rounds × {} events; part 5 {} rounds × {} events, {} commands/s for {} s; part 6 {} commands of each shape |",
            self.plan.name,
            self.plan.table_layer.rounds,
            self.plan.table_layer.ops,
            self.plan.table_layer.bulk_ops,
            self.plan.commands.rounds,
            self.plan.load.rounds,
            self.plan.cpu.rounds,
            self.plan.cpu.events,
            self.plan.projections.rounds,
            self.plan.projections.events,
            self.plan.projections.rate,
            self.plan.projections.lag_for.as_secs(),
            self.plan.write_units.repeats
        )?;
        writeln!(
            out,
            "| run time | {:.0} s, server start and data set-up included |",
            self.elapsed.as_secs_f64()
        )?;
        writeln!(
            out,
            "| load average (1, 5, 15 min) | {} at the start, {} at the end |",
            self.load_average[0], self.load_average[1]
        )?;
        writeln!(out)?;
        self.write_table_layer(out)?;
        self.write_commands(out)?;
        self.write_loads(out)?;
        self.write_cpu(out)?;
        self.write_projections(out)?;
        self.write_write_units(out)?;
        Ok(())
    }

    fn write_write_units(&self, out: &mut String) -> std::fmt::Result {
        if self.write_units.is_empty() {
            return Ok(());
        }
        writeln!(
            out,
            "### 6. Write units per command: measured against the limit by AWS's rules"
        )?;
        writeln!(out)?;
        writeln!(
            out,
            "| command | requests | by operation | write units (DynamoDB's) | write units (AWS's rules, items sent) | read units (DynamoDB's) | commit item, bytes | limit | within it | dynago-es 0.1, write units |"
        )?;
        writeln!(out, "|---|---:|---|---:|---:|---:|---:|---:|---|---:|")?;
        for r in &self.write_units {
            let by_operation = r
                .by_operation
                .iter()
                .map(|(op, n)| format!("{op} {n}"))
                .collect::<Vec<_>>()
                .join(", ");
            let bytes = r
                .commit_bytes
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" + ");
            let within = match (r.shape.checked(), r.within_limit()) {
                (false, _) => "not checked (a transaction)",
                (true, true) => "yes (checked)",
                (true, false) => "**no**",
            };
            writeln!(
                out,
                "| {} | {} | {} | **{}** | {} | {} | {} | {} | {} | {} |",
                r.shape.label(),
                r.requests,
                by_operation,
                r.write_units,
                r.write_units_by_rules,
                r.read_units,
                bytes,
                r.limit,
                within,
                r.shape.previous_write_units()
            )?;
        }
        writeln!(out)?;
        let commands = self.write_units.first().map_or(0, |r| r.commands);
        writeln!(
            out,
            "Each command ran {commands} times, on accounts created and cached by a deposit \
             first; the table shows the dearest run (they were all checked). The limit is \
             computed by AWS's rules from the size of the item the store writes for the \
             command's events (`EventStore::commit_item`, `dynago::item_size`): \
             ⌈commit / 1 KB⌉ for a standard write; + 1 for a command id, whose record is a \
             write of its own under 1 KB; 2 × Σ ⌈commit / 1 KB⌉ for a transfer, whose two \
             items are written in a transaction at 2 units per KB. A command on one aggregate \
             that costs more than its limit, by DynamoDB's count or by the rules' count from \
             the items sent, fails the run (`--quick` too, which CI runs); the transfer is a \
             transaction by design, shown against its rule. The bench's account knows deposits \
             only: its transfer is a deposit on each of two accounts in one `execute_all`, \
             which writes what a debit and a credit write. The last column is dynago-es 0.1, \
             the item format before one item per commit, recorded and not measured here: an \
             item per event, and a `TransactWriteItems` (2 units per item) for several events \
             or a command id (its record an item of the transaction): 1, 4, 2k, 2k + 2, 4."
        )?;
        writeln!(out)?;
        Ok(())
    }

    fn write_table_layer(&self, out: &mut String) -> std::fmt::Result {
        if self.table_layer.is_empty() {
            return Ok(());
        }
        writeln!(
            out,
            "### 1. Table layer: dynago against hand-written SDK calls"
        )?;
        writeln!(out)?;
        writeln!(
            out,
            "| operation | dynago, µs | SDK + serde_dynamo, µs | dynago / SDK | requests per operation (dynago, SDK) |"
        )?;
        writeln!(out, "|---|---:|---:|---:|---:|")?;
        for r in &self.table_layer {
            writeln!(
                out,
                "| {} | {:.0} | {:.0} | **{:.2}** | {:.2}, {:.2} |",
                r.operation.label(),
                r.dynago_us,
                r.raw_us,
                r.ratio,
                r.dynago_requests,
                r.raw_requests
            )?;
        }
        writeln!(out)?;
        Ok(())
    }

    fn write_commands(&self, out: &mut String) -> std::fmt::Result {
        if self.commands.is_empty() {
            return Ok(());
        }
        writeln!(
            out,
            "### 2. Commands: dynago-es against cqrs-es + dynamo-es"
        )?;
        writeln!(out)?;
        writeln!(
            out,
            "| workload | store | commands/s | ÷ cqrs-es | requests/command | by operation | write units/command | read units/command | server's units/command | retries/command | p50, ms | p99, ms |"
        )?;
        writeln!(
            out,
            "|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|"
        )?;
        for r in &self.commands {
            let by_operation = r
                .requests_by_operation
                .iter()
                .map(|(op, n)| format!("{op} {n:.2}"))
                .collect::<Vec<_>>()
                .join(", ");
            let ratio = if r.contender == Contender::CqrsEs {
                "1".to_owned()
            } else {
                format!("**{:.2}**", r.ratio_vs_cqrs)
            };
            let requests = match r.reported_requests_per_command {
                Some(reported) if (reported - r.requests_per_command).abs() > 0.005 => format!(
                    "{:.2} (dynago-es reports {reported:.2})",
                    r.requests_per_command
                ),
                _ => format!("{:.2}", r.requests_per_command),
            };
            writeln!(
                out,
                "| {} | {} | {:.0} | {} | {} | {} | **{:.2}** | {:.2} | {} | {:.2} | {:.2} | {:.2} |",
                r.scenario,
                r.contender.label(),
                r.commands_per_s,
                ratio,
                requests,
                by_operation,
                r.write_units_per_command,
                r.read_units_per_command,
                if r.reported_units_per_command > 0.0 {
                    format!("{:.2}", r.reported_units_per_command)
                } else {
                    "not asked".to_owned()
                },
                r.retries_per_command,
                r.p50_ms,
                r.p99_ms
            )?;
        }
        writeln!(out)?;
        let plan = &self.plan.commands;
        let workloads = plan
            .scenarios
            .iter()
            .map(|s| format!("{} × {} commands", s.label, s.commands_per_task))
            .collect::<Vec<_>>()
            .join("; ");
        writeln!(
            out,
            "Per round and store: {workloads} (each task's commands one after the other). \
             commands/s is the median over rounds; latencies are pooled over all rounds, \
             retries included. A retry is a conflict: the aggregate read again and the \
             command decided again. Each account is created by one deposit before the \
             measured ones. Capacity units are computed by AWS's rules (a write 1 unit \
             per started KB of the item, 2 inside a transaction, a condition check taken \
             as an item under 1 KB; a strongly consistent read 1 unit per started 4 KB of \
             the items returned, a query's summed) from the items each request wrote and \
             read; the server's figure is beside them where the request asked for it \
             (DynamoDB Local does not report a transaction's items by those rules)."
        )?;
        writeln!(out)?;
        Ok(())
    }

    fn write_loads(&self, out: &mut String) -> std::fmt::Result {
        if self.loads.is_empty() {
            return Ok(());
        }
        writeln!(out, "### 3. Loading one aggregate")?;
        writeln!(out)?;
        writeln!(
            out,
            "| events | snapshots | dynago-es, ms | items read | requests | cqrs-es + dynamo-es, ms | items read | requests | dynago-es / cqrs-es |"
        )?;
        writeln!(out, "|---:|---|---:|---:|---:|---:|---:|---:|---:|")?;
        let find = |events, snapshots, library| {
            self.loads
                .iter()
                .find(|r| r.events == events && r.snapshots == snapshots && r.library == library)
        };
        let mut lengths: Vec<u64> = self.loads.iter().map(|r| r.events).collect();
        lengths.dedup();
        let mut truncated = false;
        // Rows without snapshots, with a snapshot every 100 events, and with
        // the state in each commit (against cqrs-es's snapshots).
        for (snapshots, ours) in [
            (false, Library::DynagoEs),
            (true, Library::DynagoEs),
            (true, Library::DynagoEsInCommit),
        ] {
            for &events in &lengths {
                let (Some(d), Some(c)) = (
                    find(events, snapshots, ours),
                    find(events, snapshots, Library::CqrsEs),
                ) else {
                    continue;
                };
                let items = |r: &LoadResult| match r.verdict {
                    Verdict::Correct => format!("{}", r.items_read),
                    Verdict::Truncated { applied } => {
                        format!("**{applied} of {} — wrong state**", r.events)
                    }
                };
                truncated |= matches!(c.verdict, Verdict::Truncated { .. });
                let ratio = d.load_ms / c.load_ms;
                let ratio = match c.verdict {
                    // The contender read fewer events: compare per event too.
                    Verdict::Truncated { applied } if applied > 0 => format!(
                        "**{ratio:.2}**; per event read **{:.2}**",
                        (d.load_ms / events as f64) / (c.load_ms / applied as f64)
                    ),
                    _ => format!("**{ratio:.2}**"),
                };
                writeln!(
                    out,
                    "| {} | {} | {:.2} | {} | {:.0} | {:.2} | {} | {:.0} | {} |",
                    events,
                    if ours == Library::DynagoEsInCommit {
                        format!(
                            "dynago-es: in each commit (`InCommit`); cqrs-es: every {SNAPSHOT_EVERY}"
                        )
                    } else if snapshots {
                        format!("every {SNAPSHOT_EVERY}")
                    } else {
                        "none".to_owned()
                    },
                    d.load_ms,
                    items(d),
                    d.requests,
                    c.load_ms,
                    items(c),
                    c.requests,
                    ratio
                )?;
            }
        }
        writeln!(out)?;
        if truncated {
            writeln!(
                out,
                "**Wrong state**: dynamo-es 0.5 reads an aggregate's events with one \
                 `Query` and does not follow `LastEvaluatedKey`, so a stream over 1 MB \
                 (about {} of these events) loads as its first page only: the state is \
                 wrong{}. Its time is that of the truncated load.",
                self.loads
                    .iter()
                    .find_map(|r| match r.verdict {
                        Verdict::Truncated { applied } => Some(applied),
                        Verdict::Correct => None,
                    })
                    .unwrap_or(0),
                match self.truncated_append {
                    Some((attempts, conflicts)) => format!(
                        ", and a deposit on that account, tried {attempts} times, ended in \
                         `AggregateConflict` {conflicts} times: the command decides on the \
                         first page's version, whose successor is already stored"
                    ),
                    None => String::new(),
                }
            )?;
            writeln!(out)?;
        }
        if let Some(check) = &self.documented_snapshots {
            if check.loaded_balance == check.events_balance {
                writeln!(
                    out,
                    "cqrs-es snapshots of an aggregate written as its documentation shows \
                     (`sink.write(event, self)` in `handle`): {} one-cent deposits load as {} \
                     cents, right.",
                    check.deposits, check.loaded_balance
                )?;
            } else {
                writeln!(
                    out,
                    "**Wrong state in cqrs-es snapshots**: with an aggregate written as \
                     cqrs-es's documentation shows (`sink.write(event, self)` in `handle`, which \
                     applies the event to the aggregate), {} one-cent deposits through its \
                     snapshot store load as **{} cents** although its events add up to {}: \
                     the snapshot store applies the events of the command that takes the \
                     snapshot a second time (`update_snapshot_with_events` folds them into the \
                     context that `handle` already changed). The cqrs-es figures above use an \
                     aggregate that leaves `self` alone in `handle` (it applies events to a \
                     scratch copy), which loads right.",
                    check.deposits, check.loaded_balance, check.events_balance
                )?;
            }
            writeln!(out)?;
        }
        if let Some(chart) = &self.chart {
            writeln!(out, "![Load time against stream length]({chart})")?;
            writeln!(out)?;
        }
        Ok(())
    }

    fn write_cpu(&self, out: &mut String) -> std::fmt::Result {
        if self.cpu.is_empty() {
            return Ok(());
        }
        writeln!(out, "### 4. CPU per event, no network")?;
        writeln!(out)?;
        writeln!(
            out,
            "| library | event → item, µs | item → event, µs | item size, bytes |"
        )?;
        writeln!(out, "|---|---:|---:|---:|")?;
        for r in &self.cpu {
            writeln!(
                out,
                "| {} | {:.2} | {:.2} | {} |",
                r.library, r.serialize_us, r.deserialize_us, r.item_bytes
            )?;
        }
        writeln!(out)?;
        writeln!(
            out,
            "dynago-es stores the payload as a native DynamoDB map (or, with \
             `PayloadEncoding::Json`, as JSON text in `payload_json`) and the envelope \
             (ids, timestamp, metadata, commit id) as attributes, 12 in all with the keys, \
             each read through the store's own codec (`EventStore::event_item`, \
             `read_event_item`, with every check it makes); dynamo-es stores payload and \
             metadata as JSON bytes in binary attributes, 8 in all. Sizes are the stored \
             items', key attributes included."
        )?;
        writeln!(out)?;
        match &self.instructions {
            Some(Ok(counts)) => {
                writeln!(
                    out,
                    "The same paths in instructions, counted by callgrind (`cargo build -p \
                     dynago-bench --release --bins && target/release/event-instructions`; \
                     see `crates/dynago-bench/src/instructions.rs`), which do not move with \
                     the machine's load:"
                )?;
                writeln!(out)?;
                write!(out, "{}", counts.table())?;
                writeln!(out)?;
            }
            Some(Err(reason)) => {
                writeln!(out, "Instructions per event: not counted ({reason}).")?;
                writeln!(out)?;
            }
            None => {}
        }
        match &self.client_instructions {
            Some(Ok(counts)) => {
                writeln!(
                    out,
                    "All the client's work for a command and for a load (the library, the \
                     SDK, signing, HTTP, JSON, the runtime; the server, in another process, \
                     left out), counted by callgrind (`target/release/client-instructions`; \
                     see `crates/dynago-bench/src/client_instructions.rs`): 20 deposits \
                     without the cache, loading streams of 1 to 20 events, and loads of a \
                     stream of one item per event:"
                )?;
                writeln!(out)?;
                write!(out, "{}", counts.table())?;
                writeln!(out)?;
            }
            Some(Err(reason)) => {
                writeln!(out, "Client instructions: not counted ({reason}).")?;
                writeln!(out)?;
            }
            None => {}
        }
        Ok(())
    }

    /// Writes this run's section into the markdown file at `path`: replaces
    /// the section of the same backend if there is one, appends it if not,
    /// and creates the file (with its introduction) if it does not exist.
    ///
    /// # Errors
    ///
    /// When the file cannot be read or written.
    pub fn write_to(&self, path: &Path) -> Result<()> {
        let existing = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(error) => return Err(error).with_context(|| format!("reading {}", path.display())),
        };
        let text = merge(&existing, &self.backend, &self.section());
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
    }
}

/// The machine's load average (1, 5 and 15 minutes), `?` where unknown.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|| "?".to_owned())
}

fn server_description(backend: &str) -> &'static str {
    match backend {
        "embedded" => "dynoxide 3.2.0 (SQLite in memory), served over HTTP on loopback from the benchmark's own process (its own runtime, 2 threads)",
        "dynamodb-local" => "the official DynamoDB Local (jar, `-inMemory`), on loopback, in its own JVM",
        _ => "the server at DYNAMODB_ENDPOINT",
    }
}

/// `existing` with the section of `backend` replaced by (or extended with)
/// `section`.
fn merge(existing: &str, backend: &str, section: &str) -> String {
    let start = format!("<!-- dynago-bench:{backend}:start -->");
    let end = format!("<!-- dynago-bench:{backend}:end -->");
    let block = format!("{start}\n{section}{end}\n");
    if let (Some(from), Some(to)) = (existing.find(&start), existing.find(&end)) {
        if from < to {
            let after = &existing[to + end.len()..];
            let after = after.strip_prefix('\n').unwrap_or(after);
            return format!("{}{block}{after}", &existing[..from]);
        }
    }
    if existing.trim().is_empty() {
        return format!("{TITLE}\n\n{INTRO}\n\n{block}");
    }
    let mut text = existing.trim_end().to_owned();
    text.push_str("\n\n");
    text.push_str(&block);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_are_replaced_or_appended() {
        let first = merge("", "embedded", "A\n");
        assert!(first.starts_with(TITLE));
        let both = merge(&first, "dynamodb-local", "B\n");
        let again = merge(&both, "embedded", "C\n");
        assert!(again.contains("C\n") && again.contains("B\n") && !again.contains("\nA\n"));
        assert_eq!(merge(&again, "embedded", "C\n"), again);
    }
}
