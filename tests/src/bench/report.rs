//! The bench's results: one row per measured quantity, printed as a table and written as JSON.

use serde::Serialize;

use super::stats::Summary;

/// Whether a row met its target.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Within the target.
    Met,
    /// Outside the target.
    Missed,
    /// Reported without a target (a ratio, a count).
    Info,
    /// Could not be measured in this run; the reason says why.
    NotMeasured(String),
}

/// One measured quantity.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Case name, e.g. `codexctl status wall`.
    pub case: String,
    /// Unit of the numbers (`ms`, `MiB`, `µs`, `ratio`, …).
    pub unit: String,
    /// Median and spread, when the case ran several times.
    pub summary: Option<Summary>,
    /// The single value, when the case ran once (or the median otherwise).
    pub value: Option<f64>,
    /// The target as text, e.g. `≤ 3`.
    pub target: String,
    /// Met, missed, info or not measured.
    pub verdict: Verdict,
    /// Extra facts (counts, what was subtracted, …).
    pub note: String,
}

/// How a target compares.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    /// Value must be at most this.
    AtMost(f64),
    /// No target: informational.
    None,
}

impl Row {
    /// A row from repeated samples, judged by their median.
    pub fn samples(case: &str, unit: &str, samples: &[f64], target: Target, note: &str) -> Row {
        match Summary::of(samples) {
            Some(s) => {
                let mut row = Row::value(case, unit, s.median, target, note);
                row.summary = Some(s);
                row
            }
            None => Row::not_measured(case, unit, "no samples", target),
        }
    }

    /// A row from a single value.
    pub fn value(case: &str, unit: &str, value: f64, target: Target, note: &str) -> Row {
        let (target_text, verdict) = match target {
            Target::AtMost(t) if value <= t => (format!("≤ {}", fmt_num(t)), Verdict::Met),
            Target::AtMost(t) => (format!("≤ {}", fmt_num(t)), Verdict::Missed),
            Target::None => ("—".into(), Verdict::Info),
        };
        Row {
            case: case.into(),
            unit: unit.into(),
            summary: None,
            value: Some(value),
            target: target_text,
            verdict,
            note: note.into(),
        }
    }

    /// A row that could not be measured, with the reason.
    pub fn not_measured(case: &str, unit: &str, reason: &str, target: Target) -> Row {
        Row {
            case: case.into(),
            unit: unit.into(),
            summary: None,
            value: None,
            target: match target {
                Target::AtMost(t) => format!("≤ {}", fmt_num(t)),
                Target::None => "—".into(),
            },
            verdict: Verdict::NotMeasured(reason.into()),
            note: String::new(),
        }
    }
}

/// Format a number with sensible precision for the table.
pub fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// The table as text (GitHub-flavoured Markdown, so it can be pasted into BENCHMARKS.md).
pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| case | median | p10–p90 | n | unit | target | verdict | note |\n|---|---:|---|---:|---|---|---|---|\n",
    );
    for r in rows {
        let median = r.value.map(fmt_num).unwrap_or_else(|| "—".into());
        let (spread, n) = match &r.summary {
            Some(s) => (
                format!("{}–{}", fmt_num(s.p10), fmt_num(s.p90)),
                s.n.to_string(),
            ),
            None => (
                "—".into(),
                if r.value.is_some() {
                    "1".into()
                } else {
                    "0".into()
                },
            ),
        };
        let (verdict, note) = match &r.verdict {
            Verdict::Met => ("met".to_string(), r.note.clone()),
            Verdict::Missed => ("**MISSED**".to_string(), r.note.clone()),
            Verdict::Info => ("info".to_string(), r.note.clone()),
            Verdict::NotMeasured(why) => ("not measured".to_string(), why.clone()),
        };
        out.push_str(&format!(
            "| {} | {median} | {spread} | {n} | {} | {} | {verdict} | {} |\n",
            r.case,
            r.unit,
            r.target,
            note.replace('|', "/").replace('\n', " ")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_follow_targets() {
        let r = Row::samples("a", "ms", &[1.0, 2.0, 3.0], Target::AtMost(2.0), "");
        assert_eq!(r.verdict, Verdict::Met);
        let r = Row::value("b", "ms", 5.0, Target::AtMost(2.0), "");
        assert_eq!(r.verdict, Verdict::Missed);
        let r = Row::not_measured("c", "ms", "login failed", Target::AtMost(1.0));
        let t = table(&[r]);
        assert!(
            t.contains("not measured") && t.contains("login failed"),
            "{t}"
        );
    }
}
