//! Part 5's section: projections against the hand-written Streams loop.

use std::fmt::Write as _;

use super::Report;
use crate::projections::{Costs, IDLE_WAIT, LAG_POLL};

impl Report {
    pub(super) fn write_projections(&self, out: &mut String) -> std::fmt::Result {
        let Some(r) = &self.projections else {
            return Ok(());
        };
        let (d, b) = (&r.projector, &r.baseline);
        writeln!(
            out,
            "### 5. Projections: dynago-projections against a hand-written Streams loop"
        )?;
        writeln!(out)?;
        writeln!(
            out,
            "| figure | dynago-projections | hand-written loop | dynago ÷ loop |"
        )?;
        writeln!(out, "|---|---:|---:|---:|")?;
        writeln!(
            out,
            "| catch-up on {} events ({} accounts), events/s | {:.0} | {:.0} | **{:.2}** |",
            r.events, r.accounts, d.events_per_s, b.events_per_s, r.events_per_s_ratio
        )?;
        for (phase, (dc, bc)) in [
            ("catch-up", (&d.catch_up, &b.catch_up)),
            (&*format!("{} commands/s", r.rate), (&d.steady, &b.steady)),
        ] {
            write_costs(out, phase, dc, bc)?;
        }
        let lag_rows = [
            ("p50", d.lag_p50_ms, b.lag_p50_ms),
            ("p99", d.lag_p99_ms, b.lag_p99_ms),
        ];
        for (name, dl, bl) in lag_rows {
            writeln!(
                out,
                "| lag at {} commands/s, {name}, ms | {dl:.1} | {bl:.1} | {} |",
                r.rate,
                ratio(dl, bl)
            )?;
        }
        writeln!(out)?;
        writeln!(
            out,
            "One hot keyed view: {} projectors (workers or Lambda containers, each with its own \
             memory) apply {} events of {} accounts into the same total at once: **{:.0} events/s** \
             in all, {:.2} lost races per event (each reads the total again and tries again after \
             a wait that grows, with jitter); every event applied, the total checked.",
            crate::projections::hot::WRITERS,
            r.hot.events,
            crate::projections::hot::WRITERS,
            r.hot.events_per_s,
            r.hot.lost_per_event
        )?;
        writeln!(out)?;
        for (label, side) in [("dynago-projections", d), ("hand-written loop", b)] {
            writeln!(
                out,
                "Requests per event applied, {label}: catch-up {}; at {} commands/s {}.",
                by_operation(&side.catch_up),
                r.rate,
                by_operation(&side.steady)
            )?;
            writeln!(out)?;
        }
        writeln!(
            out,
            "A catch-up starts one worker on a new view table, reading the stream from its \
             oldest record (`catch_up_from_table(false)`); events/s is the events in the \
             table over the time from its start until all are applied, the median over \
             rounds (the sides take turns, the order swapped every round), the ratio the \
             median of the per-round ratios. Its requests are those sent from the worker's \
             start to the stream read after the last event applied, pooled over rounds; the \
             projector's include its leases and checkpoints, kept in the view table (the \
             checkpoint travels with the lease renewals, every third of a lease duration). The \
             lag is measured over {} commands (one deposit each, on the {} accounts in \
             turn) with the worker running: a task reads the account's view every {} ms \
             from the command's acknowledgement until it holds the command's version. \
             Both sides read an idle shard again after 25 ms, doubling up to {} ms. \
             Capacity units are computed by AWS's rules from the items written and read; \
             Streams calls are not capacity units.",
            r.commands,
            r.accounts,
            LAG_POLL.as_millis(),
            IDLE_WAIT.as_millis()
        )?;
        writeln!(out)?;
        Ok(())
    }
}

/// `a / b` to two places, in bold; `–` when `b` is zero.
fn ratio(a: f64, b: f64) -> String {
    if b == 0.0 {
        "–".to_owned()
    } else {
        format!("**{:.2}**", a / b)
    }
}

/// One figure of a side's costs.
type Figure = fn(&Costs) -> f64;

/// The cost rows of one phase.
fn write_costs(out: &mut String, phase: &str, d: &Costs, b: &Costs) -> std::fmt::Result {
    let figures: [(&str, Figure); 5] = [
        ("view-table requests", |c| c.view_requests),
        ("events-table requests", |c| c.events_table_requests),
        ("Streams requests", |c| c.stream_requests),
        ("write units", |c| c.write_units),
        ("read units", |c| c.read_units),
    ];
    for (index, (figure, of)) in figures.into_iter().enumerate() {
        let (dv, bv) = (of(d), of(b));
        let shown = match d.reported_view_requests {
            Some(reported) if index == 0 && (reported - dv).abs() > 0.0005 => {
                format!("{dv:.3} (dynago reports {reported:.3})")
            }
            _ => format!("{dv:.3}"),
        };
        writeln!(
            out,
            "| {figure} per event, {phase} | {shown} | {bv:.3} | {} |",
            ratio(dv, bv)
        )?;
    }
    Ok(())
}

/// `PutItem 1.00, GetRecords 0.01, …`.
fn by_operation(costs: &Costs) -> String {
    costs
        .by_operation
        .iter()
        .map(|(op, n)| format!("{op} {n:.3}"))
        .collect::<Vec<_>>()
        .join(", ")
}
