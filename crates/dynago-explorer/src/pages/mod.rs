//! The pages, as HTML: pure functions of what was read, escaped by the
//! templates (every value from the table is text, never markup).

pub(crate) mod aggregate;
pub(crate) mod overview;
pub(crate) mod projections;

use chrono::{DateTime, Utc};
use dynago::telemetry::Usage;
use maud::{html, Markup, PreEscaped, DOCTYPE};

/// What a page cost, and what part of it came from the cache.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Cost {
    /// The requests this page sent.
    pub(crate) usage: Usage,
    /// The catalog it shows, when read earlier: when, and what it cost then.
    pub(crate) cached: Option<(DateTime<Utc>, Usage)>,
}

/// The frame of every page: navigation, search, the content, the cost.
/// Links are relative to `base` (the path the explorer is served under,
/// `""` at the root), so that it works nested in a larger router.
pub(crate) fn layout(base: &str, title: &str, cost: &Cost, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                base href=(format!("{base}/"));
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="htmx-config" content=r#"{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false}"#;
                title { (title) " · dynago explorer" }
                link rel="stylesheet" href="assets/uPlot.min.css";
                link rel="stylesheet" href="assets/explorer.css";
                script src="assets/htmx.min.js" defer {}
                script src="assets/uPlot.iife.min.js" defer {}
                script src="assets/explorer.js" defer {}
            }
            body {
                header {
                    nav aria-label="Sections" {
                        a href="./" accesskey="o" { "Overview" }
                        a href="projections" accesskey="p" { "Projections" }
                    }
                    form.search action="search" method="get" role="search" {
                        label for="q" { "Find" }
                        input #q type="search" name="q" placeholder="aggregate id, command id or commit id" accesskey="f";
                        button type="submit" { "Find" }
                    }
                }
                main #main tabindex="-1" {
                    (content)
                }
                (cost_footer(cost))
            }
        }
    }
}

fn cost_footer(cost: &Cost) -> Markup {
    let usage = cost.usage;
    html! {
        footer #cost data-requests=(usage.requests)
            data-read-units=(units(usage.capacity.read_units))
            data-write-units=(units(usage.capacity.write_units)) {
            "This page: " (usage.requests) " DynamoDB request" @if usage.requests != 1 { "s" }
            ", " (units(usage.capacity.read_units)) " read units, "
            (units(usage.capacity.write_units)) " write units."
            @if let Some((at, then)) = cost.cached {
                " The catalog shown was read at " (time(at)) " (" (then.requests) " requests, "
                (units(then.capacity.read_units)) " read units then)."
            }
        }
    }
}

/// Capacity units as DynamoDB reports them: halves and tenths matter.
pub(crate) fn units(units: f64) -> String {
    let text = format!("{units:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

pub(crate) fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S%.3f UTC").to_string()
}

pub(crate) fn optional_time(at: Option<DateTime<Utc>>) -> String {
    at.map_or_else(|| "—".to_owned(), time)
}

/// JSON, indented, as text.
pub(crate) fn json(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("(cannot show: {e})"))
}

/// A chart drawn by the page's script from the data in its attributes; a
/// `None` is a gap (a value not known), never a zero.
pub(crate) fn chart(label: &str, kind: &str, x: &[i64], y: &[Option<f64>]) -> Markup {
    let x = serde_json::to_string(x).unwrap_or_default();
    let y = serde_json::to_string(y).unwrap_or_default();
    html! {
        figure.chart {
            div data-chart=(kind) data-label=(label) data-x=(x) data-y=(y) role="img" aria-label=(label) {}
            figcaption { (label) }
        }
    }
}

/// A page that says what was not found or went wrong.
pub(crate) fn message(title: &str, text: &str) -> Markup {
    html! {
        h1 { (title) }
        p.message { (text) }
    }
}

/// Markup known to be safe: for the few fixed entities the pages use.
pub(crate) fn raw(text: &'static str) -> PreEscaped<&'static str> {
    PreEscaped(text)
}

/// `path` with the query `pairs`, each value percent-encoded.
pub(crate) fn link(path: &str, pairs: &[(&str, &str)]) -> String {
    let mut link = path.to_owned();
    for (index, (name, value)) in pairs.iter().enumerate() {
        link.push(if index == 0 { '?' } else { '&' });
        link.push_str(name);
        link.push('=');
        link.push_str(&encode(value));
    }
    link
}

/// A path segment or query value, percent-encoded.
pub(crate) fn encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                encoded.push(char::from(byte));
            }
            _ => encoded.push_str(&format!("%{byte:02X}")),
        }
    }
    encoded
}

/// The address of an aggregate's page.
pub(crate) fn aggregate_link(aggregate_type: &str, id: &str) -> String {
    format!("aggregates/{}/{}", encode(aggregate_type), encode(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_from_the_table_are_text_in_pages() {
        let page = layout(
            "",
            "<script>alert(1)</script>",
            &Cost::default(),
            message("\"><img src=x onerror=alert(1)>", "<b>"),
        )
        .into_string();
        assert!(!page.contains("<script>alert"));
        assert!(!page.contains("<img src=x"));
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"));
    }

    #[test]
    fn links_encode_what_they_carry() {
        assert_eq!(
            aggregate_link("account", "a b/c?d"),
            "aggregates/account/a%20b%2Fc%3Fd"
        );
        assert_eq!(link("search", &[("q", "x&y=z")]), "search?q=x%26y%3Dz");
    }

    #[test]
    fn units_show_as_reported() {
        assert_eq!(units(0.5), "0.5");
        assert_eq!(units(2.0), "2");
        assert_eq!(units(0.0), "0");
    }
}
