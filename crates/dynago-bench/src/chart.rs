//! The chart of part 3: load time against stream length, log-log.

use std::path::Path;

use anyhow::{anyhow, Result};
use plotters::prelude::*;

use crate::load::{Library, LoadResult, Verdict};

/// Draws load time against stream length, one line per library and
/// snapshot setting, into the SVG file `path`.
///
/// # Errors
///
/// When there is nothing to draw or the file cannot be written.
pub fn draw(path: &Path, results: &[LoadResult], backend: &str) -> Result<()> {
    let lengths: Vec<f64> = results.iter().map(|r| r.events as f64).collect();
    let times: Vec<f64> = results.iter().map(|r| r.load_ms).collect();
    let (Some(min_x), Some(max_x)) = (
        lengths.iter().copied().reduce(f64::min),
        lengths.iter().copied().reduce(f64::max),
    ) else {
        return Err(anyhow!("no load result to draw"));
    };
    let min_y = times
        .iter()
        .copied()
        .reduce(f64::min)
        .unwrap_or(0.1)
        .max(1e-3);
    let max_y = times.iter().copied().reduce(f64::max).unwrap_or(1.0);

    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let root = SVGBackend::new(path, (820, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(draw_error)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("Loading one aggregate ({backend} backend)"),
            ("sans-serif", 22),
        )
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(64)
        .build_cartesian_2d(
            (min_x * 0.8..max_x * 1.25).log_scale(),
            (min_y * 0.7..max_y * 1.5).log_scale(),
        )
        .map_err(draw_error)?;
    chart
        .configure_mesh()
        .x_desc("events in the stream")
        .y_desc("load time, ms (median)")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y}"))
        .draw()
        .map_err(draw_error)?;

    let series = [
        (Library::DynagoEs, false, BLUE, "dynago-es, no snapshots"),
        (
            Library::DynagoEs,
            true,
            CYAN,
            "dynago-es, snapshot every 100",
        ),
        (
            Library::CqrsEs,
            false,
            RED,
            "cqrs-es + dynamo-es, no snapshots",
        ),
        (
            Library::CqrsEs,
            true,
            MAGENTA,
            "cqrs-es + dynamo-es, snapshot every 100",
        ),
    ];
    for (library, snapshots, color, label) in series {
        let of_series = || {
            results
                .iter()
                .filter(move |r| r.library == library && r.snapshots == snapshots)
        };
        let mut points: Vec<(f64, f64)> =
            of_series().map(|r| (r.events as f64, r.load_ms)).collect();
        let wrong: Vec<(f64, f64)> = of_series()
            .filter(|r| matches!(r.verdict, Verdict::Truncated { .. }))
            .map(|r| (r.events as f64, r.load_ms))
            .collect();
        let label = if wrong.is_empty() {
            label.to_owned()
        } else {
            format!("{label} (✕: wrong state, 1 MB read)")
        };
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        let style = color.stroke_width(2);
        chart
            .draw_series(LineSeries::new(points.clone(), style))
            .map_err(draw_error)?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        chart
            .draw_series(
                points
                    .into_iter()
                    .filter(|point| !wrong.contains(point))
                    .map(|point| Circle::new(point, 4, color.filled())),
            )
            .map_err(draw_error)?;
        chart
            .draw_series(
                wrong
                    .iter()
                    .map(|&point| Cross::new(point, 7, color.stroke_width(3))),
            )
            .map_err(draw_error)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(draw_error)?;
    root.present().map_err(draw_error)?;
    Ok(())
}

fn draw_error<E: std::fmt::Display>(error: E) -> anyhow::Error {
    anyhow!("drawing the chart: {error}")
}
